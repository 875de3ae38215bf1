"""``convscope import``: weights trained elsewhere become a run directory.

The folder it writes is a run directory like the ones ``convscope train`` writes
(:class:`~convscope.runs.RunDir`): ``config.json`` (with an ``imported`` record: the sha256 of
each weights file, the factory and its arguments, the normalisation), ``data.json`` (with the
user's normalisation, which every analysis applies), ``metrics.jsonl`` (the test accuracy of
each snapshot), ``summary.json`` and ``checkpoints/step_*.pt``. So ``analyze``, ``explore`` and
``report`` read it unchanged; ``train --resume`` refuses it (there is no training state).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convscope import __version__, io
from convscope.config import DataConfig, ModelConfig, RunConfig
from convscope.data.base import Dataset, Normalize
from convscope.errors import ConfigError, ConvscopeError, DataError
from convscope.formatting import pct
from convscope.importing_args import describe_normalize
from convscope.models import trust
from convscope.runs import STATUS_COMPLETED, STATUS_RUNNING, RunDir, snapshot_name
from convscope.train.precision import run_hash
from convscope.weights import fit, read_state_dict, sha256

log = logging.getLogger(__name__)

EVAL_BATCH = 500
CHANCE_SIGMAS = 3.0  # "chance level": within this many binomial std of the largest class share


@dataclass
class ImportSpec:
    """What to import.

    Attributes:
        model: a registry name, ``FILE.py:factory`` or ``pkg.module:factory``; or an
            ``nn.Module`` in memory (its architecture; weights from ``weights`` or itself).
        data: a data source as ``--data`` takes it.
        weights: ``(step, path)`` pairs; step None for the final weights (see
            :func:`assign_steps`). Empty only with a module in memory: its own weights.
        normalize: ``(mean, std)`` per channel on the [0, 1] scale, or None (scale only).
        model_args: more keyword arguments for the factory.
    """

    model: str | nn.Module
    data: str
    weights: list[tuple[int | None, Path]] = field(default_factory=list)
    normalize: tuple[list[float], list[float]] | None = None
    class_names: list[str] = field(default_factory=list)
    model_args: dict[str, Any] = field(default_factory=dict)
    grayscale: bool = False
    resize: int | None = None
    train_per_class: int | None = None
    test_per_class: int | None = None


def assign_steps(weights: Sequence[tuple[int | None, Path]]) -> list[tuple[int, Path]]:
    """Steps for the snapshots: a file without a step is the final one, at one past the largest
    step given (1 when none is), so the initialisation (step 0) is only ever what the user says.
    """
    plain = [p for s, p in weights if s is None]
    if len(plain) > 1:
        raise ConfigError(
            f"--weights: {len(plain)} files without a step ({', '.join(map(str, plain))}); "
            "give one final file, and the others as STEP=PATH"
        )
    steps = [s for s, _ in weights if s is not None]
    dup = sorted({s for s in steps if steps.count(s) > 1})
    if dup:
        raise ConfigError(f"--weights: step {dup[0]} given twice")
    out = [(s, p) for s, p in weights if s is not None]
    if plain:
        out.append((max(steps) + 1 if steps else 1, plain[0]))
    return sorted(out)


def _describe_model(model: str | nn.Module) -> str:
    if isinstance(model, nn.Module):
        return f"the module {type(model).__module__}.{type(model).__qualname__}"
    return f"the model {model}"


def check_inputs(model: nn.Module, ds: Dataset, what: str, data: str) -> None:
    """One line when the model cannot take the data's images or gives the wrong outputs."""
    c, h, w = ds.image_shape
    x = ds.test.images[:2].to(torch.float32) / 255.0
    try:
        with torch.no_grad():
            y = model.eval()(x)
    except Exception as e:  # noqa: BLE001 - the user's model on our images: one line
        first = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
        if first is not None and first[1].in_channels != c:
            hint = (
                " (--grayscale makes colour images 1-channel)" if first[1].in_channels == 1 else ""
            )
            raise DataError(
                f"{data}: the images have {c} channel(s) but {what} takes "
                f"{first[1].in_channels} (its first conv {first[0]!r}){hint}"
            ) from None
        msg = (str(e).splitlines() or [""])[0]
        raise DataError(
            f"{data}: {what} cannot take its {c}x{h}x{w} images (a different image size? "
            f"--resize N resizes them): {type(e).__name__}: {msg}"
        ) from None
    if not torch.is_tensor(y) or tuple(y.shape) != (len(x), ds.num_classes):
        got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
        raise DataError(
            f"{data}: {what} returns {got} for {len(x)} images; expected logits of shape "
            f"({len(x)}, {ds.num_classes}) for the data's {ds.num_classes} classes"
        )


