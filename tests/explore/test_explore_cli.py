"""``convscope explore``: output, progress with ETA, one-line errors and exit codes, rebuilds
that keep what convscope did not write, and models beyond LeNet (residual, once supported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import train_tiny, unit_json
from convscope.cli import main
from convscope.errors import EXIT_BAD_INPUT, EXIT_OK


def test_cli_builds_with_progress_and_rebuild_keeps_foreign_files(
    tiny_site: tuple[Path, Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, _ = tiny_site
    out = tmp_path / "site"
    assert main(["explore", str(run), "--out", str(out), "--layers", "conv2,fc1"]) == EXIT_OK
    cap = capsys.readouterr()
    assert f"explorer: {out / 'index.html'}" in cap.out
    assert "22 units of conv2, fc1" in cap.out
    assert "ETA" in cap.err and "step 44/44 (100%)" in cap.err  # the last line of the bar
    assert sorted(p.name for p in (out / "layers").iterdir()) == ["conv2.html", "fc1.html"]
    # a rebuild with fewer layers removes the pages it no longer makes, and nothing else
    (out / "notes.txt").write_text("mine")
    assert main(["explore", str(run), "--out", str(out), "--layers", "conv2", "-q"]) == EXIT_OK
    assert sorted(p.name for p in (out / "layers").iterdir()) == ["conv2.html"]
    assert not (out / "units" / "fc1" / "0.html").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]  # no temp left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layers", "nope"], "layer 'nope': expected one of"),
        (["--layers", "relu1"], "layer 'relu1': is a relu layer"),
        (["--layers", ","], "--layers: expected comma-separated layer names"),
    ],
)
def test_bad_layers_are_one_line_errors(
    tiny_site: tuple[Path, Path, dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    run, _, _ = tiny_site
    out = tmp_path / "site"
    assert main(["explore", str(run), "--out", str(out), "-q", *args]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("convscope: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_a_folder_convscope_did_not_write_is_refused(
    tiny_site: tuple[Path, Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, _ = tiny_site
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.png").write_bytes(b"not ours")
    assert main(["explore", str(run), "--out", str(out), "-q"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "exists and was not written by convscope explore" in err
    assert [p.name for p in out.iterdir()] == ["cat.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # no temp folder left


def test_not_a_run_and_a_recurrent_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", str(tmp_path), "-q"]) == EXIT_BAD_INPUT
    assert "not a run directory (no config.json)" in capsys.readouterr().err
    rnn = train_tiny(tmp_path / "rnn", model="gru", iterations=2)
    assert main(["explore", str(rnn), "-q"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "need a CNN" in err and "\n" not in err
    assert not (rnn / "explore").exists()


def test_cli_in_a_subprocess_exit_code_and_help(tiny_site, tmp_path: Path) -> None:  # noqa: ANN001
    run, _, _ = tiny_site
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    cmd = [sys.executable, "-m", "convscope", "explore"]
    r = subprocess.run([*cmd, "--help"], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0 and "--layers" in r.stdout and "--out" in r.stdout
    r = subprocess.run(
        [*cmd, str(run), "--out", str(tmp_path / "s"), "--layers", "missing"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert r.returncode == EXIT_BAD_INPUT and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_a_residual_model_by_import_path(tmp_path: Path) -> None:
    run = train_tiny(tmp_path / "res", model="explore_nets:tiny_resnet", iterations=4)
    assert main(["explore", str(run), "-q"]) == EXIT_OK
    pages = sorted(p.name for p in (run / "explore" / "layers").iterdir())
    assert pages == ["block_conv1.html", "block_conv2.html", "stem.html"]
    assert len(list((run / "explore" / "units" / "stem").glob("*.html"))) == 8
    # a 3x3 first layer: the filter alone, and why there is no Gabor fit (9 pixels, 9 params)
    page = run / "explore" / "units" / "stem" / "0.html"
    f = unit_json(page)["filter"]
    assert f["gabor"] is None and "r2" not in f
    assert f["not_applicable"].startswith("Gabor fit not applicable: 3x3 kernels")
    assert "Gabor fit not applicable: 3x3 kernels" in page.read_text()
    assert (run / "explore" / "units" / "stem" / "0-filter.png").is_file()


def test_explore_links_itself_from_the_report_only_where_it_may(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of an experiment output: no report yet, or a report.html convscope did not write,
    is left alone with the command that links the site; a site elsewhere says where it must be.
    (The rewrite of convscope's own report is in tests/report/test_browser.py.)"""
    from convscope import io

    out = tmp_path / "OUT"
    run = train_tiny(out / "runs" / "r", iterations=8)
    io.write_json(out / "experiment.json", {"groups": [{"name": "g", "runs": [{"dir": "runs/r"}]}]})
    assert main(["explore", str(run), "--layers", "conv2", "-q"]) == EXIT_OK
    said = capsys.readouterr().out
    assert f"report: `convscope report {out}` writes {out / 'report.html'}" in said
    assert not (out / "report.html").exists()
    (out / "report.html").write_text("<html><title>my notes</title></html>")
    assert main(["explore", str(run), "--layers", "conv2", "-q"]) == EXIT_OK
    assert f"report: `convscope report {out}`" in capsys.readouterr().out
    assert (out / "report.html").read_text() == "<html><title>my notes</title></html>"
    site = tmp_path / "elsewhere"
    assert main(["explore", str(run), "--layers", "conv2", "--out", str(site), "-q"]) == EXIT_OK
    assert "links a run's explorer only in RUN/explore" in capsys.readouterr().out
    # a run outside any experiment output: nothing about a report
    alone = train_tiny(tmp_path / "alone", iterations=8)
    assert main(["explore", str(alone), "--layers", "conv2", "-q"]) == EXIT_OK
    assert "report:" not in capsys.readouterr().out
