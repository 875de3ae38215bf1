"""The report's view of a group-level across analysis (``OUT/groups/<group>/across.json``,
written by :mod:`convscope.experiments.across`): its tables, figures and sentences, read back and
never re-derived."""

from __future__ import annotations

from typing import Any

from convscope import io
from convscope.report.document import Bullets, Details, Figure, Para, Section, Table
from convscope.report.results import Experiment

RESULT = "groups/{group}/across.json"
SHOWN = "dead_fraction"  # the figure shown in the text; the others are linked


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
        s = Section(sid, number, "Inside the network, per configuration")
        s.blocks.append(Para(f"`{rel}` could not be read ({e}).", "warn"))
        return s
    s = Section(sid, number, str(saved.get("title") or "Inside the network, per configuration"))
    s.blocks.append(
        Para(
            "From the activation statistics and snapshots every run recorded (no retraining): "
            "dead units, the first layer's Gabor fit against its initialisation, when each layer "
            "settles and how far its weights moved. Mean ± sample std over seeds; each setting is "
            f"compared with `{saved.get('reference', '?')}` by Welch's t-test, Holm-corrected "
            "over each column's comparisons.",
            "note",
        )
    )
    figs = saved.get("figures") or {}
    base = f"groups/{group}/"
    for t in saved.get("tables") or []:
        s.blocks.append(
            Table(
                [str(c) for c in t.get("columns", [])],
                [[str(c) for c in row] for row in t.get("rows", [])],
                caption=f"{t.get('title', '')}. {t.get('note', '')}.",
            )
        )
    shown = figs.get(SHOWN)
    if isinstance(shown, dict) and shown.get("path"):
        s.blocks.append(Figure(base + str(shown["path"]), str(shown.get("caption", ""))))
    more = [
        f"`{base}{f['path']}`: {f.get('caption', name)}"
        for name, f in figs.items()
        if name != SHOWN and isinstance(f, dict) and f.get("path")
    ]
    obs = [str(o.get("text", "")) for o in saved.get("observations") or [] if isinstance(o, dict)]
    obs += [str(n) for n in saved.get("notes") or []]
    if obs:
        s.blocks.append(Bullets(obs, "obs", "Observations"))
    if more:
        s.blocks.append(Details("The other figures (one dot per seed)", more))
    choices = [f"{k}: {v}" for k, v in (saved.get("choices") or {}).items()]
    if choices:
        s.blocks.append(Details("How these numbers are computed", choices))
    return s
