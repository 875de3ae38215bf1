"""``convscope run`` options and messages (experiments/cli.py)."""

from __future__ import annotations

import io as _io
from pathlib import Path

import pytest

from convscope.experiments.cli import LineSweep, default_out
from convscope.experiments.run import SweepStatus
from convscope.experiments.spec import load_experiment
from convscope.train.precision import run_hash

ASSIGNMENT2 = Path(__file__).resolve().parents[2] / "experiments" / "assignment2.toml"


def status(**kw: object) -> SweepStatus:
    base = dict(
        total=3, done=3, running=0, left=0, failed=0, fraction=1.0, elapsed_s=0.2, eta_s=None
    )
    return SweepStatus(**{**base, **kw}, running_names=[])  # type: ignore[arg-type]


def line(s: SweepStatus) -> str:
    buf = _io.StringIO()
    LineSweep(stream=buf).start(s)
    return buf.getvalue()


def test_a_no_op_rerun_says_nothing_is_left_instead_of_eta_unknown() -> None:
    assert "nothing left to do" in line(status())
    assert "ETA ?" not in line(status())
    busy = line(status(done=1, left=2, fraction=0.3, eta_s=70.0))
    assert "ETA 1m10s" in busy and "nothing left" not in busy
    assert "ETA" in line(status(analyses_left=2, fraction=0.9, eta_s=5.0))


def test_device_is_set_for_every_run_without_changing_identities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The device is not part of a run's identity. (The resolved precision is, and ``auto``
    resolves per device, docs/precision.md: so the precision is fixed here, as
    ``--precision fp32`` fixes it.)"""

    monkeypatch.delenv("CONVSCOPE_DATA_ROOT", raising=False)
    fp32 = load_experiment(ASSIGNMENT2, "quick", None, {"precision": "fp32"})
    cuda = load_experiment(ASSIGNMENT2, "quick", None, {"precision": "fp32", "device": "cuda"})
    before = [r for g in fp32.groups for r in g.runs]
    runs = [r for g in cuda.groups for r in g.runs]
    assert runs and all(r.config.train.device == "cuda" for r in runs)
    assert all(r.config.train.precision == "fp32" for r in runs)
    assert [r.hash for r in runs] == [r.hash for r in before]  # still the same runs
    assert all(run_hash(r.config) == r.hash for r in runs)


def test_precision_is_set_for_every_run_and_is_part_of_the_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.delenv("CONVSCOPE_DATA_ROOT", raising=False)
    fp32 = load_experiment(ASSIGNMENT2, "quick", None, {"precision": "fp32"})
    bf16 = load_experiment(ASSIGNMENT2, "quick", None, {"precision": "bf16"})
    a = [r for g in fp32.groups for r in g.runs]
    b = [r for g in bf16.groups for r in g.runs]
    assert all(r.config.train.precision == "bf16" for r in b)
    assert all(run_hash(r.config) == r.hash for r in b)  # hashed with the option
    assert all(x.hash != y.hash for x, y in zip(a, b, strict=True))
    # the analyses and group entries name the runs by those hashes
    hashes = {r.hash for r in b}
    assert all(set(e.runs) <= hashes for e in bf16.entries if e.runs)


def test_run_parser_takes_device() -> None:
    import argparse

    from convscope.cli import build_parser

    p = build_parser()  # holds `run` (experiments.cli.add_commands)
    args = p.parse_args(["run", "x.toml", "--device", "cuda"])
    assert args.run_device == "cuda"
    with pytest.raises(SystemExit):
        p.parse_args(["run", "x.toml", "--device", "tpu"])
    assert isinstance(args, argparse.Namespace)


def test_default_output_folder_is_named_after_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVSCOPE_DATA_ROOT", raising=False)
    offline = load_experiment(ASSIGNMENT2, "quick", data_root=None)
    (tmp_path / "CIFAR10").mkdir()
    (tmp_path / "MNIST").mkdir()
    real = load_experiment(ASSIGNMENT2, "quick", data_root=str(tmp_path))
    assert default_out(offline) == Path("out/assignment2-quick-digits")
    assert default_out(real) == Path("out/assignment2-quick-realdata")
