"""Typed run configuration: one dataclass per concern, loaded from flat or sectioned dicts.

A run is fully described by a :class:`RunConfig`. Every field name is unique across the
sections, so a config file (TOML or JSON) and the command line can use flat keys
(``lr = 1e-3``) as well as sections (``[optim] lr = 1e-3``). Dashes and underscores are the
same in keys. Unknown keys and bad values raise :class:`~convscope.errors.ConfigError` naming
the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from convscope.config_model_args import MODEL_ARG_TYPES as MODEL_ARG_TYPES  # re-exported
from convscope.config_model_args import parse_model_args as parse_model_args  # re-exported
from convscope.errors import ConfigError
from convscope.typed_toml import INT_MAX as INT_MAX  # re-exported: experiments.spec uses it
from convscope.typed_toml import coerce as _coerce

Device = Literal["auto", "cpu", "cuda"]
Normalization = Literal["unit", "standardize"]
Augment = Literal["none", "flip", "flip_crop"]
OptimizerName = Literal["sgd", "adam", "rmsprop"]
Precision = Literal["auto", "fp32", "bf16"]


@dataclass
class DataConfig:
    """Where the data comes from and how it is prepared.

    ``data`` is a path (image folders, CIFAR-10 python batches or their ``.tar.gz``, IDX files),
    ``digits`` (scikit-learn's bundled 8x8 digits, resized; needs no file), or
    ``download:cifar10`` / ``download:mnist`` (fetched into ``cache_dir`` with checksums).
    """

    data: str = "digits"
    grayscale: bool = False  # convert colour sources to 1 channel (ITU-R BT.601 luma)
    resize: int | None = None  # resize to this many pixels square; folders must match otherwise
    train_per_class: int | None = None  # deterministic per-class subset of the training split
    test_per_class: int | None = None  # deterministic per-class subset of the test split
    normalize: Normalization = "standardize"  # per batch: [0,1] ("unit"), then train mean/std
    augment: Augment = "none"  # training-time augmentation, applied per batch
    cache_dir: str | None = None  # for download:*; default ~/.cache/convscope
    class_names: list[str] = field(default_factory=list)  # display names for classes 0..K-1
    # Adebayo et al. 2018 §3.2 (data randomisation): train on the training labels permuted with
    # this seed (test labels untouched); a run's "label twin" is the same config with it set
    permute_labels: int | None = None


@dataclass
class ModelConfig:
    """Which network. ``model`` is a registry name or ``package.module:factory``.

    ``hidden_size``, ``num_layers`` and ``dropout`` left unset (``None``) mean the model's own
    default: :data:`MODEL_DEFAULTS` for the built-in models, the factory's own default for a
    user's factory (convscope passes a factory only what the config sets). ``model_args`` are
    further keyword arguments for a user's factory (``{width = 32}``), each part of the run's
    identity.
    """

    model: str = "lenet5"
    hidden_size: int | None = None  # recurrent models: units per layer
    num_layers: int | None = None  # recurrent models: stacked layers
    dropout: float | None = None  # lenet5: before the last layer; recurrent: between layers
    model_args: dict[str, Any] = field(default_factory=dict)  # a factory's keyword arguments

    def get(self, key: str) -> Any:
        """``hidden_size``, ``num_layers`` or ``dropout``, the built-in default when unset."""
        v = getattr(self, key)
        return MODEL_DEFAULTS[key] if v is None else v


#: the built-in models' defaults for the keys a config may leave unset
MODEL_DEFAULTS: dict[str, Any] = {"hidden_size": 128, "num_layers": 1, "dropout": 0.0}


def short_model_name(model: str) -> str:
    """A model's name for labels and folders: the factory's name, not its path
    (``/home/me/nets.py:net_bn`` -> ``net_bn``)."""
    return model.rpartition(":")[2] or model


@dataclass
class OptimConfig:
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    momentum: float = 0.0  # sgd and rmsprop
    nesterov: bool = False  # sgd only
    weight_decay: float = 0.0


@dataclass
class TrainConfig:
    """Budget, batching, evaluation cadence and divergence rule."""

    epochs: float | None = None  # budget in epochs ...
    iterations: int | None = None  # ... or in iterations (optimizer steps); not both
    batch_size: int = 50
    seed: int = 0
    # iterations between records of train_loss/train_accuracy/test_accuracy; None: from the
    # budget and the evaluation's cost (convscope.train.cadence)
    eval_every: int | None = None
    # fixed sample of training images for train_accuracy; None: min(train, test, 2000) images
    train_eval_size: int | None = None
    # test images evaluated by each record but the last (which evaluates the whole split); None:
    # the whole split unless that costs more than the budget allows (convscope.train.cadence)
    test_eval_size: int | None = None
    checkpoint_every: int = 500  # iterations between resumable checkpoints (and on interruption)
    keep_checkpoints: list[int] = field(default_factory=list)  # steps whose checkpoints are kept
    device: Device = "auto"
    threads: int | None = None  # torch intra-op threads; default: all cores
    channels_last: bool = True  # memory format for 4-D models (faster on CPU here)
    precision: Precision = "auto"  # fp32, bf16 autocast, or auto (convscope.train.precision)
    divergence_factor: float = 1.0  # diverged if the recorded loss exceeds factor * its start
    divergence_patience: int = 5  # ... for this many consecutive records
    activation_stats_every: int = 100  # iterations between activation statistics; 0 = off
    activation_stats_size: int = 128  # fixed test images used for activation statistics
    # stop early once a record's training accuracy (on the fixed train_eval_size sample) reaches
    # this; None: train for the budget. summary.json says whether and at which step it was reached
    stop_at_train_accuracy: float | None = None


@dataclass
class RunConfig:
    """Everything that defines a run. Its identity is :func:`config_hash`."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = ""  # a label for reports; not part of the identity

    def validate(self) -> RunConfig:
        """Check cross-field rules; return self."""
        t = self.train
        if t.epochs is not None and t.iterations is not None:
            raise ConfigError("config: give either 'epochs' or 'iterations', not both")
        if t.epochs is None and t.iterations is None:
            t.epochs = 1.0
        if t.epochs is not None and not 0 < t.epochs < math.inf:
            raise ConfigError(f"config key 'epochs': expected a positive number, got {t.epochs}")
        if t.iterations is not None and t.iterations <= 0:
            raise ConfigError(
                f"config key 'iterations': expected a positive integer, got {t.iterations}"
            )
        for key in (
            "batch_size",
            "eval_every",
            "train_eval_size",
            "test_eval_size",
            "checkpoint_every",
        ):
            if getattr(t, key) is not None and getattr(t, key) <= 0:
                raise ConfigError(
                    f"config key '{key}': expected a positive integer, got {getattr(t, key)}"
                )
        if not 0 < self.optim.lr < math.inf:
            raise ConfigError(f"config key 'lr': expected a positive number, got {self.optim.lr}")
        for key in ("momentum", "weight_decay"):
            if not 0 <= getattr(self.optim, key) < math.inf:
                raise ConfigError(
                    f"config key '{key}': expected a finite number >= 0, "
                    f"got {getattr(self.optim, key)}"
                )
        if self.optim.nesterov and self.optim.optimizer != "sgd":
            raise ConfigError("config key 'nesterov': only valid with optimizer 'sgd'")
        if self.model.dropout is not None and not 0.0 <= self.model.dropout < 1.0:
            raise ConfigError(
                f"config key 'dropout': expected 0 <= dropout < 1, got {self.model.dropout}"
            )
        self.model.model_args = parse_model_args(self.model.model_args)
        file, sep, attr = self.model.model.rpartition(":")
        if sep and file.endswith(".py") and not Path(file).is_absolute():
            # a user's model file: kept absolute so the run rebuilds it from any folder
            self.model.model = f"{Path(file).expanduser().resolve()}:{attr}"
        if any(v is not None and v <= 0 for v in (self.model.hidden_size, self.model.num_layers)):
            raise ConfigError(
                "config keys 'hidden_size' and 'num_layers': expected positive integers"
            )
        target = self.train.stop_at_train_accuracy
        if target is not None and not 0.0 < target <= 1.0:
            raise ConfigError(
                f"config key 'stop_at_train_accuracy': expected 0 < value <= 1, got {target}"
            )
        if self.train.threads is not None and self.train.threads <= 0:
            raise ConfigError(
                f"config key 'threads': expected a positive integer, got {self.train.threads}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity_dict(self) -> dict[str, Any]:
        """The fields that define the run's result.

        Not the label, device, threads, or which snapshots are kept (``keep_checkpoints``: they
        do not change the result). ``test_eval_size``, ``permute_labels`` and ``stop_at_train_accuracy`` only when set,
        so runs keep the identity they had before the keys existed. The precision must already be
        resolved (``auto`` -> ``fp32`` or ``bf16`` on a machine: the caller resolves it,
        :func:`convscope.train.precision.resolve_config`, so this module knows nothing of
        machines); it counts only when it is not fp32, so fp32 runs keep the identity they had
        before the option existed.
        """
        if self.train.precision not in ("fp32", "bf16"):
            raise ValueError(
                f"the identity of a config with precision {self.train.precision!r}: resolve it "
                "first (convscope.train.precision.resolve_config)"
            )
        d = self.to_dict()
        d.pop("name")
        if not d["model"]["model_args"]:  # the default: identities from before it stay
            d["model"].pop("model_args")
        if _builtin(self.model.model):  # unset = the built-in default, as before
            d["model"].update({k: self.model.get(k) for k in MODEL_DEFAULTS})
        for k in ("device", "threads", "keep_checkpoints"):
            d["train"].pop(k)
        if d["train"]["test_eval_size"] is None:  # the default: identities from before it stay
            d["train"].pop("test_eval_size")
        if d["data"]["permute_labels"] is None:  # likewise
            d["data"].pop("permute_labels")
        if d["train"]["stop_at_train_accuracy"] is None:  # likewise
            d["train"].pop("stop_at_train_accuracy")
        if d["train"]["precision"] == "fp32":
            d["train"].pop("precision")
        return d

    def with_precision(self, precision: str) -> RunConfig:
        """A copy at a resolved ``precision`` (``fp32`` or ``bf16``), with the built-in model's
        defaults filled in: what ``config.json`` records. The train floor decides the precision
        (:func:`convscope.train.precision.resolve_config`)."""
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"expected a resolved precision (fp32 or bf16), got {precision!r}")
        t = dataclasses.replace(self.train, precision=precision)  # type: ignore[arg-type]
        m = self.model
        if _builtin(m.model):  # config.json records the built-in defaults, as before
            m = dataclasses.replace(m, **{k: m.get(k) for k in MODEL_DEFAULTS})
        return dataclasses.replace(self, train=t, model=m)


def _builtin(model: str) -> bool:
    return ":" not in model


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
}

