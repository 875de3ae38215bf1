"""Precision: resolution per machine and model kind, identity, autocast."""

from __future__ import annotations

import pytest
import torch

from convscope import hardware
from convscope.config import from_flat
from convscope.data.base import Normalize
from convscope.hardware import Features
from convscope.train import precision
from convscope.train.precision import resolve_config, run_hash
from convscope.train.steps import accuracy


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """Pretend the CPU has (or lacks) fast bf16."""

    def set_fast(fast: bool) -> None:
        f = Features("cpu", "test CPU", fast, "test")
        monkeypatch.setattr(precision, "features", lambda device: f)
        monkeypatch.setattr(precision, "cell_runs_bf16", lambda model, kind: True)

    return set_fast


def test_auto_uses_bf16_only_for_measured_models_on_bf16_hardware(machine) -> None:
    machine(True)
    assert precision.resolve("auto", "lenet5", "cpu") == "bf16"
    assert precision.resolve("auto", "mypkg.models:factory", "cpu") == "fp32"
    # recurrent: bf16 from a per-cell size (measured; benchmarks/precision_by_model.py)
    for m, first in (("rnn", 256), ("lstm", 64), ("gru", 128)):
        assert precision.resolve("auto", m, "cpu", first // 2) == "fp32", m
        assert precision.resolve("auto", m, "cpu", first) == "bf16", m
        assert f"below {first} hidden units" in precision.explain("auto", m, "cpu", 32)
    machine(False)
    assert precision.resolve("auto", "lenet5", "cpu") == "fp32"
    assert precision.resolve("auto", "gru", "cpu", 256) == "fp32"
    # explicit choices are kept whatever the machine
    assert precision.resolve("bf16", "lstm", "cpu") == "bf16"
    assert precision.resolve("fp32", "lenet5", "cpu") == "fp32"


def test_identity_is_the_resolved_precision(machine) -> None:
    machine(True)
    auto, bf16, fp32 = (from_flat({"precision": p}) for p in ("auto", "bf16", "fp32"))
    assert run_hash(auto) == run_hash(bf16) != run_hash(fp32)
    assert resolve_config(auto).train.precision == "bf16"
    assert (
        "precision" not in resolve_config(fp32).identity_dict()["train"]
    )  # fp32 runs keep their old hash
    machine(False)
    assert run_hash(auto) == run_hash(fp32)
    assert resolve_config(auto).train.precision == "fp32"


def test_recurrent_identity_follows_the_hidden_size(machine) -> None:
    machine(True)
    small = from_flat({"model": "gru", "hidden_size": 64, "precision": "auto"})
    big = from_flat({"model": "gru", "hidden_size": 256, "precision": "auto"})
    assert resolve_config(small).train.precision == "fp32"
    assert "precision" not in resolve_config(small).identity_dict()["train"]
    assert resolve_config(big).train.precision == "bf16"
    explicit = from_flat({"model": "gru", "hidden_size": 256, "precision": "bf16"})
    assert run_hash(big) == run_hash(explicit)


def test_bad_precision_is_a_config_error() -> None:
    from convscope.errors import ConfigError

    with pytest.raises(ConfigError, match="'precision'"):
        from_flat({"precision": "fp16"})


def test_autocast_runs_matmuls_in_bf16_and_fp32_is_untouched() -> None:
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with precision.autocast("cpu", "bf16"):
        assert lin(x).dtype == torch.bfloat16
    with precision.autocast("cpu", "fp32"):
        assert lin(x).dtype == torch.float32
    assert lin.weight.dtype == torch.float32


def test_accuracy_in_inference_mode_matches_plain_forward() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    images = torch.randint(0, 256, (2500, 1, 4, 4), dtype=torch.uint8)
    labels = torch.randint(0, 3, (2500,))
    norm = Normalize()
    with torch.no_grad():
        want = (model(norm(images)).argmax(1) == labels).float().mean().item()
    assert accuracy(model, images, labels, norm) == pytest.approx(want)
    got = accuracy(model, images, labels, norm, prec="bf16")
    assert abs(got - want) < 0.05  # bf16 rounding flips a few near-ties at most
    assert model.training


def test_hardware_module_is_what_precision_reads() -> None:
    assert precision.features is hardware.features


def test_the_run_says_why_its_precision_is_what_it_is(machine, tmp_path, caplog) -> None:
    """`auto` is resolved before the run starts; the log still says it was auto and why (it
    said "bf16 (asked for)" for a run that asked for nothing)."""
    import logging

    from synthetic import small_config, synthetic_dataset

    from convscope.train.loop import train

    machine(True)
    ds = synthetic_dataset(60, 20)
    said = {}
    for p in ("auto", "bf16"):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="convscope.train.loop"):
            s = train(small_config(2, precision=p), tmp_path / p, dataset=ds)
        assert s["precision"] == "bf16"
        said[p] = next(
            r.getMessage() for r in caplog.records if r.getMessage().startswith("precision")
        )
    assert said["auto"].startswith("precision bf16 (auto: test)"), said["auto"]
    assert said["bf16"].startswith("precision bf16 (asked for)"), said["bf16"]


def test_a_cell_the_kernels_cannot_run_in_bf16_trains_in_fp32(monkeypatch) -> None:  # noqa: ANN001
    """Some oneDNN builds have no bf16 LSTM primitive for some CPUs: auto falls back to fp32
    and says why."""
    from convscope.train import precision as p

    monkeypatch.setattr(p, "cell_runs_bf16", lambda model, kind: model != "lstm")
    monkeypatch.setattr(
        p, "features", lambda kind: type("F", (), {"bf16_fast": True, "reason": "x"})()
    )
    assert p.resolve("auto", "lstm", "cpu", 128) == "fp32"
    assert "cannot run an lstm cell in bf16" in p.explain("auto", "lstm", "cpu", 128)
    assert p.resolve("auto", "gru", "cpu", 128) == "bf16"
    assert p.resolve("bf16", "lstm", "cpu", 128) == "bf16"  # asked for: kept


def test_the_bf16_probe_is_a_boolean_for_every_cell() -> None:
    from convscope.train.precision import cell_runs_bf16

    assert all(isinstance(cell_runs_bf16(c, "cpu"), bool) for c in ("rnn", "lstm", "gru"))
    assert cell_runs_bf16("lenet5", "cpu") is True