def test_accuracy(model: nn.Module, ds: Dataset, normalize: Normalize) -> float:
    """Share of test images whose largest logit is their label (the model in eval mode)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(ds.test), EVAL_BATCH):
            x = normalize(ds.test.images[i : i + EVAL_BATCH])
            pred = model(x).argmax(1)
            correct += int((pred == ds.test.labels[i : i + EVAL_BATCH]).sum())
    return correct / len(ds.test)


def chance_warning(acc: float, ds: Dataset, norm_text: str) -> str | None:
    """A warning when ``acc`` is within :data:`CHANCE_SIGMAS` of the largest class's share."""
    n = len(ds.test)
    p = max(ds.test.class_counts(ds.num_classes)) / n
    if acc > p + CHANCE_SIGMAS * math.sqrt(p * (1 - p) / n):
        return None
    return (
        f"test accuracy {acc:.4f} on {n} images is at chance level (the largest class is "
        f"{pct(p)}): check --normalize (now {norm_text}) against what the model was trained on"
    )


def _model_factory(spec: ImportSpec, ds: Dataset) -> tuple[Callable[[], nn.Module], str]:
    """Builds the architecture with fresh weights; the model string for the config."""
    if isinstance(spec.model, nn.Module):
        import copy

        template = copy.deepcopy(spec.model).cpu()
        return (lambda: copy.deepcopy(template)), (
            f"in-memory:{type(spec.model).__module__}.{type(spec.model).__qualname__}"
        )
    from convscope.models import build_model

    cfg = ModelConfig(model=spec.model)
    cfg = RunConfig(model=cfg).validate().model  # a relative FILE.py made absolute
    return (
        lambda: build_model(cfg, ds.image_shape, ds.num_classes, model_args=spec.model_args)
    ), cfg.model


def _snapshots(
    spec: ImportSpec, build: Callable[[], nn.Module], what: str
) -> list[tuple[int, dict[str, torch.Tensor], str | None, dict[str, Any]]]:
    """``(step, state_dict, file, fit info)`` per snapshot, every file checked before writing."""
    out = []
    if not spec.weights:
        if not isinstance(spec.model, nn.Module):
            raise ConfigError("import: give --weights FILE (the trained state_dict)")
        sd = {k: v.detach().cpu().clone() for k, v in spec.model.state_dict().items()}
        return [(1, sd, None, {"stripped_prefix": "", "tensors": len(sd)})]
    for step, path in assign_steps(spec.weights):
        model = build()
        info = fit(model, read_state_dict(path), str(path), what)
        sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        out.append((step, sd, str(path), info))
    return out


def _load_data(
    spec: ImportSpec,
) -> tuple[DataConfig, Dataset, list[float] | None, list[float] | None]:
    """The data config (path made absolute), the data set, and the per-channel mean and std."""
    from convscope.data import load_dataset

    data = Path(spec.data).expanduser()
    dcfg = DataConfig(
        data=str(data.resolve()) if data.exists() else spec.data,  # analyses run from anywhere
        class_names=list(spec.class_names),
        grayscale=spec.grayscale,
        resize=spec.resize,
        train_per_class=spec.train_per_class,
        test_per_class=spec.test_per_class,
        normalize="standardize" if spec.normalize else "unit",
    )
    dcfg = RunConfig(data=dcfg).validate().data
    ds = load_dataset(dcfg)
    c = ds.image_shape[0]
    if spec.normalize is None:
        return dcfg, ds, None, None
    mean, std = spec.normalize
    if len(mean) not in (1, c):
        raise ConfigError(
            f"--normalize: {len(mean)} means for {spec.data}'s {c}-channel images; "
            f"expected 1 or {c}"
        )
    if len(mean) == 1:
        mean, std = mean * c, std * c
    return dcfg, ds, list(mean), list(std)


