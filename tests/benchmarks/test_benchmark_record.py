"""benchmarks/_record.py appends one JSON line per benchmark run with this machine's description;
benchmarks/performance_table.py renders those lines as Markdown tables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from convscope import hardware

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _record  # noqa: E402
import performance_table  # noqa: E402


def test_record_appends_one_line_per_call_with_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"
    argv = ["--rounds", "1", "--record", str(path), "--steps=3"]
    first = _record.record(path, "train_throughput", {"speedup": 2.5, "img/s": [1, 2]}, argv)
    _record.record(path, "sweep_throughput", {"ratio": 1.2}, [f"--record={path}"])
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0] == first and [x["benchmark"] for x in lines] == [
        "train_throughput",
        "sweep_throughput",
    ]
    assert lines[0]["argv"] == ["--rounds", "1", "--steps=3"] and lines[1]["argv"] == []
    assert lines[0]["results"] == {"speedup": 2.5, "img/s": [1, 2]}
    m = lines[0]["machine"]
    assert m["cpu"] == hardware.features("cpu").name
    assert set(m["flags"]) == set(_record.FLAGS) & hardware.cpu_flags()
    assert m["cores"] == os.cpu_count() and m["torch"] == torch.__version__
    assert len(m["load_average"]) == 3
    assert lines[0]["date"].endswith("+00:00")


def test_no_path_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _record.record(None, "x", {"a": 1}) is None
    assert list(tmp_path.iterdir()) == []


def test_record_option_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    monkeypatch.setenv(_record.ENV, "/tmp/somewhere.jsonl")
    p = argparse.ArgumentParser()
    _record.add_argument(p)
    assert p.parse_args([]).record == Path("/tmp/somewhere.jsonl")
    assert p.parse_args(["--record", "x.jsonl"]).record == Path("x.jsonl")
    monkeypatch.delenv(_record.ENV)
    p = argparse.ArgumentParser()
    _record.add_argument(p)
    assert p.parse_args([]).record is None


@pytest.mark.parametrize(
    "name",
    [
        "train_throughput",
        "analysis_scale",
        "import_scale",
        "sweep_throughput",
        "analyze_vs_baseline",
        "eval_batch",
        "explore_budget",
        "precision_by_model",
    ],
)
def test_headline_benchmarks_record(name: str) -> None:
    text = (BENCH / f"{name}.py").read_text()
    assert "_record.add_argument(" in text and f'"{name}"' in text and "_record.record(" in text


def rec(bench: str, results: dict, cpu: str = "CPU A", date: str = "2026-12-02") -> dict:
    machine = {"cpu": cpu, "flags": ["avx512_bf16"], "cores": 2, "torch": "2.13.0"}
    machine["load_average"] = [0.5, 0.4, 0.3]
    return {"benchmark": bench, "argv": ["--rounds", "3"], "date": date, "machine": machine,
            "results": results}  # fmt: skip


def test_table_has_a_row_per_record_and_a_column_per_result_key() -> None:
    records = [
        rec("train_throughput", {"plain img/s": 1374.0, "speedup": 2.96}),
        rec("train_throughput", {"speedup": 2.46, "note": "a|b"}, cpu="CPU B", date="2026-12-03"),
        rec("sweep_throughput", {"ratio": 1.24}),
    ]
    md = performance_table.render(records)
    assert md.index("### train_throughput") < md.index("### sweep_throughput")
    train = md.split("### sweep_throughput")[0]
    rows = [r for r in train.splitlines() if r.startswith("| 2026")]
    assert len(rows) == 2
    header = train.splitlines()[2]
    assert header.split(" | ")[-3:] == ["plain img/s", "speedup", "note |"]
    assert "CPU A; avx512_bf16; 2 cores; torch 2.13.0" in rows[0]
    assert "`python benchmarks/train_throughput.py --rounds 3`" in rows[0]
    assert rows[0].endswith("| 1374 | 2.96 |  |") and rows[1].endswith("|  | 2.46 | a\\|b |")
    # every row has as many cells as the header
    cells = [len(r.replace("\\|", "").split("|")) for r in train.splitlines() if r.startswith("|")]
    assert len(set(cells)) == 1
    assert "### train" not in performance_table.render(records, only="sweep_throughput")


def test_records_written_by_record_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.jsonl"
    _record.record(path, "import_scale", {"total s wall": 12.5}, ["--test", "1000"])
    capsys.readouterr()
    performance_table.main([str(path)])
    out = capsys.readouterr().out
    assert "### import_scale" in out and "| 12.5 |" in out and "--test 1000" in out


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(rec("a", {})) + "\n{not json\n")
    with pytest.raises(SystemExit, match=r"r.jsonl:2: not a JSON line"):
        performance_table.load(path)
    path.write_text('{"benchmark": "a"}\n')
    with pytest.raises(SystemExit, match=r"r.jsonl:1: expected a benchmark record"):
        performance_table.load(path)


@pytest.mark.parametrize("path", sorted(BENCH.glob("[a-z]*.py")), ids=lambda p: p.stem)
def test_every_benchmark_imports(path: Path) -> None:
    """A module the code moved out from under a benchmark fails here, not on the next reader's
    machine (across_cost.py imported a module that issue 24 had moved)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
