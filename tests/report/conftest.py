"""Experiment outputs (``OUT``) for report tests, in the layout ``convscope run`` writes.

* :func:`write_run` writes one run directory with hand-chosen metric rows, so tests know every
  answer (first crossings, best configuration, verdicts) from the rows themselves.
* :func:`build_handmade`: a complete OUT with the four reference groups (cnn, optimizers, rnn,
  cnn_vs_rnn) whose numbers are chosen so that every reference claim has a known verdict
  (``analysis=True`` adds analysis files in the shapes the analyses write).
* ``out_factory``: empty OUT folders for tests that write their own.
* ``trained_out`` (session): a small OUT of tiny real runs trained by
  :func:`convscope.train.loop.train` on the synthetic bars data set (slow: ~15 s).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convscope import io
from convscope.config import from_flat
from convscope.train.precision import run_hash

STEPS = list(range(100, 1001, 100))


def saturating(final: float, start: float, tau: float, steps: Sequence[int] = STEPS) -> list[float]:
    """``final - (final - start) exp(-step / tau)`` at ``steps`` (a smooth learning curve)."""
    return [final - (final - start) * math.exp(-s / tau) for s in steps]


def rows_from(
    test: Sequence[float],
    train: Sequence[float] | None = None,
    loss: Sequence[float] | None = None,
    steps: Sequence[int] = STEPS,
) -> list[dict[str, Any]]:
    train = train if train is not None else [min(1.0, t + 0.05) for t in test]
    loss = loss if loss is not None else [2.3 * (1 - t) + 0.01 for t in train]
    return [
        {"step": s, "train_loss": lo, "train_accuracy": tr, "test_accuracy": te}
        for s, te, tr, lo in zip(steps, test, train, loss)
    ]


def write_run(
    out: Path,
    dirname: str,
    *,
    label: str,
    flat: dict[str, Any],
    rows: list[dict[str, Any]] | None,
    status: str = "completed",
    data_name: str = "CIFAR10",
    reason: str | None = None,
    total_steps: int | None = None,
) -> dict[str, Any]:
    """Write ``out/runs/<dirname>`` as the training loop would; return its experiment entry.

    ``rows=None`` writes nothing but the entry (a run that never started).
    """
    cfg = from_flat({"name": label, **flat})
    h = run_hash(cfg)
    d = out / "runs" / dirname
    entry = {
        "label": label,
        "seed": cfg.train.seed,
        "hash": h,
        "dir": f"runs/{dirname}",
        "config": cfg.to_dict(),
    }
    if rows is None:
        return entry
    d.mkdir(parents=True, exist_ok=True)
    io.write_json(d / "config.json", {**cfg.to_dict(), "hash": h, "version": "test"})
    io.write_json(
        d / "data.json",
        {
            "name": data_name,
            "image_shape": [1, 28, 28],
            "classes": [str(i) for i in range(10)],
            "train_size": 100,
            "test_size": 50,
        },
    )
    (d / "metrics.jsonl").write_text("".join(io.dumps(r) + "\n" for r in rows))
    acc = [r["test_accuracy"] for r in rows if r["test_accuracy"] is not None]
    best = max(acc) if acc else None
    best_step = next(r["step"] for r in rows if r["test_accuracy"] == best) if acc else None
    last = rows[-1]["step"] if rows else 0
    io.write_json(
        d / "summary.json",
        {
            "name": label,
            "hash": h,
            "status": status,
            "step": last,
            "total_steps": total_steps or last,
            "best_test_accuracy": best,
            "best_step": best_step,
            "final_test_accuracy": acc[-1] if acc else None,
            "wall_time_s": 12.5,
            "train_time_s": 10.0,
            "images_per_second": 4321.0,
            "diverged_step": last if status == "diverged" else None,
            "reason": reason,
        },
    )
    return entry


ASSIGNMENT2 = Path(__file__).resolve().parents[2] / "experiments" / "assignment2.toml"


def write_experiment(
    out: Path,
    groups: dict[str, list[dict[str, Any]]],
    analysis: list[dict[str, Any]] | None = None,
    data_note: str = "reference-layout data under DATA_ROOT",
) -> Path:
    """``experiment.json`` as ``convscope run experiments/assignment2.toml`` writes it: the
    file's groups (titles, sections, chapters) that ``groups`` fills, in the file's order, its
    analyses groups ("inside", "zf") on the analysed run, and the claims of the groups present.
    Groups the assignment does not have keep their name as title, after the others."""
    import tomllib

    a2 = tomllib.loads(ASSIGNMENT2.read_text())
    by_dir = {r["dir"]: r for rs in groups.values() for r in rs}
    analysed = [a for a in analysis or [] if a["run"] in by_dir]
    groups = dict(groups)
    entries = []
    for e in a2.get("analysis", []):
        for a in analysed:
            names = [w for w in e["what"] if w in a["what"]]
            if names:
                groups.setdefault(e["group"], [by_dir[a["run"]]])
                entries.append(
                    {
                        "group": e["group"],
                        "what": names,
                        "names": names,
                        "scope": {n: "run" for n in names},
                        "section": e.get("section", ""),
                        "title": "",
                        "runs": [a["run"]],
                    }
                )
    order = [n for n in a2["groups"] if n in groups] + [n for n in groups if n not in a2["groups"]]
    docs = []
    for name in order:
        meta = a2["groups"].get(name, {})
        docs.append(
            {
                "name": name,
                "title": meta.get("title", name),
                "section": meta.get("section", ""),
                "description": meta.get("description", ""),
                "report": meta.get("report", "full"),
                "titled": "title" in meta or name not in a2["groups"],
                "milestones": meta.get("milestones", {}),
                "runs": groups[name],
            }
        )
    doc = {
        "file": "experiments/assignment2.toml",
        "name": "assignment2",
        "profile": "test",
        "data_root": "/data",
        "data_note": data_note,
        "groups": docs,
        "analysis": analysis or [],
        "entries": entries,
        "claims": [c for c in a2.get("claims", []) if c["group"] in groups],
        "chapters": a2.get("chapters", {}),
    }
    if a2.get("claim_rules"):  # the plugin beside the experiment file, as `run` records it
        from convscope.report.claims import locate_rules

        doc["claim_rules"] = locate_rules(a2["claim_rules"], ASSIGNMENT2.parent, "t").to_dict()
    io.write_json(out / "experiment.json", doc)
    from convscope.experiments.out_dir import OUT_MARKER, OUT_SCHEMA
    from convscope.paths import write_marker

    write_marker(out / OUT_MARKER, OUT_SCHEMA)  # as `convscope run` marks its OUT
    return out


CNN = {"model": "lenet5", "iterations": 1000, "eval_every": 100}
RNN = {"iterations": 1000, "eval_every": 100}

# (label, flat config, final accuracy, tau) for the optimizer group: Adam faster with larger lr,
# RMSProp momentum 0 and 1 terrible, 0.5 and 0.75 as good as Adam 1e-3.
OPTIMIZERS = [
    ("adam_lr=1e-3", {"optimizer": "adam", "lr": 1e-3}, 0.55, 150.0),
    ("adam_lr=1e-4", {"optimizer": "adam", "lr": 1e-4}, 0.50, 400.0),
    ("adam_lr=1e-5", {"optimizer": "adam", "lr": 1e-5}, 0.35, 900.0),
    ("rms_lr=1e-4_momentum=0", {"optimizer": "rmsprop", "lr": 1e-4, "momentum": 0.0}, 0.30, 500.0),
    (
        "rms_lr=1e-4_momentum=0.5",
        {"optimizer": "rmsprop", "lr": 1e-4, "momentum": 0.5},
        0.56,
        200.0,
    ),
    (
        "rms_lr=1e-4_momentum=0.75",
        {"optimizer": "rmsprop", "lr": 1e-4, "momentum": 0.75},
        0.555,
        200.0,
    ),
]
# recurrent finals: hidden size helps, GRU a little better than LSTM
RNN_FINALS = {
    ("lstm", 32): 0.960,
    ("lstm", 64): 0.975,
    ("gru", 32): 0.963,
    ("gru", 64): 0.978,
}


def build_handmade(out: Path, analysis: bool = False) -> Path:
    """The hand-made OUT described in the module docstring; ``analysis`` adds analysis files."""
    groups: dict[str, list[dict[str, Any]]] = {}
    # 1.1: two seeds; seed 1 is 0.02 better everywhere
    groups["cnn"] = [
        write_run(
            out,
            f"cnn-s{seed}",
            label="lenet5_adam_lr=1e-3",
            flat={**CNN, "seed": seed},
            rows=rows_from(saturating(0.50 + 0.02 * seed, 0.15, 250.0)),
        )
        for seed in (0, 1)
    ]
    opt = [
        write_run(
            out,
            f"opt-{i}",
            label=label,
            flat={**CNN, **over},
            rows=rows_from(saturating(final, 0.1, tau)),
        )
        for i, (label, over, final, tau) in enumerate(OPTIMIZERS)
    ]
    # momentum 1 diverges at step 300: loss explodes, accuracy at chance
    div_rows = rows_from([0.12, 0.10, 0.10], loss=[2.3, 40.0, float("inf")], steps=[100, 200, 300])
    opt.append(
        write_run(
            out,
            "opt-6",
            label="rms_lr=1e-4_momentum=1",
            flat={**CNN, "optimizer": "rmsprop", "lr": 1e-4, "momentum": 1.0},
            rows=div_rows,
            status="diverged",
            reason="train_loss is inf at step 300",
            total_steps=1000,
        )
    )
    groups["optimizers"] = opt
    rnn = []
    for (cell, h), final in RNN_FINALS.items():
        tau = 3000.0 / h
        rnn.append(
            write_run(
                out,
                f"rnn-{cell}-{h}",
                label=f"{cell}_hidden={h}",
                flat={**RNN, "model": cell, "hidden_size": h},
                rows=rows_from(saturating(final, 0.1, tau), loss=saturating(0.1, 2.3, tau)),
                data_name="MNIST",
            )
        )
    groups["rnn"] = rnn
    lenet_mnist = write_run(
        out,
        "mnist-lenet5",
        label="lenet5",
        flat={**CNN},
        rows=rows_from(saturating(0.985, 0.1, 60.0), loss=saturating(0.05, 2.3, 60.0)),
        data_name="MNIST",
    )
    groups["cnn_vs_rnn"] = [lenet_mnist, rnn[1], rnn[3]]
    what = ["filters", "activations", "deconv", "topk", "evolution", "occlusion", "invariance"]
    analysis_list = [{"run": "runs/cnn-s0", "what": [*what, "correspondence"]}]
    if analysis:
        write_analysis_outputs(out / "runs" / "cnn-s0")
    return write_experiment(out, groups, analysis_list)


def png(path: Path, seed: int = 0, size: tuple[int, int] = (60, 90)) -> None:
    """A small real PNG (random pixels) written with Pillow, saying its smallest text is 12 px
    (as :func:`convscope.plots.save.save_png` records it)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from convscope.plots.save import FONT_KEY

    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8)
    info = PngInfo()
    info.add_text(FONT_KEY, "12.00")
    Image.fromarray(a).save(path, pnginfo=info)


