"""Turning a saved study result into report blocks: generic numbers, matrices, the default view."""

from __future__ import annotations

from pathlib import Path

from convscope import io
from convscope.report.document import Bullets, Details, Figure, Fold, Table
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
    assert t.caption == "t: mean ± std"  # named in words, not as a JSON key


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
    # observations, verdicts, figure, readable table, every number folded, options folded
    assert [type(b) for b in blocks] == [Bullets, Bullets, Figure, Table, Details, Details]
    assert "**supported**" in blocks[1].items[0]  # type: ignore[union-attr]
    assert blocks[2].src == "runs/r/figures/x.png"  # type: ignore[union-attr]
    assert blocks[3].rows == [["v", "2"]]  # type: ignore[union-attr]
    assert blocks[4].items == ["`v`: 2"]  # type: ignore[union-attr]
    assert "option k = 3" in blocks[5].items  # type: ignore[union-attr]
    bad = out / "bad.json"
    io.write_json(bad, {"observation": "an old file without a schema"})
    try:
        load_saved(bad)
    except ValueError as e:
        assert "schema" in str(e)
    else:
        raise AssertionError("a JSON without our schema was accepted")
    assert load_saved(out / "absent.json") is None


def test_readable_tables_name_columns_with_units_and_round(tmp_path: Path) -> None:
    """Per-layer records become one row per layer; no JSON key path is shown, and the
    ``class_names`` bookkeeping row is gone (its full numbers are folded, under their keys)."""
    run = tmp_path / "runs" / "r"
    p = run / "analysis" / "topk.json"
    io.write_json(
        p,
        {
            "schema": "convscope.study/1",
            "study": "topk",
            "numbers": {
                "per_layer": [
                    {"layer": "relu1", "maps": 32, "receptive_field_px": [5, 5],
                     "mean_top1_activation": 2.2908694, "mean_class_purity": 0.3229},
                    {"layer": "relu2", "maps": 64, "receptive_field_px": [14, 14],
                     "mean_top1_activation": 0.7714715, "mean_class_purity": 0.4167},
                ],
                "chance_class_purity": 0.2825,
                "k": 9,
                "class_names": "the data set's class names (set them with the config key class_names)",
            },
        },
    )  # fmt: skip
    saved = load_saved(p)
    assert saved is not None
    blocks = RenderView(tmp_path, run, "lbl").default(saved)
    tables = [b for b in blocks if isinstance(b, Table)]
    folds = [b for b in blocks if isinstance(b, Fold)]  # tables after the first: one click away
    assert [f.summary for f in folds] == ["Table: other numbers"]
    per_layer, other = tables + [t for f in folds for t in f.blocks if isinstance(t, Table)]
    assert per_layer.header == [
        "layer", "maps", "receptive field (px)", "mean top-1 activation", "mean class purity",
    ]  # fmt: skip
    assert per_layer.rows[0] == ["relu1", "32", "5×5", "2.29", "32.3%"]
    assert other.rows == [["chance class purity", "28.2%"], ["k", "9"]]
    shown = " ".join(
        " ".join(t.header) + " ".join(" ".join(r) for r in t.rows) for t in (per_layer, other)
    )
    assert "per_layer[" not in shown and "class_names" not in shown
    folded = [b for b in blocks if isinstance(b, Details)][0]
    assert "`per_layer[relu1].mean_top1_activation`: 2.291" in folded.items
    assert not any("class_names" in i for i in folded.items)


def test_an_analysis_whose_class_is_not_importable_is_titled_from_its_saved_json(
    tmp_path: Path,
) -> None:
    from convscope.report.sections.analysis import _about

    p = tmp_path / "runs" / "r" / "analysis" / "mine.json"
    io.write_json(
        p,
        {
            "schema": "convscope.study/1",
            "study": "mine",
            "title": "My saved title",
            "paper_section": "§9",
            "description": "What it measures, as saved.",
        },
    )
    absent = (None, tmp_path / "absent.json")
    assert _about(None, "mine", [absent, (None, p)]) == (
        "My saved title",
        "§9",
        "What it measures, as saved.",
    )
    assert _about(None, "mine", [absent]) == ("mine", "", "")
