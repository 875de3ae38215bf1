"""Factory arguments (issue 19): ``model_args`` in configs, on the command line and in a grid;
a factory's own defaults are never replaced; labels and folders use the factory's short name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from torch import nn

from convscope.cli import main
from convscope.config import ModelConfig, RunConfig, from_flat, parse_model_args
from convscope.errors import ConfigError
from convscope.experiments.executors import InlineExecutor
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.models import build_model
from convscope.report import write_report
from convscope.train.precision import resolve_config, run_hash

FACTORY = """
from torch import nn

def net(in_channels=1, num_classes=10, width=8, dropout=0.3, hidden_size=32):
    m = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * width, hidden_size), nn.SiLU(),
        nn.Linear(hidden_size, num_classes),
    )
    m.width = width
    return m
"""


@pytest.fixture
def factory(tmp_path: Path) -> str:
    (tmp_path / "mynet_sweep.py").write_text(FACTORY)
    return f"{tmp_path / 'mynet_sweep.py'}:net"


def test_a_factorys_own_defaults_are_not_replaced(factory: str) -> None:
    """Before: dropout 0.0 and hidden_size 128 were passed to every factory that takes them."""
    model = build_model(ModelConfig(model=factory), (1, 8, 8), 10)
    assert model[4].p == 0.3 and model[5].out_features == 32 and model.width == 8
    model = build_model(ModelConfig(model=factory, dropout=0.1, hidden_size=16), (1, 8, 8), 10)
    assert model[4].p == 0.1 and model[5].out_features == 16


def test_model_args_reach_the_factory_and_the_identity(factory: str) -> None:
    a = from_flat({"model": factory, "model_args": "width=4,dropout=0.25"})
    assert a.model.model_args == {"width": 4, "dropout": 0.25}
    model = build_model(a.model, (1, 8, 8), 10)
    assert model.width == 4 and model[4].p == 0.25
    b = from_flat({"model": factory, "model_args": {"width": 16}})
    assert run_hash(a) != run_hash(b)
    assert (
        "model_args" not in resolve_config(RunConfig()).identity_dict()["model"]
    )  # old identities stay
    with pytest.raises(ConfigError, match=r"model_args.depth': factory 'net' has no argument"):
        build_model(from_flat({"model": factory, "model_args": "depth=3"}).model, (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="built-in model 'lenet5' takes none"):
        build_model(from_flat({"model_args": "width=3"}).model, (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="expected name=value pairs"):
        parse_model_args("width")
    with pytest.raises(ConfigError, match="to sweep it, put the list in a group's grid table"):
        parse_model_args({"width": [4, 8]})


def test_builtin_models_keep_their_identity() -> None:
    """Unset hidden_size/num_layers/dropout are the built-in defaults, in the hash as before."""
    d = resolve_config(from_flat({"model": "lstm"})).identity_dict()["model"]
    assert d == {"model": "lstm", "hidden_size": 128, "num_layers": 1, "dropout": 0.0}
    assert run_hash(from_flat({"model": "lstm"})) == run_hash(
        from_flat({"model": "lstm", "hidden_size": 128, "dropout": 0.0})
    )


def test_train_model_args_on_the_command_line(factory: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--model", factory, "--model-args", "width=4", "--data", "digits"]
    argv += ["--resize", "8", "--iterations", "2", "--out", str(out), "-q", "--threads", "1"]
    assert main(argv) == 0
    import json

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["model_args"] == {"width": 4} and cfg["model"]["dropout"] is None


EXPERIMENT = """
name = "teacher-width"
seeds = [0]

[defaults]
data = "digits"
resize = 12
train_per_class = 10
test_per_class = 4
model = "{factory}"
iterations = 6
eval_every = 3
checkpoint_every = 3
threads = 1

[groups.width]
title = "Width sweep"
[groups.width.grid]
model_args.width = [4, 8, 12]

[[analysis]]
group = "width"
what = ["activations"]
"""


@pytest.mark.slow
def test_a_teachers_width_sweep_shows_the_width_in_the_report(factory: str, tmp_path: Path) -> None:
    (tmp_path / "exp.toml").write_text(EXPERIMENT.replace("{factory}", factory))
    exp = load_experiment(tmp_path / "exp.toml", None, None)
    labels = [r.label for g in exp.groups for r in g.runs]
    assert labels == ["model_args.width=4", "model_args.width=8", "model_args.width=12"]
    out = tmp_path / "out"
    result = run_experiment(exp, out, InlineExecutor(threads=1))  # type: ignore[arg-type]
    assert not result.failed
    _, md = write_report(out)
    text = md.read_text()
    for w in (4, 8, 12):
        assert f"model_args.width={w}" in text
    assert str(tmp_path) not in " ".join(p.name for p in (out / "runs").iterdir())
    widths = sorted(
        build_model(r.config.model, (1, 12, 12), 10).width for g in exp.groups for r in g.runs
    )
    assert widths == [4, 8, 12]


def test_a_label_template_reads_a_factory_argument(factory: str, tmp_path: Path) -> None:
    doc = EXPERIMENT.replace("{factory}", factory).replace(
        '[groups.width]\ntitle = "Width sweep"',
        '[groups.width]\ntitle = "W"\nlabel = "{model} w{model_args.width}"',
    )
    (tmp_path / "exp.toml").write_text(doc)
    exp = load_experiment(tmp_path / "exp.toml", None, None)
    assert [r.label for r in exp.groups[0].runs] == ["net w4", "net w8", "net w12"]
    assert all(re.fullmatch(r"[\w .=-]+", r.label) for r in exp.groups[0].runs)
    assert isinstance(build_model(exp.groups[0].runs[0].config.model, (1, 12, 12), 10), nn.Module)
