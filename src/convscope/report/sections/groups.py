"""One renderer per kind of group, chosen from the group's shape (not its name):

* ``single``: one configuration — its curves, sentences about that run, its table;
* ``grid``: configurations over a full grid of two varied keys (e.g. cell × hidden size) —
  small multiples (columns: the key with fewer values; colour: the other), a pivot table of
  final accuracy;
* ``compare``: any other set of configurations — curves overlaid, one table with a column per
  varied key, rankings.

A group's ``milestones`` (metric -> level, from the experiment file) add "first iteration"
columns and sentences and draw the test-accuracy level on the curves.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from convscope.plots.curves import Panel, curves_figure
from convscope.report import observations as obs
from convscope.report.document import Block, Bullets, Figure, Para, Table
from convscope.report.observations import ConfigStats
from convscope.report.sections.common import (
    METRIC_ORDER,
    METRIC_TITLES,
    FigureSink,
    GroupNumbers,
    band_note,
    clip_note,
    config_table,
    data_line,
    key_value,
    metric_panels,
    series_of,
    spread_note,
    status_text,
    varied_keys,
)
from convscope.report.stats import fmt_ms, pct


def _size_colors(sizes: Sequence[Any]) -> dict[Any, Any]:
    """Distinct colour-blind-safe colours in order (Okabe & Ito), not a close-shaded ramp."""
    from convscope.plots.curves import PALETTE

    return {h: PALETTE[i % len(PALETTE)] for i, h in enumerate(sizes)}


def grid_keys(gn: GroupNumbers) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """The two varied keys when the configurations are exactly their full grid (each ≥ 2)."""
    keys = varied_keys(gn)
    if len(keys) != 2 or len(gn.present) < 4:
        return None
    vals = [{key_value(c, *k) for c in gn.present} for k in keys]
    pairs = {(key_value(c, *keys[0]), key_value(c, *keys[1])) for c in gn.present}
    if min(len(v) for v in vals) < 2 or len(pairs) != len(vals[0]) * len(vals[1]):
        return None
    if len(pairs) != len(gn.present):
        return None
    a, b = keys
    return (a, b) if len(vals[0]) <= len(vals[1]) else (b, a)


def view_of(gn: GroupNumbers) -> str:
    if len(gn.present) == 1:
        return "single"
    return "grid" if grid_keys(gn) else "compare"


def _sorted_values(cs: Sequence[ConfigStats], key: tuple[str, str]) -> list[Any]:
    raw = list(dict.fromkeys(c.config.get(key[0], {}).get(key[1]) for c in cs))
    try:
        return sorted(raw)
    except TypeError:
        return raw


def group_blocks(gn: GroupNumbers, figs: FigureSink, intro: str) -> list[Block]:
    """The blocks of one group's training results (curves, tables, observations)."""
    view = view_of(gn)
    g = gn.group
    cs = gn.present
    ms = g.milestones
    hline = ms.get("test_accuracy", gn.threshold)
    blocks: list[Block] = []
    if view == "single":
        c = cs[0].config
        head = (
            f"{c.get('model', {}).get('model')} trained with {c.get('optim', {}).get('optimizer')} "
            f"(lr {c.get('optim', {}).get('lr'):g}). "
        )
        blocks.append(Para(((intro + " ") if intro else "") + head + data_line(gn)))
        fig = curves_figure(metric_panels(cs, hline))
        src = figs.save(f"report_{g.name}", fig)
        blocks.append(
            Figure(
                src,
                f"Test accuracy, train accuracy and train loss ({band_note(cs)}).{clip_note(fig)}",
            )
        )
        blocks.append(
            Bullets(
                obs.single_run_sentences(cs[0], gn.threshold, gn.threshold_note),
                "obs",
                "Observations",
            )
        )
        blocks.append(config_table(gn))
        return blocks
    blocks.append(Para(((intro + " ") if intro else "") + data_line(gn, with_threshold=not ms)))
    keys = varied_keys(gn)
    if view == "grid":
        col, colour = grid_keys(gn)  # type: ignore[misc]
        blocks.extend(_grid(gn, figs, col, colour))
    else:
        fig = curves_figure(metric_panels(cs, hline), panel_size=(4.8, 3.6))
        src = figs.save(f"report_{g.name}", fig)
        extra = f"; dotted line: {pct(hline, 0)}" if "test_accuracy" in ms else ""
        blocks.append(
            Figure(
                src,
                f"Every configuration overlaid ({band_note(cs)}; × = diverged{extra})."
                + clip_note(fig),
            )
        )
    blocks.append(
        config_table(gn, extra=[(k, lambda c, s=s, k=k: key_value(c, s, k)) for s, k in keys])
    )
    if ms:
        blocks.append(_milestone_table(cs, ms))
    items = obs.ranking_sentences(cs)
    if {k for _, k in keys} == {"model", "hidden_size"}:
        items.extend(obs.hidden_size_sentences(cs))
    items.append(obs.threshold_sentence(cs, gn.threshold))
    items.append(obs.divergence_sentence(cs))
    if ms:
        items.extend(obs.first_pass_sentences(cs, ms))
    blocks.append(Bullets(items, "obs", "Observations"))
    return blocks


