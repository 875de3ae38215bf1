"""Planning an experiment's runs in ``OUT``: one :class:`PlannedRun` per distinct config (its
directory, reused when it exists), its analyses and its estimated cost; and the checks made
before anything is written (:func:`preflight`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convscope import io, paths
from convscope.config import DataConfig, RunConfig
from convscope.errors import ConfigError
from convscope.experiments.spec import Experiment, RunSpec
from convscope.models.registry import kind

RUNS = "runs"


def safe_name(label: str) -> str:
    """A label as a readable directory-name part (letters, digits, ``._=-``)."""
    s = re.sub(r"[^A-Za-z0-9._=-]+", "_", label).strip("._")
    return s[:80] or "run"


@dataclass
class PlannedRun:
    """One distinct run (by config hash) and where it lives."""

    spec: RunSpec
    dir: Path  # absolute
    rel: str  # "runs/<dirname>", relative to OUT
    analyses: list[str] = field(default_factory=list)
    analysis_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost: float = 1.0  # estimated work, arbitrary units (ordering and ETA)
    steps: int | None = None
    status: str = "pending"
    error: str | None = None
    exit_code: int | None = None  # of a failed run: its error's documented exit code
    attempts: int = 0
    analysis_status: str | None = None

    @property
    def hash(self) -> str:
        return self.spec.hash

    @property
    def name(self) -> str:
        return self.spec.config.name


def existing_runs(out: Path) -> dict[str, Path]:
    """Run directories already in ``OUT/runs``, by config hash."""
    found: dict[str, Path] = {}
    d = out / RUNS
    if not d.is_dir():
        return found
    for p in sorted(d.iterdir()):
        try:
            p = paths.under(out, RUNS, p.name)  # a symlink leading out of OUT is not ours
        except paths.PathRefused:
            continue
        cfg_path = p / "config.json"
        if cfg_path.is_file():
            try:
                stored = io.read_json(cfg_path)
                h = stored.get("hash")
            except (ValueError, AttributeError):
                continue
            if isinstance(h, str) and stored.get("imported") is None:  # never a trained run
                found.setdefault(h, p)
    return found


def image_cost(cfg: RunConfig) -> float:
    """Rough relative cost of one training image (lenet5 = 1): for ordering runs and the ETA.
    A built-in kind's ``cost`` (:mod:`convscope.models.registry`), else 1."""
    k = kind(cfg.model.model)
    if k is not None and k.cost is not None:
        a, b = k.cost
        return (a + b * (cfg.model.get("hidden_size") / 256) ** 1.5) * cfg.model.get("num_layers")
    return 1.0


def plan_runs(
    exp: Experiment, out: Path, n_train: Callable[[DataConfig], int] | None = None
) -> list[PlannedRun]:
    """The distinct runs of ``exp``, each with its directory in ``out`` (existing ones reused)."""
    out = out.resolve()
    have = existing_runs(out)
    planned: dict[str, PlannedRun] = {}
    for spec in exp.unique_runs():
        if spec.imported is not None:  # adopted (copied) into OUT: experiments/imported.py
            d = paths.under(out, RUNS, f"{safe_name(spec.label)}-{spec.hash}")
        else:
            d = have.get(spec.hash) or paths.under(
                out, RUNS, f"{safe_name(spec.label)}-s{spec.seed}-{spec.hash}"
            )
        planned[spec.hash] = PlannedRun(spec, d, f"{RUNS}/{d.name}")
    for a in exp.analysis:
        pr = planned[a.hash]
        pr.analyses = list(dict.fromkeys([*pr.analyses, *a.what]))
        for name, o in a.options.items():
            if pr.analysis_options.get(name, o) != o:
                raise ConfigError(
                    f"{exp.file}: [[analysis]]: run '{a.label}' (seed {a.seed}) gets two different "
                    f"option sets for {name!r}"
                )
            pr.analysis_options[name] = dict(o)
    for pr in planned.values():
        t = pr.spec.config.train
        if t.iterations is not None:
            pr.steps = t.iterations
        elif n_train is not None:
            from convscope.train.steps import steps_per_epoch

            spe = steps_per_epoch(n_train(pr.spec.config.data), t.batch_size)
            pr.steps = max(1, round(float(t.epochs or 1.0) * spe))
        steps = pr.steps or 1000
        from convscope.train import cadence

        per_record = (t.train_eval_size or 1000) + 1000
        records = steps / cadence.eval_every(t.eval_every, steps, t.batch_size, per_record)
        evals = records * per_record * cadence.EVAL_COST
        pr.cost = image_cost(pr.spec.config) * (steps * t.batch_size + evals)
    return list(planned.values())


def preflight(exp: Experiment) -> None:
    """Fail fast, before anything is trained: on a data source that cannot be found (DataError
    naming the path), and on a model factory (``package.module:factory``) that cannot be
    imported (ConfigError naming the file, the group and the key), which would fail every run
    that uses it."""
    from convscope.data import detect
    from convscope.models import REGISTRY, load_factory

    for data in sorted({r.config.data.data for g in exp.groups for r in g.runs}):
        detect(data)
    models: dict[str, str] = {}  # model -> the first group that trains it
    for g in exp.groups:
        for r in g.runs:
            if r.imported is None:  # an imported run's code: trust rules, not an import here
                models.setdefault(r.config.model.model, g.name)
    for model, group in sorted(models.items()):
        if model not in REGISTRY:
            try:
                load_factory(model)
            except ConfigError as e:
                raise ConfigError(f"{exp.file} [groups.{group}]: {e}") from None
