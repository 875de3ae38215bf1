"""The report's view of a group-level across analysis (``OUT/groups/<group>/across.json``,
written by :mod:`convscope.experiments.across`): its tables, figure and sentences, read back and
never re-derived."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convscope import io
from convscope.report.document import Block, Bullets, Details, Figure, Para, Section, Table
from convscope.report.results import Experiment

RESULT = "groups/{group}/across.json"
SHOWN = "dead_fraction"  # the figure shown in the text; the others are listed
DEFAULT_TITLE = "Inside the network, per configuration"


def across_blocks(
    saved: dict[str, Any],
    src: Callable[[str], str],
    observations: list[str] | None = None,
) -> list[Block]:
    """Blocks for a saved across summary (:func:`convscope.analysis.across_summary.summarize`
    plus ``figures``/``notes``/``choices``); ``src`` maps a saved figure path to the report's."""
    blocks: list[Block] = [
        Para(
            "From the activation statistics and snapshots every run recorded (no retraining): "
            "dead units, the first layer's Gabor fit against its initialisation, when each layer "
            "settles and how far its weights moved. Mean ± sample std over seeds; each setting is "
            f"compared with `{saved.get('reference', '?')}` by Welch's t-test, Holm-corrected "
            "over each column's comparisons.",
            "note",
        )
    ]
    for t in saved.get("tables") or []:
        blocks.append(
            Table(
                [str(c) for c in t.get("columns", [])],
                [[str(c) for c in row] for row in t.get("rows", [])],
                caption=f"{t.get('title', '')}. {t.get('note', '')}.",
            )
        )
    figs = {k: f for k, f in (saved.get("figures") or {}).items() if isinstance(f, dict)}
    shown = figs.get(SHOWN)
    if shown and shown.get("path"):
        blocks.append(Figure(src(str(shown["path"])), str(shown.get("caption", ""))))
    if observations is None:
        observations = [str(o.get("text", "")) for o in saved.get("observations") or []]
        observations += [str(n) for n in saved.get("notes") or []]
    if observations:
        blocks.append(Bullets(observations, "obs", "Observations"))
    more = [
        f"`{src(str(f['path']))}`: {f.get('caption', name)}"
        for name, f in figs.items()
        if name != SHOWN and f.get("path")
    ]
    if more:
        blocks.append(Details("The other figures (one dot per seed)", more))
    choices = [f"{k}: {v}" for k, v in (saved.get("choices") or {}).items()]
    if choices:
        blocks.append(Details("How these numbers are computed", choices))
    return blocks


def across_section(exp: Experiment, group: str, number: str = "") -> Section | None:
    """A subsection for ``group``'s across analysis; None when the experiment has none."""
    rel = RESULT.format(group=group)
    path = exp.out / rel
    sid = f"sec-{group}-across"
    if not path.is_file():
        return None
    try:
        saved: dict[str, Any] = io.read_json(path)
    except (ValueError, OSError) as e:
        s = Section(sid, number, DEFAULT_TITLE)
        s.blocks.append(Para(f"`{rel}` could not be read ({e}).", "warn"))
        return s
    s = Section(sid, number, str(saved.get("title") or DEFAULT_TITLE))
    s.blocks.extend(across_blocks(saved, lambda p: f"groups/{group}/{p}"))
    return s
