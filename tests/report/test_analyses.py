"""Turning analysis JSON into report blocks: generic numbers, matrices, sentences, choices."""

from __future__ import annotations

from pathlib import Path

from convscope import io
from convscope.report.analyses import (
    choices_in,
    flatten_numbers,
    json_blocks,
    matrix_tables,
    observations_in,
)
from convscope.report.document import Bullets, Details, Para, Table


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


def test_sentences_without_repeats_and_choices() -> None:
    d = {"observation": "A.", "observations": ["A.", "B."], "sub": {"sentence": "C."}}
    assert observations_in(d) == ["A.", "B.", "C."]
    assert choices_in({"choices": {"k": 1}, "x": {"fit_choices": ["p"]}}) == ["k: 1", "p"]


def test_json_blocks_order_and_unreadable_file(tmp_path: Path) -> None:
    out = tmp_path
    p = out / "runs" / "r" / "analysis" / "zf_x.json"
    io.write_json(p, {"observation": "S.", "v": 2, "choices": {"c": "d"}})
    blocks = json_blocks(p, out)
    # sentence, readable table, every number folded (under its key), choices folded
    assert [type(b) for b in blocks] == [Bullets, Table, Details, Details]
    assert blocks[1].rows == [["v", "2"]]  # type: ignore[union-attr]
    assert "runs/r/analysis/zf_x.json" in blocks[2].summary  # type: ignore[union-attr]
    assert blocks[2].items == ["`v`: 2"]  # type: ignore[union-attr]
    bad = out / "bad.json"
    bad.write_text("{not json")
    (b,) = json_blocks(bad, out)
    assert isinstance(b, Para) and b.kind == "warn"


def test_readable_tables_name_columns_with_units_and_round(tmp_path: Path) -> None:
    """Per-layer records become one row per layer; no JSON key path is shown, and the
    ``class_names`` bookkeeping row is gone."""
    out = tmp_path
    p = out / "runs" / "r" / "analysis" / "zf_topk.json"
    io.write_json(
        p,
        {
            "observation": "S.",
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
    )  # fmt: skip
    blocks = json_blocks(p, out)
    tables = [b for b in blocks if isinstance(b, Table)]
    per_layer, other = tables
    assert per_layer.header == [
        "layer", "maps", "receptive field (px)", "mean top-1 activation", "mean class purity",
    ]  # fmt: skip
    assert per_layer.rows[0] == ["relu1", "32", "5×5", "2.29", "32%"]
    assert other.rows == [["chance class purity", "28%"], ["k", "9"]]
    shown = " ".join(" ".join(" ".join(r) for r in t.rows) + " ".join(t.header) for t in tables)
    assert "per_layer[" not in shown and "class_names" not in shown
    folded = [b for b in blocks if isinstance(b, Details)][0]
    assert "`per_layer[relu1].mean_top1_activation`: 2.291" in folded.items
    assert not any("class_names" in i for i in folded.items)
