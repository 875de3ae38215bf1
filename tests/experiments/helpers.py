"""Shared helpers for experiment tests: small experiment files and result readers."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from convscope import io

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # expmodels, for this process and (inherited) spawned workers


def env_with_expmodels() -> dict[str, str]:
    """os.environ with this folder on PYTHONPATH (for subprocesses and Ray workers)."""
    paths = [str(HERE), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


DEFAULTS: dict[str, Any] = {
    "data": "digits",
    "train_per_class": 30,
    "test_per_class": 10,
    "batch_size": 20,
    "train_eval_size": 100,
    "eval_every": 5,
    "checkpoint_every": 5,
    "iterations": 20,
    "model": "expmodels:tiny",
}


def write_experiment(path: Path, body: str, **defaults: Any) -> Path:
    """An experiment on the built-in digits (few images per class), tiny budgets.

    ``defaults`` override :data:`DEFAULTS` (the file's ``[defaults]`` table).
    """
    import json

    d = {**DEFAULTS, **defaults}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())
    path.write_text(f'name = "t"\n[defaults]\n{lines}\n{body}\n')
    return path


def experiment_json(out: Path) -> dict[str, Any]:
    return io.read_json(out / "experiment.json")


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "runs").iterdir() if p.is_dir())


def results_by_label(out: Path) -> dict[str, dict[str, Any]]:
    """{label: {"metrics": [...], "summary": numbers}} for every run in experiment.json."""
    from convscope.runs import RunDir

    doc = experiment_json(out)
    res: dict[str, dict[str, Any]] = {}
    for g in doc["groups"]:
        for r in g["runs"]:
            rd = RunDir(out / r["dir"])
            s = rd.summary() or {}
            res[f"{r['label']}-s{r['seed']}"] = {
                "metrics": rd.metrics(),
                "summary": {
                    k: s.get(k)
                    for k in (
                        "status",
                        "step",
                        "best_test_accuracy",
                        "best_step",
                        "final_test_accuracy",
                    )
                },
            }
    return res