def study_json(run: Path, name: str, **parts: Any) -> None:
    """``run/analysis/<name>.json`` in the studies' schema (convscope.studies.base.SCHEMA)."""
    doc = {
        "schema": "convscope.study/1",
        "study": name,
        "title": name,
        "scope": "run",
        "run": str(run),
        "options": {},
        "observations": [],
        "verdicts": {},
        "figures": [],
        "choices": {},
        "numbers": {},
        **parts,
    }
    io.write_json(run / "analysis" / f"{name}.json", doc)


def write_analysis_outputs(run: Path) -> None:
    """Analysis results in the studies' schema (test inputs; the numbers are made up)."""
    from convscope.analysis.gabor import compare_gabor, summarize_r2
    from convscope.studies.activations import early_layers_verdict
    from convscope.studies.filters import gabor_verdict

    trained = summarize_r2(np.array([0.9, 0.85, 0.7, 0.6, 0.55, 0.3]))
    init = summarize_r2(np.array([0.2, 0.3, 0.1, 0.45, 0.35, 0.25]))
    comparison = compare_gabor(trained, init, paired=True)
    v = gabor_verdict(comparison, trained, init)
    study_json(
        run,
        "filters",
        numbers={
            "applicable": True,
            "layer": "conv1",
            "trained_step": 1000,
            "trained": trained,
            "init": init,
            "comparison": comparison,
        },
        observations=["TEST-SENTENCE filters are more Gabor-like than at init."],
        verdicts={"gabor_like": {"verdict": v.verdict, "evidence": v.evidence}},
        figures=[{"path": "figures/filters.png", "caption": "filters"}],
        choices={"optimizer": "least squares"},
        timing={"wall_s": 1.5, "cpu_s": 2.5},
    )
    layers = ["relu1", "relu2", "relu3", "fc2"]
    kinds = ["conv", "conv", "linear", "logits"]
    settled = [200, 300, 700, 900]
    table = [
        {
            "layer": n,
            "kind": k,
            "settled_at": st,
            "settled_fraction": st / 1000,
            "last_step": 1000,
            **{
                m: {"final": 1.0, "tol": 0.05, "settled_at": st}
                for m in ("mean", "std", "zero_fraction")
            },
        }
        for n, k, st in zip(layers, kinds, settled)
    ]
    v = early_layers_verdict(table, 100)
    study_json(
        run,
        "activations",
        numbers={
            "n_images": 256,
            "steps": [0, 500, 1000],
            "cadence": 100,
            "layers": {
                n: {"layer": f"m{i}", "module": n, "kind": k, "tag": f"T{i}"}
                for i, (n, k) in enumerate(zip(layers, kinds))
            },
            "final": {n: {"mean": 0.5, "std": 1.25, "zero_fraction": 0.4} for n in layers},
            "convergence": table,
            "dead_units": {
                "step": 1000,
                "n_images": 500,
                "layers": {
                    n: {
                        "layer": f"m{i}",
                        "after": "ReLU",
                        "n_units": 10,
                        "n_dead": i,
                        "dead_fraction": i / 10,
                    }
                    for i, n in enumerate(layers[:3])
                },
            },
        },
        observations=[
            "TEST-SENTENCE final statistics.",
            "TEST-SENTENCE conv layers settle first.",
            "TEST-SENTENCE dead units.",
        ],
        verdicts={"early_layers_converge_first": {"verdict": v.verdict, "evidence": v.evidence}},
        figures=[{"path": "figures/activations.png", "caption": "activations"}],
        choices={"std": "population"},
        timing={"wall_s": 3.0, "cpu_s": 4.0},
    )
    study_json(
        run,
        "occlusion",
        numbers={
            "size": 6,
            "stride": 2,
            "fill": 0.47,
            "drop_object": 0.41,
            "drop_background": 0.05,
        },
        observations=["TEST-SENTENCE occluding the object hurts more."],
        figures=[{"path": "figures/zf_occlusion.png", "caption": "Occlusion"}],
    )
    study_json(
        run,
        "correspondence",
        numbers={
            "table": {
                "rows": ["centre", "random"],
                "columns": ["relu1", "relu2"],
                "mean": [[0.04, 0.10], [0.18, 0.25]],
                "std": [[0.01, 0.02], [0.03, 0.05]],
            }
        },
        observations=["TEST-SENTENCE masking the same region is more consistent."],
    )
    png(run / "figures" / "filters.png", 1)
    png(run / "figures" / "activations.png", 2)
    png(run / "figures" / "zf_occlusion.png", 3)


