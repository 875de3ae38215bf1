"""The report's blocks for the ``across`` study (:mod:`convscope.studies.across`): its tables,
one figure and its sentences, read back from the saved JSON and never re-derived."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convscope.report.document import Block, Bullets, Details, Figure, Fold, Table

SHOWN = "dead_fraction"  # the figure shown in the text; the others are listed


def _sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter, a full stop at the end."""
    text = text.strip().rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def across_blocks(
    saved: dict[str, Any],
    src: Callable[[str], str],
    observations: list[str] | None = None,
) -> list[Block]:
    """Blocks for a saved across summary (:func:`convscope.studies.across.summary.summarize`
    plus ``figures``/``notes``/``choices``); ``src`` maps a saved figure path to the report's."""
    blocks: list[Block] = []  # the study's description heads the section
    for i, t in enumerate(saved.get("tables") or []):
        table = Table(
            [str(c) for c in t.get("columns", [])],
            [[str(c) for c in row] for row in t.get("rows", [])],
            caption=f"{t.get('title', '')}. {_sentence(str(t.get('note', '')))}",
        )
        # the first table (dead units, the figure shown) stays open; the others are folded
        blocks.append(table if i == 0 else Fold(f"Table: {t.get('title', '')}", [table]))
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
