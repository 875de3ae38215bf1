"""Inside the network I: first-layer filters and activation statistics of one run.

``analyze_filters_activations(run_dir, {"filters", "activations"})`` reads a run directory
(config, data, checkpoints, ``activations.jsonl`` if the run recorded it) and writes, without
training:

- ``analysis/filters.npz`` + ``filters.json``: first-layer weights (trained, initial, and at every
  snapshot step), Gabor fits of trained and initial filters, the shares with R^2 > 0.5 / 0.8 and
  the report's sentence (Zeiler & Fergus 2014, arXiv 1311.2901, Sec. 4.1, Fig. 6).
- ``analysis/activations.npz`` + ``activations.json``: per-layer statistics over training.
- ``analysis/convergence.json``: when each layer's statistics settle within 5% of their final
  value, and the sentence on early vs fully connected layers.
- ``analysis/dead_units.json``: maps/units of the final model that never activate on the whole
  test split.
- ``figures/filters*.png``, ``figures/activations*.png``.

Every JSON has an ``observation`` sentence built from its numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from convscope.analysis import activations as act
from convscope.analysis.convergence import (
    CONVERGENCE_CHOICES,
    convergence_sentence,
    convergence_table,
)
from convscope.analysis.filters import first_conv, first_conv_weights
from convscope.analysis.gabor import (
    FIT_CHOICES,
    PARAM_NAMES,
    compare_gabor,
    fit_filters,
    gabor_sentence,
    summarize_r2,
)
from convscope.errors import ConvscopeError
from convscope.runs import RunDir

log = logging.getLogger(__name__)

WHAT = frozenset({"filters", "activations"})
CHANNEL_REDUCE = "principal"
CITATION = "Zeiler & Fergus 2014, arXiv 1311.2901"


def _save(fig: Figure, path: Path) -> str:
    from convscope.plots.save import save_png

    save_png(fig, path, dpi=120)
    return str(path)


def _trained_step(rd: RunDir) -> int:
    ckpt = rd.load_checkpoint(None)
    return int(ckpt.get("step", rd.checkpoint_steps()[-1] if rd.checkpoint_steps() else 0))


def initial_model(rd: RunDir) -> tuple[nn.Module, str]:
    """The run's model at initialisation: the step-0 snapshot, else rebuilt from the config
    with ``torch.manual_seed(train.seed)`` as the loop does (global RNG restored after)."""
    if 0 in rd.checkpoint_steps():
        return rd.load_model(0), "checkpoint step 0"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(rd.config().train.seed)
        model = rd.build_model()
    return model.eval(), f"rebuilt from the config with torch.manual_seed({rd.config().train.seed})"


def analyze_filters(rd: RunDir) -> dict[str, str]:
    """First-layer filters and their Gabor measure; writes filters.npz/json and figures."""
    from convscope.plots.filters import plot_filter_grid, plot_filter_strip, plot_gabor_fits

    model = rd.load_model(None)
    try:
        layer, conv = first_conv(model)
    except ConvscopeError as e:
        rd.write_json(
            "analysis/filters.json",
            {"applicable": False, "observation": f"No first-layer filters to show: {e}."},
        )
        log.debug("%s", e)  # the CLI says "filters: not applicable: ..."
        return {"filters": str(rd.analysis_dir / "filters.json")}
    trained = first_conv_weights(model)
    init_model, init_source = initial_model(rd)
    init = first_conv_weights(init_model)
    step = _trained_step(rd)
    fits_t, kept_t = fit_filters(trained, CHANNEL_REDUCE)
    fits_i, kept_i = fit_filters(init, CHANNEL_REDUCE)
    sum_t, sum_i = summarize_r2(fits_t.r2), summarize_r2(fits_i.r2)
    sentence = gabor_sentence(sum_t, sum_i, paired=True)

    snap_steps = rd.checkpoint_steps()
    by_step = [first_conv_weights(rd.load_model(s)) for s in snap_steps]
    rd.write_npz(
        "analysis/filters.npz",
        weights_trained=trained,
        weights_init=init,
        snapshot_steps=np.asarray(snap_steps, dtype=np.int64),
        weights_by_step=np.stack(by_step) if by_step else np.zeros((0, *trained.shape)),
        gabor_params_trained=fits_t.params,
        gabor_params_init=fits_i.params,
        gabor_r2_trained=fits_t.r2,
        gabor_r2_init=fits_i.r2,
        gabor_maps_trained=fits_t.maps,
        gabor_fitted_trained=fits_t.fitted,
        gabor_maps_init=fits_i.maps,
        gabor_fitted_init=fits_i.fitted,
        channel_energy_kept_trained=kept_t,
        channel_energy_kept_init=kept_i,
    )
    per_filter_change = np.linalg.norm(
        (trained - init).reshape(len(init), -1), axis=1
    ) / np.maximum(np.linalg.norm(init.reshape(len(init), -1), axis=1), 1e-12)
    change = float(np.linalg.norm(trained - init) / max(float(np.linalg.norm(init)), 1e-12))
    info = {
        "applicable": True,
        "relative_change_from_init": change,
        "relative_change_from_init_per_filter_median": float(np.median(per_filter_change)),
        "source": f"{CITATION}, Sec. 4.1, Fig. 6 (first-layer filters)",
        "layer": layer,
        "shape": list(trained.shape),
        "trained_step": step,
        "init_source": init_source,
        "channel_reduce": CHANNEL_REDUCE if trained.shape[1] > 1 else "none (one input channel)",
        "channel_energy_kept_trained_mean": float(np.mean(kept_t)),
        "gabor_params": list(PARAM_NAMES),
        "fit_choices": FIT_CHOICES,
        "trained": sum_t,
        "init": sum_i,
        "comparison": compare_gabor(sum_t, sum_i, paired=True),
        "observation": f"{sentence} The weights moved {100 * change:.0f}% from their initial "
        f"values (||W_{step} - W_0|| / ||W_0||).",
    }
    rd.write_json("analysis/filters.json", info)

    figs = rd.figures_dir
    labels = [f"R²={r:.2f}" for r in fits_t.r2]
    _save(
        plot_filter_grid(
            trained, "per_filter", title=f"{layer} filters, step {step}", labels=labels
        ),
        figs / "filters.png",
    )
    _save(
        plot_filter_grid(trained, "shared", title=f"{layer} filters, step {step}"),
        figs / "filters_shared.png",
    )
    _save(
        plot_filter_grid(
            init,
            "per_filter",
            title=f"{layer} filters at initialisation",
            labels=[f"R²={r:.2f}" for r in fits_i.r2],
        ),
        figs / "filters_init.png",
    )
    order = np.argsort(-np.nan_to_num(fits_t.r2, nan=-1.0))
    _save(
        plot_gabor_fits(
            fits_t.maps[order],
            fits_t.fitted[order],
            fits_t.r2[order],
            title=f"{layer}: best Gabor fits (upper: filter, lower: fit)",
        ),
        figs / "filters_gabor.png",
    )
    if len(snap_steps) >= 2:
        _save(
            plot_filter_strip(by_step, snap_steps, filters=list(range(min(8, trained.shape[0])))),
            figs / "filters_strip.png",
        )
    log.debug("filters: %s", sentence)  # the CLI prints the observation
    return {"filters": str(rd.analysis_dir / "filters.json")}


def _cadence(steps: np.ndarray) -> int:
    return int(np.median(np.diff(steps))) if steps.size > 1 else 0


def _final_sentence(arrays: dict[str, np.ndarray], layers: list[str]) -> str:
    step = int(arrays["steps"][-1])
    parts = []
    for name in layers:
        m, s, z = (float(arrays[f"{name}.{k}"][-1]) for k in ("mean", "std", "zero_fraction"))
        parts.append(f"{name} mean {m:.3g}, std {s:.3g}, {100 * z:.0f}% zeros")
    return f"At step {step}: " + "; ".join(parts) + "."


def analyze_activations(rd: RunDir) -> dict[str, str]:
    """Activation statistics over training, convergence table and dead units."""
    from convscope.plots.activations import (
        plot_activation_ridgeline,
        plot_activation_stats,
        plot_recurrent_steps,
    )

    rows = rd.records(act.STREAM)
    if rows:
        source = f"{act.STREAM}.jsonl, recorded during training"
    else:
        rows = act.activation_rows_over_checkpoints(rd.path)
        source = "recomputed from the checkpoints at steps " + ", ".join(
            str(r["step"]) for r in rows
        )
    arrays = act.rows_to_arrays(rows)
    layers = list(rows[-1]["layers"])
    points = rows[-1].get("points", {})
    kinds = {name: points.get(name, {}).get("kind", "") for name in layers}
    rd.write_npz("analysis/activations.npz", **arrays)
    steps = arrays["steps"]
    cadence = _cadence(steps)
    rd.write_json(
        "analysis/activations.json",
        {
            "source": source,
            "cites": f"{CITATION}, Sec. 4 and Fig. 4 (feature evolution during training)",
            "n_images": rows[-1].get("n_images"),
            "steps": steps.tolist(),
            "cadence": cadence,
            "layers": {name: points.get(name, {}) for name in layers},
            "choices": act.STAT_CHOICES,
            "final": {
                name: {k: float(arrays[f"{name}.{k}"][-1]) for k in act.SCALAR_STATS}
                for name in layers
            },
            "observation": _final_sentence(arrays, layers),
        },
    )
    out = {"activations": str(rd.analysis_dir / "activations.json")}

    if steps.size >= 2:
        table = convergence_table(arrays, layers, kinds)
        sentence = convergence_sentence(table, cadence)
    else:
        table, sentence = [], "Only one activation record: convergence cannot be measured."
    rd.write_json(
        "analysis/convergence.json",
        {
            "table": table,
            "cadence": cadence,
            "choices": CONVERGENCE_CHOICES,
            "observation": sentence,
        },
    )
    out["convergence"] = str(rd.analysis_dir / "convergence.json")

    dataset, normalize = rd.load_data()
    model = rd.load_model(None)
    dead = act.dead_units(model, dataset.test.images, normalize)
    step = _trained_step(rd)
    parts = [
        f"{d['n_dead']} of {d['n_units']} in {name} (after {d['after']})"
        for name, d in dead.items()
    ]
    # when they died: units dead on the fixed measurement batch at each record
    over_time: dict[str, dict[str, list[int]]] = {}
    when = []
    for name in dead:
        key = f"{name}.unit_max"
        if key not in arrays:
            continue
        counts = (np.asarray(arrays[key]) <= 0).sum(axis=1).astype(int).tolist()
        over_time[name] = {"steps": steps.tolist(), "n_dead": counts}
        if counts[-1] > 0 and len(counts) > 1:
            i = next(j for j, c in enumerate(counts) if c >= 0.5 * counts[-1])
            when.append(
                f"{name} {counts[i]} at iteration {int(steps[i])} ({counts[-1]} at {int(steps[-1])})"
            )
    observation = (
        f"At step {step}, units that never activate on the {len(dataset.test)} test images: "
        + "; ".join(parts)
        + "."
    )
    if when:
        observation += (
            f" On the {rows[-1].get('n_images')} fixed images, dead units appear early: "
            + "; ".join(when)
            + "."
        )
    rd.write_json(
        "analysis/dead_units.json",
        {
            "step": step,
            "n_images": len(dataset.test),
            "cites": f"{CITATION}, Sec. 4.1, Fig. 6(b) (dead first-layer features)",
            "definition": "a unit (feature map for conv layers) whose maximum over every test image "
            "and position is <= 0; for tanh/recurrent layers this means 'never positive'",
            "layers": dead,
            "on_fixed_batch_over_training": over_time,
            "observation": observation,
        },
    )
    out["dead_units"] = str(rd.analysis_dir / "dead_units.json")

    figs = rd.figures_dir
    settled = {r["layer"]: r["settled_at"] for r in table}
    _save(plot_activation_stats(arrays, layers, settled=settled or None), figs / "activations.png")
    _save(plot_activation_ridgeline(arrays, layers), figs / "activations_ridgeline.png")
    for name in layers:
        if kinds.get(name) == "recurrent":
            _save(plot_recurrent_steps(arrays, name), figs / f"activations_{name}_per_step.png")
    log.debug("activations: %s", sentence)  # the CLI prints the observation
    return out


def analyze_filters_activations(run_dir: str | Path, what: set[str]) -> dict[str, str]:
    """Run the requested parts (``"filters"``, ``"activations"``) on a run directory.

    Returns:
        ``{name: path of the JSON written}`` for each result.
    """
    unknown = set(what) - WHAT
    if unknown:
        raise ConvscopeError(
            f"analyze: unknown part {', '.join(sorted(unknown))}; expected filters or activations"
        )
    rd = RunDir(run_dir)
    rd.config()  # one-line error if this is not a run directory
    if not rd.checkpoint_steps() and not rd.last_checkpoint_path.is_file():
        raise ConvscopeError(f"{rd.checkpoint_dir}: no checkpoint; train the run first")
    out: dict[str, str] = {}
    if "filters" in what:
        out.update(analyze_filters(rd))
    if "activations" in what:
        out.update(analyze_activations(rd))
    return out
