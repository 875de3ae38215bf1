"""Typed config: flat and sectioned keys, coercion, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from convscope.config import RunConfig, from_dict, from_flat, load_config_file
from convscope.errors import ConfigError
from convscope.train.precision import run_hash


def test_flat_and_sectioned_keys_agree() -> None:
    a = from_flat({"optimizer": "rmsprop", "lr": "1e-4", "momentum": 0.5, "batch-size": "64"})
    b = from_dict(
        {
            "optim": {"optimizer": "rmsprop", "lr": 1e-4, "momentum": 0.5},
            "train": {"batch_size": 64},
        }
    )
    assert a == b
    assert a.optim.lr == 1e-4 and a.train.batch_size == 64


def test_defaults_budget_is_one_epoch() -> None:
    assert RunConfig().validate().train.epochs == 1.0


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        (
            {"optimizer": "adagrad"},
            "config key 'optimizer': expected one of 'sgd', 'adam', 'rmsprop'",
        ),
        ({"lr": "fast"}, "config key 'lr': expected a number"),
        ({"lr": 0}, "config key 'lr': expected a positive number"),
        ({"batch_size": 2.5}, "config key 'batch_size': expected an integer"),
        ({"epochs": 2, "iterations": 10}, "either 'epochs' or 'iterations'"),
        ({"nesterov": True}, "'nesterov': only valid with optimizer 'sgd'"),
        ({"dropout": 1.5}, "config key 'dropout'"),
        ({"device": "tpu"}, "config key 'device': expected one of 'auto', 'cpu', 'cuda'"),
        ({"channels_last": "maybe"}, "config key 'channels_last': expected true or false"),
        ({"learning_rate": 1}, "unknown key 'learning_rate'"),
    ],
)
def test_bad_values_name_the_key(flat: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_flat(flat)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_key_in_section_names_it() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'optim.lrate'.*expected one of lr,"):
        from_dict({"optim": {"lrate": 1}})


def test_config_file_toml_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('model = "gru"\n[optim]\nlr = 0.01\n')
    assert from_flat(load_config_file(f)).model.model == "gru"
    f.write_text("lr = [\n")
    with pytest.raises(ConfigError, match="run.toml: not valid TOML"):
        load_config_file(f)
    f.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match=r"run.toml: unknown key 'colour'"):
        load_config_file(f)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config_file(tmp_path / "missing.toml")


def test_hash_is_identity_not_label() -> None:
    a = from_flat({"lr": 1e-3, "name": "a", "device": "cpu"})
    b = from_flat({"lr": 1e-3, "name": "b", "device": "auto"})
    assert run_hash(a) == run_hash(b)
    assert run_hash(a) != run_hash(from_flat({"lr": 1e-4}))


def test_a_runs_config_json_is_a_config_file(tmp_path: Path) -> None:
    """``--config RUN/config.json`` repeats the run: the keys the loop adds are left out."""
    from convscope import io

    cfg = from_flat({"model": "lstm", "hidden_size": 64, "lr": 3e-4, "name": "r"})
    io.write_json(
        tmp_path / "config.json",
        {**cfg.to_dict(), "hash": run_hash(cfg), "version": "0", "memory_format": {}},
    )
    again = from_flat(load_config_file(tmp_path / "config.json"))
    assert again == cfg and run_hash(again) == run_hash(cfg)


def test_identity_needs_a_resolved_precision_and_config_knows_no_machine():
    """A run's identity is computed after the train floor resolves `auto` (issue 24): the
    config module refuses an unresolved precision instead of asking the machine itself."""
    import ast
    from pathlib import Path

    import pytest

    import convscope.config as config_module
    from convscope.config import config_hash, from_flat
    from convscope.train.precision import resolve_config, run_hash

    auto = from_flat({"precision": "auto"})
    with pytest.raises(ValueError, match="resolve it first"):
        config_hash(auto)
    assert run_hash(auto) == config_hash(resolve_config(auto))
    fp32 = from_flat({"precision": "fp32"})
    assert run_hash(fp32) == config_hash(fp32)
    tree = ast.parse(Path(config_module.__file__).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module] + [
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    ]
    assert not [m for m in imported if m.startswith(("convscope.train", "convscope.hardware"))]