def _grid(
    gn: GroupNumbers, figs: FigureSink, col: tuple[str, str], colour: tuple[str, str]
) -> list[Block]:
    cs = gn.present
    cols = _sorted_values(cs, col)
    shades = _sorted_values(cs, colour)
    colors = _size_colors(shades)
    panels = []
    for m, cv in itertools.product(METRIC_ORDER, cols):
        sub = [c for c in cs if c.config.get(col[0], {}).get(col[1]) == cv]
        sub.sort(key=lambda c: shades.index(c.config.get(colour[0], {}).get(colour[1])))
        title, ylabel = METRIC_TITLES[m]
        panels.append(
            Panel(
                title=f"{str(cv).upper()} — {title}",
                ylabel=ylabel,
                series=[
                    series_of(
                        c,
                        m,
                        f"{colour[1].replace('_', ' ')} {key_value(c, *colour)}",
                        colors[c.config.get(colour[0], {}).get(colour[1])],
                    )
                    for c in sub
                    if c.agg[m].steps.size
                ],
                hline=gn.threshold if m == "test_accuracy" else None,
            )
        )
    fig = curves_figure(panels, ncols=len(cols), panel_size=(4.4, 3.0), sharey="row")
    src = figs.save(f"report_{gn.group.name}", fig)
    out: list[Block] = [
        Figure(
            src,
            f"Rows: metric; columns: {col[1].replace('_', ' ')}; colour: "
            f"{colour[1].replace('_', ' ')} ({band_note(cs)}).{clip_note(fig)}",
        )
    ]
    pivot = []
    for sv in shades:
        row = [str(sv)]
        for cv in cols:
            c = next(
                (
                    c
                    for c in cs
                    if c.config.get(col[0], {}).get(col[1]) == cv
                    and c.config.get(colour[0], {}).get(colour[1]) == sv
                ),
                None,
            )
            row.append(fmt_ms(c.final_ms) if c else "–")
        pivot.append(row)
    out.append(
        Table(
            [colour[1].replace("_", " "), *[str(c).upper() for c in cols]],
            pivot,
            caption=f"final test accuracy; {spread_note(cs)}",
        )
    )
    return out


def _milestone_table(cs: Sequence[ConfigStats], ms: dict[str, float]) -> Table:
    rows = []
    for c in cs:
        firsts = [obs.milestone_step(c, m, lv) for m, lv in ms.items()]
        rows.append(
            [
                f"`{c.label}`",
                c.model,
                fmt_ms(c.best_ms),
                fmt_ms(c.final_ms),
                *[str(f) if f is not None else "never" for f in firsts],
                status_text(c),
            ]
        )
    return Table(
        [
            "configuration",
            "model",
            "best test acc.",
            "final test acc.",
            *[f"first iteration: {obs.milestone_text(m, lv)}" for m, lv in ms.items()],
            "status",
        ],
        rows,
        caption="first iterations from the seed-mean curves"
        if max((len(c.last_steps) for c in cs), default=0) > 1
        else "first iterations of each run's curve (one seed per configuration)",
    )
