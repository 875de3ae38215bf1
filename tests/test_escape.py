"""The one Markdown escaper: each of its two forms writes what its call site wrote before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.escape import escape_md

EVIL = "lenet5_adam | *x* <b>&c</b> [l](u) #3\n- \\ `c`"


def test_report_form_pinned() -> None:
    """report.md (report/markdown.py's escape_md before the move)."""
    assert escape_md(EVIL) == (
        r"lenet5_adam \| \*x\* &lt;b&gt;&amp;c&lt;/b&gt; \[l\](u) #3" + "\n" + r"\- \\ \`c\`"
    )
    assert escape_md(EVIL, one_line=True) == (
        r"lenet5_adam \| \*x\* &lt;b&gt;&amp;c&lt;/b&gt; \[l\](u) #3 - \\ \`c\`"
    )


def test_across_form_pinned() -> None:
    """across.md (studies/across/summary.py's md_escape before the move)."""
    assert escape_md(EVIL, backslash_all=True) == (
        r"lenet5\_adam \| \*x\* \<b\>&c\</b\> \[l\](u) \#3 - \\ \`c\`"
    )


def _backslash_oracle(text: str) -> str:
    """The across form by its definition, one character at a time."""
    return "".join(
        " " if ch == "\n" else "\\" + ch if ch in "\\|*_`[]<>#" else ch for ch in str(text)
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_1 \\|*`[]<>#!&-\n\r")), max_size=30))
def test_across_form_is_its_definition(text: str) -> None:
    assert escape_md(text, backslash_all=True) == _backslash_oracle(text)
    assert "\n" not in escape_md(text, one_line=True).replace("\r", "")
