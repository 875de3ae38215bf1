"""Turning a saved study result into report blocks: generic numbers, matrices, the default view."""

from __future__ import annotations

from pathlib import Path

from convscope import io
from convscope.report.document import Bullets, Details, Figure, Table
from convscope.report.sections.analysis import (
    RenderView,
    flatten_numbers,
    load_saved,
    matrix_tables,
)


def test_flatten_keeps_scalars_and_short_lists_and_skips_bookkeeping() -> None:
    d = {
        "a": 1,
        "b": 0.123456,
        "c": [1, 2, 3],
        "long": list(range(20)),
        "nested": {"x": True, "y": None},
        "per_layer": [{"layer": "conv1", "n": 3}, {"layer": "conv2", "n": 4}],
        "figures": ["f.png"],
        "fit_choices": {"k": "v"},
        "observation": "s",
        "m": {"rows": ["r"], "columns": ["c"], "mean": [[0.5]]},
    }
    rows = dict(flatten_numbers(d, skip=frozenset({"a"})))
    assert rows == {
        "b": "0.1235",
        "c": "1, 2, 3",
        "nested.x": "true",
        "nested.y": "–",
        "per_layer[conv1].layer": "conv1",
        "per_layer[conv1].n": "3",
        "per_layer[conv2].layer": "conv2",
        "per_layer[conv2].n": "4",
    }


def test_matrix_tables_in_paper_form() -> None:
    d = {
        "t": {
            "rows": ["a", "b"],
            "columns": ["l1"],
            "mean": [[0.1], [0.2]],
            "std": [[0.01], [0.02]],
        }
    }
    (t,) = matrix_tables(d)
    assert t.header == ["", "l1"]
    assert t.rows == [["a", "0.100 ± 0.010"], ["b", "0.200 ± 0.020"]]
    assert "`t`" in t.caption


def test_default_view_order_paths_and_unreadable_file(tmp_path: Path) -> None:
    out = tmp_path
    run = out / "runs" / "r"
    p = run / "analysis" / "x.json"
    io.write_json(
        p,
        {
            "schema": "convscope.study/1",
            "study": "x",
            "observations": ["S."],
            "verdicts": {"up": {"verdict": "supported", "evidence": "E."}},
            "figures": [{"path": "figures/x.png", "caption": "cap"}],
            "numbers": {"v": 2},
            "options": {"k": 3},
            "choices": {"c": "d"},
        },
    )
    saved = load_saved(p)
    assert saved is not None
    blocks = RenderView(out, run, "lbl").default(saved)
    assert [type(b) for b in blocks] == [Bullets, Bullets, Figure, Table, Details]
    assert "**supported**" in blocks[1].items[0]  # type: ignore[union-attr]
    assert blocks[2].src == "runs/r/figures/x.png"  # type: ignore[union-attr]
    assert "option k = 3" in blocks[4].items  # type: ignore[union-attr]
    bad = out / "bad.json"
    io.write_json(bad, {"observation": "an old file without a schema"})
    try:
        load_saved(bad)
    except ValueError as e:
        assert "schema" in str(e)
    else:
        raise AssertionError("a JSON without our schema was accepted")
    assert load_saved(out / "absent.json") is None
