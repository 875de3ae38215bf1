"""tools/compare_outputs.py sees a changed number, verdict, figure or heading, and nothing
else: the check behind "nothing changes for users" (issue 24)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "compare_outputs", ROOT / "tools/compare_outputs.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _out(root: Path) -> Path:
    a = root / "runs" / "r-s0-abc" / "analysis"
    a.mkdir(parents=True)
    study = {"study": "x", "numbers": {"n": 1.5}, "verdicts": {"v": {"verdict": "supported"}}}
    (a / "x.json").write_text(json.dumps({**study, "timing": {"wall_s": 1.0}}))
    f = root / "runs" / "r-s0-abc" / "figures"
    f.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(f / "x.png")
    (root / "report.md").write_text(
        f"# Report\n- **Output:** `{root}`\n## 1 A\n![x](runs/r-s0-abc/figures/x.png)\n"
        "| run | wall time (s) | images/s |\n| --- | --- | --- |\n| r | 12.5 | 300 |\n"
        "took 3.2 s on 2026-12-04 03:00\n"
    )
    return root


def test_two_runs_of_the_same_code_compare_equal(tmp_path):
    tool = _tool()
    a = _out(tmp_path / "a")
    b = _out(tmp_path / "b")
    md = (b / "report.md").read_text().replace("12.5 | 300", "19.0 | 210").replace("3.2 s", "4 s")
    (b / "report.md").write_text(md)
    data = json.loads((b / "runs/r-s0-abc/analysis/x.json").read_text())
    data["timing"] = {"wall_s": 9.0}
    (b / "runs/r-s0-abc/analysis/x.json").write_text(json.dumps(data))
    counts, diffs = tool.compare_outputs(a, b)
    assert diffs == [] and counts["runs"] == 1 and counts["figures"] == 1


def test_a_changed_number_verdict_figure_or_heading_is_seen(tmp_path):
    tool = _tool()
    a = _out(tmp_path / "a")
    for change, expect in [
        (lambda b: _edit_json(b, ["numbers", "n"], 1.5000001), "numbers.n"),
        (lambda b: _edit_json(b, ["verdicts", "v", "verdict"], "not supported"), "verdict"),
        (lambda b: Image.fromarray(np.ones((4, 4, 3), np.uint8)).save(
            b / "runs/r-s0-abc/figures/x.png"), "pixels differ"),
        (lambda b: (b / "report.md").write_text(
            (b / "report.md").read_text().replace("## 1 A", "## 1 B")), "sections differ"),
    ]:  # fmt: skip
        b = _out(tmp_path / "b")
        change(b)
        _, diffs = tool.compare_outputs(a, b)
        assert any(expect in d for d in diffs), (expect, diffs)
        shutil.rmtree(b)


def _edit_json(b: Path, keys: list[str], value: object) -> None:
    p = b / "runs/r-s0-abc/analysis/x.json"
    d = json.loads(p.read_text())
    cur = d
    for k in keys[:-1]:
        cur = cur[k]
    cur[keys[-1]] = value
    p.write_text(json.dumps(d))