@pytest.fixture
def out_factory(tmp_path: Path) -> Callable[[str], Path]:
    def make(name: str = "OUT") -> Path:
        p = tmp_path / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    return make


# --- real runs -------------------------------------------------------------------------------
def _synthetic():
    sys.path.insert(0, str(Path(__file__).parents[1] / "train"))
    try:
        from synthetic import synthetic_dataset  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return synthetic_dataset


def train_tiny_out(out: Path) -> Path:
    """Tiny real runs of every group, trained on synthetic bars (no data files)."""
    from convscope.train.loop import train

    ds = _synthetic()(n_train=200, n_test=60, seed=0)
    base = {
        "iterations": 30,
        "batch_size": 20,
        "eval_every": 5,
        "checkpoint_every": 1000,
        "train_eval_size": 60,
        "threads": 1,
        "normalize": "standardize",
    }

    def run(dirname: str, label: str, **over: Any) -> dict[str, Any]:
        cfg = from_flat({**base, "name": label, **over})
        train(cfg, out / "runs" / dirname, dataset=ds)
        return {
            "label": label,
            "seed": cfg.train.seed,
            "hash": run_hash(cfg),
            "dir": f"runs/{dirname}",
            "config": cfg.to_dict(),
        }

    groups: dict[str, list[dict[str, Any]]] = {}
    # the analysed runs ask for snapshots (runs keep only their final one otherwise)
    groups["cnn"] = [run(f"cnn-s{s}", "lenet5", seed=s, keep_checkpoints=[10, 20]) for s in (0, 1)]
    opts = [
        ("adam_lr=1e-3", {"optimizer": "adam", "lr": 1e-3}),
        ("adam_lr=1e-4", {"optimizer": "adam", "lr": 1e-4}),
        ("rms_lr=1e-4_momentum=0.5", {"optimizer": "rmsprop", "lr": 1e-4, "momentum": 0.5}),
        ("rms_lr=1e-2_momentum=1", {"optimizer": "rmsprop", "lr": 1e-2, "momentum": 1.0}),
    ]
    groups["optimizers"] = [run(f"opt-{i}", lab, **o) for i, (lab, o) in enumerate(opts)]
    rnn = [
        run(f"rnn-{cell}-{h}", f"{cell}_h={h}", model=cell, hidden_size=h, lr=3e-3)
        for cell in ("lstm", "gru")
        for h in (8, 16)
    ]
    rnn.append(run("rnn-gru-16-s1", "gru_h=16", model="gru", hidden_size=16, lr=3e-3, seed=1))
    groups["rnn"] = rnn
    groups["cnn_vs_rnn"] = [groups["cnn"][0], rnn[1], rnn[3]]
    return write_experiment(
        out,
        groups,
        [{"run": "runs/cnn-s0", "what": ["filters", "activations"]}],
        data_note="synthetic bars (test data), not the reference data",
    )


@pytest.fixture(scope="session")
def trained_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_out(tmp_path_factory.mktemp("trained") / "OUT")