def run_import(spec: ImportSpec, out: str | Path) -> dict[str, Any]:
    """Import ``spec`` into the run directory ``out``; return its summary.

    An earlier import of the same files, model and data in ``out`` is returned as is.

    Raises:
        WeightsError: a weights file is not a state_dict or does not fit the model.
        DataError: the model cannot take the data's images.
        ConfigError: bad options; ConvscopeError: ``out`` holds something else.
    """
    from convscope.data.fingerprint import fingerprint

    t0 = time.perf_counter()
    run = RunDir(out)
    run.check_target()
    what = _describe_model(spec.model)
    dcfg, ds, mean, std = _load_data(spec)
    normalize = Normalize(mean, std)
    build, model_name = _model_factory(spec, ds)
    check_inputs(build(), ds, what, spec.data)
    snaps = _snapshots(spec, build, what)
    imported = {
        "from": [
            {
                "step": s,
                "file": str(Path(f).resolve()) if f else None,
                "sha256": sha256(f) if f else None,
            }
            for s, _, f, _ in snaps
        ],
        "model": model_name,
        "model_args": dict(spec.model_args),
        "data": dcfg.data,
        "in_memory": isinstance(spec.model, nn.Module),
        **(
            {"module": model_name.removeprefix("in-memory:")}
            if model_name.startswith("in-")
            else {}
        ),
        "normalize": {"mean": mean, "std": std, "text": describe_normalize(mean, std)},
        "stripped_prefix": sorted(
            {i["stripped_prefix"] for *_, i in snaps if i["stripped_prefix"]}
        ),
    }
    cfg = RunConfig(data=dcfg, model=ModelConfig(model=model_name), name=run.path.name)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, iterations=snaps[-1][0]))
    h = run_hash(cfg)
    with io.dir_lock(run.path):
        if run.exists():
            old = run.imported()
            same = old is not None and _same_import(old, imported)
            if same and run.is_finished():
                log.info("%s: already imported", run.path)
                return run.summary() or {}
            if not same:
                raise ConvscopeError(
                    f"{run.path}: holds another run"
                    + (" (an import of other weights, model or normalisation)" if old else "")
                    + "; choose a new --out"
                )
            run.clear_own_files()
        io.write_json(
            run.config_path,
            {
                **cfg.to_dict(),
                "hash": h,
                "version": __version__,
                "imported": imported,
                **({"model_code": code} if (code := trust.record(model_name)) else {}),
            },
        )
        data_info = {**ds.describe(), "normalize": normalize.to_dict()}
        io.write_json(run.data_path, {**data_info, "fingerprint": fingerprint(ds, dcfg.data)})
        summary = _write(
            run, cfg, h, snaps, build, ds, normalize, imported["normalize"]["text"], t0
        )
    return summary


def _same_import(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("from", "model", "model_args", "normalize", "in_memory", "data")
    return all(old.get(k) == json.loads(io.dumps(new.get(k))) for k in keys)


def _write(
    run: RunDir,
    cfg: RunConfig,
    h: str,
    snaps: list[tuple[int, dict[str, torch.Tensor], str | None, dict[str, Any]]],
    build: Callable[[], nn.Module],
    ds: Dataset,
    normalize: Normalize,
    norm_text: str,
    t0: float,
) -> dict[str, Any]:
    from convscope.train import checkpoint

    final = snaps[-1][0]
    base = {"name": cfg.name, "hash": h, "step": final, "total_steps": final, "imported": True}
    io.write_json(run.summary_path, {**base, "status": STATUS_RUNNING})
    rows = []
    for step, sd, _, _ in snaps:
        checkpoint.save(run.checkpoint_dir / snapshot_name(step), {"model": sd, "step": step})
        model = build()
        model.load_state_dict(sd)
        rows.append(
            {
                "step": step,
                "train_loss": None,
                "train_accuracy": None,
                "test_accuracy": test_accuracy(model, ds, normalize),
            }
        )
    io.atomic_write_bytes(run.metrics_path, "".join(io.dumps(r) + "\n" for r in rows).encode())
    acc = rows[-1]["test_accuracy"]
    best = max(rows, key=lambda r: r["test_accuracy"])
    warning = chance_warning(acc, ds, norm_text)
    summary = {
        **base,
        "status": STATUS_COMPLETED,
        "test_accuracy": acc,
        "final_test_accuracy": acc,
        "best_test_accuracy": best["test_accuracy"],
        "best_step": best["step"],
        "test_images": len(ds.test),
        "warnings": [warning] if warning else [],
        "wall_time_s": round(time.perf_counter() - t0, 3),
    }
    io.write_json(run.summary_path, summary)
    return summary
