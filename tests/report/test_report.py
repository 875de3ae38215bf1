"""``write_report``: report.html and report.md from a results directory, read-only."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import CNN, build_handmade, rows_from, saturating, write_experiment, write_run
from convscope import io
from convscope.errors import ConvscopeError
from convscope.report import write_report

SECTION_IDS = [
    "sec-summary",
    "sec-1",
    "sec-1-1",
    "sec-1-2",
    "sec-1-3",
    "sec-1-4",
    "sec-2",
    *[f"sec-2-{i}" for i in range(1, 7)],
    "sec-3",
    "sec-3-1",
    "sec-3-2",
    "sec-runs",
    "sec-method",
]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.imgs: list[str] = []
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        for k in ("src", "href"):
            if a.get(k):
                self.urls.append(a[k] or "")


def parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text())
    return p


def md_images(path: Path) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text())


def section_text(md: str, number: str) -> str:
    """The Markdown of section ``number`` up to the next heading of the same or higher level."""
    m = re.search(rf"^(#+) {re.escape(number)} .*$", md, re.M)
    assert m, f"no section {number}"
    level = len(m.group(1))
    rest = md[m.end() :]
    nxt = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: nxt.start()] if nxt else rest


def digest(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.rglob("*"))
        if p.is_file()
    }


class Written:
    """A hand-made OUT and the report written from it (once per module)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.runs_before = digest(out / "runs")
        self.html_path, self.md_path = write_report(out)
        self.runs_after = digest(out / "runs")
        self.md = self.md_path.read_text()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The four reference groups; analyses requested but not run."""
    return Written(build_handmade(tmp_path_factory.mktemp("plain") / "OUT"))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Written:
    """The four reference groups with filters/convergence/occlusion outputs."""
    return Written(build_handmade(tmp_path_factory.mktemp("analysed") / "OUT", analysis=True))


def small_out(out: Path, data_name: str = "CIFAR10") -> Path:
    r = write_run(
        out,
        "a",
        label="x",
        flat=CNN,
        rows=rows_from(saturating(0.5, 0.1, 200.0)),
        data_name=data_name,
    )
    return write_experiment(out, {"cnn": [r]})


def test_both_files_have_every_section_and_only_local_images(analysed: Written) -> None:
    out = analysed.out
    html_path, md_path = analysed.html_path, analysed.md_path
    assert (html_path, md_path) == (out / "report.html", out / "report.md")
    page = parse(html_path)
    for sid in SECTION_IDS:
        assert sid in page.ids, sid
        assert f'<a id="{sid}"></a>' in md_path.read_text(), sid
    # self-contained: no scripts, no external URLs, every image a file under OUT
    assert "script" not in page.tags
    assert not [u for u in page.urls if re.match(r"^[a-z]+://", u)]
    assert len(page.imgs) >= 7
    for src in page.imgs:
        assert not src.startswith("/") and (out / src).is_file(), src
    # Markdown mirrors the figures
    assert sorted(md_images(md_path)) == sorted(page.imgs)
    # atomic writes leave no temporary files behind
    assert not [p for p in out.rglob("*.tmp")]


def test_method_section_lists_what_each_analysis_cost(analysed: Written, plain: Written) -> None:
    method = analysed.md.rsplit("How the numbers are computed", 1)[1]
    rows = [ln for ln in method.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in rows]
    assert ["analysis", "run", "wall time (s)", "CPU time (s)"] in cells
    assert ["`filters`", "`lenet5_adam_lr=1e-3`", "1.5", "2.5"] in cells
    assert ["`activations`", "`lenet5_adam_lr=1e-3`", "3.0", "4.0"] in cells
    assert ["**all**", "", "4.5", "6.5"] in cells
    # results without a recorded cost add no table
    assert "CPU time (s)" not in plain.md


def test_report_never_writes_into_run_directories(analysed: Written) -> None:
    assert analysed.runs_after == analysed.runs_before


def test_verdicts_at_a_glance(analysed: Written) -> None:
    md = analysed.md
    rows = re.findall(r"^\| \[(\d\.\d)\]\(#sec-[\d-]+\) \| “(.+?)” \| \*\*(.+?)\*\* \|$", md, re.M)
    verdicts = {quote: v for _, quote, v in rows}
    assert len(rows) == 11
    expected_not_testable = "I did not notice any significant differences between the RNN and CNN"
    for quote, v in verdicts.items():
        assert v == ("not testable" if quote == expected_not_testable else "supported"), quote
    assert "10 supported, 0 not supported, 1 not testable" in md


def test_numbers_are_those_of_the_run_directories(plain: Written) -> None:
    handmade_out, md = plain.out, plain.md
    # brute force from the saved rows: best test accuracy and first step >= 40% of adam 1e-3
    rows = io.read_jsonl(handmade_out / "runs" / "opt-0" / "metrics.jsonl")
    best = max(r["test_accuracy"] for r in rows)
    first = min(r["step"] for r in rows if r["test_accuracy"] >= 0.40)
    line = next(ln for ln in md.splitlines() if ln.startswith("| `adam_lr=1e-3` | adam"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5] == f"{100 * best:.1f}%"
    assert cells[7] == str(first)
    # two seeds: mean ± sample std of the final accuracies
    finals = [
        io.read_json(handmade_out / "runs" / f"cnn-s{s}" / "summary.json")["final_test_accuracy"]
        for s in (0, 1)
    ]
    import numpy as np

    expect = f"{100 * np.mean(finals):.1f} ± {100 * np.std(finals, ddof=1):.1f}%"
    assert f"| `lenet5_adam_lr=1e-3` | 2 | {expect} | {expect} |" in md


def test_diverged_run_is_shown_as_such(plain: Written) -> None:
    md = plain.md
    sec = section_text(md, "1.2")
    assert "Diverged: `rms_lr=1e-4_momentum=1` (1/1 seeds, at iteration 300)." in sec
    assert "| diverged at 300 |" in sec
    runs = md[md.index("## All runs") :]
    # the status cell stays short; the reason is listed under the table, numbered
    # (Markdown escapes the brackets: a user's text never becomes a link)
    assert "| diverged at 300 \\[1\\] |" in runs
    assert "\\[1\\] `rms_lr=1e-4_momentum=1` (diverged): train_loss is inf at step 300" in runs


def test_missing_analyses_say_how_to_fill_them(plain: Written) -> None:
    handmade_out, md = plain.out, plain.md
    s13 = section_text(md, "1.3")
    assert "`filters` has not written its result for run `lenet5_adam_lr=1e-3` yet" in s13
    assert f"`convscope analyze {handmade_out}/runs/cnn-s0 --what filters`" in s13
    assert "not testable" in s13 and "has not saved a `gabor_like` verdict" in s13
    s21 = section_text(md, "2.1")
    assert "Single activations projected back to pixel space" in s21
    assert f"`convscope analyze {handmade_out}/runs/cnn-s0 --what deconv`" in s21


def test_analysis_outputs_are_shown_with_their_sentences(analysed: Written) -> None:
    md = analysed.md
    s13 = section_text(md, "1.3")
    assert "TEST-SENTENCE filters are more Gabor-like" in s13
    assert "](runs/cnn-s0/figures/filters.png)" in s13
    assert "✅ **supported**: 5 of 6 trained filters" in s13
    assert "| trained (step 1000) | 6 | 5 (83.3%) | 2 (33.3%) | 0.65 |" in s13
    assert "| initialisation | 6 | 0 (0.0%) | 0 (0.0%) | 0.28 |" in s13
    s14 = section_text(md, "1.4")
    # the claim is the verdict the analysis saved, with the convergence table's numbers
    assert "✅ **supported**: Iteration after which each layer's statistics" in s14
    assert "relu2: 300, relu3: 700" in s14
    assert "| relu3 | linear | 700 | 70.0% | 700 | 700 | 700 |" in s14
    assert "| relu2 | m1 | ReLU | 1 / 10 | 10.0% |" in s14
    assert "| fc2 | m3 → fc2 | T3 | 0.5 | 1.25 | 40.0% |" in s14
    for sentence in ("final statistics", "conv layers settle first", "dead units"):
        assert f"TEST-SENTENCE {sentence}" in s14
    s24 = section_text(md, "2.4")
    assert "TEST-SENTENCE occluding the object hurts more." in s24
    assert "| drop object | 0.41 |" in s24  # named in words; the key is in <details>
    assert "- `drop_object`: 0.41" in s24
    assert "figures`" not in s24  # bookkeeping keys are not shown as numbers
    assert "](runs/cnn-s0/figures/zf_occlusion.png)" in s24
    s26 = section_text(md, "2.6")
    assert s26.count("TEST-SENTENCE masking the same region") == 1
    assert "| centre | 0.040 ± 0.010 | 0.100 ± 0.020 |" in s26


def test_builtin_digits_are_announced_at_the_top(out_factory) -> None:
    html_path, md_path = write_report(small_out(out_factory(), data_name="digits"))
    md = md_path.read_text()
    banner = "The built-in scikit-learn digits replaced the reference data"
    assert md.index(banner) < md.index("## ")
    html = html_path.read_text()
    assert html.index(banner) < html.index("<section")


def test_missing_and_unfinished_runs_are_reported(out_factory) -> None:
    out = out_factory()
    flat = {**CNN, "seed": 0}
    done = write_run(out, "a", label="x", flat=flat, rows=rows_from(saturating(0.5, 0.1, 200.0)))
    running = write_run(
        out,
        "b",
        label="x",
        flat={**flat, "seed": 1},
        rows=rows_from(saturating(0.5, 0.1, 200.0))[:3],
        status="running",
        total_steps=1000,
    )
    never = write_run(out, "c", label="x", flat={**flat, "seed": 2}, rows=None)
    write_experiment(out, {"cnn": [done, running, never]})
    html_path, md_path = write_report(out)
    md = md_path.read_text()
    assert "2 of 3 runs are not finished (1 running, 1 missing)" in md
    assert "| `x` | cnn | 2 | missing |" in md
    assert "| `x` | cnn | 1 | running | 300/1000 |" in md
    # only the sections of this output's groups: nothing about groups it does not have
    page = parse(html_path)
    assert [i for i in page.ids if i.startswith("sec-")] == [
        "sec-1",
        "sec-1-1",
        "sec-runs",
        "sec-method",
    ]
    assert "claims at a glance" not in md and "not testable" not in md


def test_a_users_group_is_a_section_of_its_own(out_factory) -> None:
    out = out_factory()
    r = write_run(out, "z", label="mine", flat=CNN, rows=rows_from(saturating(0.6, 0.1, 200.0)))
    write_experiment(out, {"my_sweep": [r]})
    html_path, md_path = write_report(out)
    md = md_path.read_text()
    assert "## my_sweep" in md and "Other groups" not in md
    assert "figures/report_my_sweep.png" in md
    assert (out / "figures" / "report_my_sweep.png").is_file()


def test_no_or_bad_experiment_json_is_one_clear_error(out_factory) -> None:
    out = out_factory()
    with pytest.raises(ConvscopeError, match=r"experiment\.json: not found"):
        write_report(out)
    io.write_json(out / "experiment.json", {"name": "x"})
    with pytest.raises(ConvscopeError, match="missing key 'groups'"):
        write_report(out)
    io.write_json(out / "experiment.json", {"groups": [{"name": "cnn", "runs": [{"dir": "/etc"}]}]})
    with pytest.raises(ConvscopeError, match="relative path inside OUT"):
        write_report(out)


def test_banner_absent_on_reference_data(plain: Written) -> None:
    assert "built-in scikit-learn digits" not in plain.md
    assert "not finished" not in plain.md


def test_rewriting_gives_the_same_report(out_factory) -> None:
    out = small_out(out_factory())
    _, md1 = write_report(out)
    first = md1.read_text()
    _, md2 = write_report(out)
    assert md2.read_text() == first


def test_runner_status_fills_in_for_runs_without_summary(out_factory) -> None:
    out = out_factory()
    ok = write_run(out, "a", label="x", flat=CNN, rows=rows_from(saturating(0.5, 0.1, 200.0)))
    failed = write_run(out, "b", label="y", flat={**CNN, "lr": 0.5}, rows=None)
    write_experiment(out, {"cnn": [ok, failed]}, [{"run": "runs/a", "what": ["filters"]}])
    doc = io.read_json(out / "experiment.json")
    doc["status"] = {
        "runs": {
            "runs/a": {"status": "completed", "analysis": "failed"},
            "runs/b": {"status": "failed", "error": "DataError: no such folder"},
        }
    }
    io.write_json(out / "experiment.json", doc)
    _, md_path = write_report(out)
    md = md_path.read_text()
    assert "| `y` | cnn | 0 | failed \\[1\\] |" in md
    assert "\\[1\\] `y` (failed): DataError: no such folder" in md
    assert "The analyses of run `x` failed during `convscope run`" in section_text(md, "1.3")


def test_runs_with_a_unit_explorer_are_linked(tmp_path: Path) -> None:
    """A run whose ``explore/index.html`` exists gets a link in both report files; others none."""
    out = build_handmade(tmp_path / "OUT")
    run = next(p for p in sorted((out / "runs").iterdir()) if p.name.startswith("cnn-s0"))
    (run / "explore").mkdir()
    (run / "explore" / "index.html").write_text("<html></html>")
    html_path, md_path = write_report(out)
    href = f"runs/{run.name}/explore/index.html"
    page, md = html_path.read_text(), md_path.read_text()
    assert page.count("/explore/index.html") == 1 and f'href="{href}"' in page
    assert md.count("/explore/index.html") == 1 and f"(<{href}>)" in md
    assert (out / href).is_file()


def test_a_figure_is_shown_no_larger_than_its_smallest_text_needs() -> None:
    from convscope.report.document import Figure
    from convscope.report.html import FIGURE_TEXT_PX, render_block, shown_width

    big_text = Figure("a.png", "a", width_px=900, min_font_px=15.0)
    assert shown_width(big_text) == round(900 * FIGURE_TEXT_PX / 15.0)  # 660 px: text 11 px
    assert shown_width(Figure("b.png", "b", width_px=900, min_font_px=9.5)) == 900
    assert shown_width(Figure("c.png", "c", width_px=900)) == 900  # no font recorded: as is
    assert 'width="660"' in render_block(big_text)
