"""The command line: one-line errors with exit code 2 (also under python -O), dry run, data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convscope.cli import main
from convscope.runs import RunDir


def run_cli(*args: str, optimize: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *(["-O"] if optimize else []), "-m", "convscope", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ})


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["train", "--optimizer", "lbfgs"], "config key 'optimizer': expected one of"),
        (["train", "--lr", "x"], "config key 'lr': expected a number"),
        (["train", "--data", "/nonexistent/data"], "/nonexistent/data"),
        (["train", "--model", "no_such_module:factory"], "cannot import module 'no_such_module'"),
        (["train", "--config", "/nonexistent.toml"], "/nonexistent.toml: config file not found"),
        (["analyze", "/nonexistent-run"], "not a run directory"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], expect: str) -> None:
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert expect in lines[0]
    assert "Traceback" not in r.stderr


def test_debug_shows_traceback() -> None:
    r = run_cli("train", "--lr", "x", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_config_file_and_override(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('data = "digits"\niterations = 4\neval_every = 2\nlr = 0.5\n')
    out = tmp_path / "run"
    rc = main(["train", "--config", str(cfg), "--lr", "1e-3", "--out", str(out), "-q"])
    assert rc == 0
    c = RunDir(out).config()
    assert c.optim.lr == 1e-3 and c.train.iterations == 4
    assert "digits" in capsys.readouterr().out
    assert [r["step"] for r in RunDir(out).metrics()] == [2, 4]


def test_dry_run_runs_a_few_steps() -> None:
    r = run_cli("train", "--dry-run", optimize=False)
    assert r.returncode == 0, r.stderr
    assert "status: completed at step 5/5" in r.stdout
    assert "scikit-learn" in r.stdout  # says it is the built-in data set


def test_data_command_describes_source(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "digits"]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "pixel mean" in out


def test_dry_run_removes_its_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import tempfile

    (tmp_path / "theirs").mkdir()  # something convscope did not write stays
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["train", "--dry-run", "-q"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "theirs" in names
    assert not [n for n in names if n.startswith("convscope-dry-run-")], names
    assert "temporary, removed" in capsys.readouterr().out


def test_analyze_says_the_observation_and_figures_or_why_not(tmp_path: Path) -> None:
    import json

    from convscope.cli import _analysis_line

    ok = tmp_path / "zf_topk.json"
    ok.write_text(
        json.dumps(
            {"observation": "23 of 64 maps fire.", "figures": ["RUN/figures/zf_topk_relu2.png"]}
        )
    )
    assert _analysis_line("topk", ok) == (
        "topk: 23 of 64 maps fire.\n  figure: RUN/figures/zf_topk_relu2.png"
    )
    na = tmp_path / "filters.json"
    na.write_text(json.dumps({"applicable": False, "observation": "No filters: no nn.Conv2d."}))
    line = _analysis_line("filters", na)
    assert line.startswith("filters: not applicable: ") and "written" not in line


def test_layers_import_only_downstream() -> None:
    """The loop imports nothing from analysis/; executors and the Ray executor do not import
    each other (core counting is a leaf module); no argparse internals or guards on our own
    modules in the CLI."""
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "convscope"

    def imports(rel: str) -> set[str]:
        tree = ast.parse((src / rel).read_text())
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        return out

    for rel in ("train/loop.py", "train/steps.py"):  # the loop knows nothing of analyses
        assert not [m for m in imports(rel) if m.startswith("convscope.analysis")]
    assert "convscope.experiments.executors" not in imports("experiments/ray_executor.py")
    for plot in sorted((src / "plots").glob("*.py")):  # shared figure helpers: arrays in
        rel = plot.relative_to(src).as_posix()
        assert not [m for m in imports(rel) if m.startswith("convscope.analysis")], rel
    for rel in ("cli.py", "experiments/cli.py"):
        text = (src / rel).read_text()
        assert "_actions" not in text and "except ImportError" not in text, rel