# flat key -> section; every field name is unique across sections ("data" and "model" are both a
# section and a field of that section: a string value means the field, a table means the section).
FLAT_KEYS: dict[str, str] = {
    f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
}


def _norm_key(key: str) -> str:
    return key.strip().replace("-", "_")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def flatten(d: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """Turn a flat or sectioned mapping into flat ``{field: value}``; reject unknown keys."""
    out: dict[str, Any] = {}
    for raw_key, value in d.items():
        key = _norm_key(raw_key)
        if key in SECTIONS and isinstance(value, dict):
            cls = SECTIONS[key]
            names = {f.name for f in dataclasses.fields(cls)}
            for sub_key, sub_value in value.items():
                sk = _norm_key(sub_key)
                if sk == "model_args" and isinstance(sub_value, dict):
                    out.update({f"model_args.{k}": v for k, v in sub_value.items()})
                    continue
                if sk not in names:
                    raise ConfigError(
                        f"{where}: unknown key '{key}.{sub_key}'; "
                        f"expected one of {', '.join(sorted(names))}"
                    )
                out[sk] = sub_value
        elif key == "name":
            out["name"] = value
        elif key.startswith("model_args."):
            out[key] = value
        elif key == "model_args" and isinstance(value, dict):  # one key per argument
            out.update({f"model_args.{k}": v for k, v in value.items()})
        elif key in FLAT_KEYS:
            out[key] = value
        else:
            allowed = ", ".join(sorted([*FLAT_KEYS, "name"]))
            raise ConfigError(f"{where}: unknown key '{raw_key}'; expected one of {allowed}")
    return out


def from_flat(flat: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Build a validated RunConfig from flat keys, on top of ``base`` (default: defaults)."""
    cfg = dataclasses.replace(base) if base is not None else RunConfig()
    parts = {s: dataclasses.replace(getattr(cfg, s)) for s in SECTIONS}
    for key, value in flat.items():
        key = _norm_key(key)
        if key == "name":
            cfg.name = _coerce("name", value, str)
            continue
        if key == "model_args":
            parts["model"].model_args = parse_model_args(value)
            continue
        if key.startswith("model_args."):
            arg = key.partition(".")[2]
            parts["model"].model_args = {
                **parts["model"].model_args,
                **parse_model_args({arg: value}, "model_args"),
            }
            continue
        section = FLAT_KEYS.get(key)
        if section is None:
            allowed = ", ".join(sorted([*FLAT_KEYS, "name"]))
            raise ConfigError(f"config: unknown key '{key}'; expected one of {allowed}")
        setattr(parts[section], key, _coerce(key, value, _field_types(SECTIONS[section])[key]))
    cfg = RunConfig(**parts, name=cfg.name)
    return cfg.validate()


def from_dict(d: dict[str, Any], where: str = "config") -> RunConfig:
    """Build a RunConfig from a flat or sectioned mapping (as in a config file or run dir)."""
    return from_flat(flatten(d, where))


# what a run's config.json holds besides the config (written by the loop, not options)
RUN_RECORD_KEYS = ("hash", "version", "memory_format", "model_code", "imported")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into flat keys (not yet validated against defaults).

    A run's own ``config.json`` works too (``--config RUN/config.json`` repeats that run): the
    keys the loop adds to it (:data:`RUN_RECORD_KEYS`) are left out.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        text = p.read_text()
        d = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {e}"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: nested too deeply"
        ) from None
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: expected a table of keys at the top level")
    d = {k: v for k, v in d.items() if k not in RUN_RECORD_KEYS}
    return flatten(d, where=str(p))


def config_hash(cfg: RunConfig) -> str:
    """A run's identity: sha256 of its canonical identity dict, first 12 hex digits. The
    config's precision must be resolved (:func:`convscope.train.precision.run_hash` resolves
    it on this machine and hashes)."""
    blob = json.dumps(cfg.identity_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
