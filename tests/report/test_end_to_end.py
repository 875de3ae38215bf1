"""The report from tiny real runs (the training loop on synthetic bars), end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convscope import io
from convscope.report import write_report

pytestmark = pytest.mark.slow


def test_report_from_real_runs(trained_out: Path) -> None:
    from convscope.studies.runner import analyze

    # a real analysis output (activations, convergence, dead units) in the analysed run
    analyze(trained_out / "runs" / "cnn-s0", ["activations"])
    html_path, md_path = write_report(trained_out)
    md = md_path.read_text()
    html = html_path.read_text()
    exp = io.read_json(trained_out / "experiment.json")
    dirs = {r["dir"] for g in exp["groups"] for r in g["runs"]}
    # every run is in the run table with the status and accuracy its summary.json holds
    for d in dirs:
        s = io.read_json(trained_out / d / "summary.json")
        line = next(ln for ln in md.splitlines() if ln.endswith(f"| `{d}` |"))
        assert f"| {s['status']}" in line, line
        assert f"| {100 * s['final_test_accuracy']:.1f}% |" in line, line
    # the diverging RMSProp run (momentum 1, lr 1e-2) is marked as diverged
    div = io.read_json(trained_out / "runs" / "opt-3" / "summary.json")
    assert div["status"] == "diverged"
    assert f"`rms_lr=1e-2_momentum=1` (1/1 seeds, at iteration {div['diverged_step']})" in md
    # every figure exists; the report's own four curve figures were drawn
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert (trained_out / src).is_file(), src
    for name in ("report_cnn", "report_optimizers", "report_rnn", "report_cnn_vs_rnn"):
        assert f"figures/{name}.png" in md
    # claims that these short runs cannot test say so, with the reason
    assert "Runs shorter than 2000 iterations cannot show it." in md or "not supported" in md
    assert "1.3 First convolutional layer weights" in md
    # section 1.4 reads the analysis files by their real names and shapes
    s14 = md[md.index("### 1.4") : md.index("## 3 ")]
    saved = io.read_json(trained_out / "runs" / "cnn-s0" / "analysis" / "activations.json")
    for sentence in saved["observations"]:
        assert sentence in s14
    verdict = saved["verdicts"]["early_layers_converge_first"]
    assert verdict["evidence"] in s14  # the claim is the analysis's verdict, not re-derived
    assert "| layer | kind | settles at (iteration) |" in s14
    assert "| layer | module | after | dead / units | dead share |" in s14
    assert "](runs/cnn-s0/figures/activations.png)" in s14
    # filters were requested in experiment.json but not run: the section says how to fill it
    assert "`filters` has not written its result for run `lenet5` yet" in md
