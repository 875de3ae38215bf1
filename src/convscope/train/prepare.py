"""What the training loop does before its first step: the budget and cadence, the model and
optimizer (or those of the checkpoint it resumes from), the run's ``config.json`` and
``data.json``, and the data and fixed evaluation samples on the device."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convscope import __version__, io
from convscope.config import RunConfig
from convscope.data.base import Dataset, Normalize
from convscope.errors import ConvscopeError
from convscope.models import build_model, check_output
from convscope.runs import RunDir
from convscope.train import cadence, checkpoint, guards
from convscope.train.memory_format import choose_memory_format
from convscope.train.run_files import rollback
from convscope.train.state import LoopState
from convscope.train.steps import derive_seed, make_optimizer, resolve_device, total_steps

# the loop's own messages: logged under its name (--debug output and tests name it)
log = logging.getLogger("convscope.train.loop")


@dataclass
class Prepared:
    """The model, optimizer and running values a run trains with, and what it resolved to."""

    device: torch.device
    normalize: Normalize
    model: nn.Module
    optimizer: torch.optim.Optimizer
    state: LoopState
    fmt: torch.memory_format
    fmt_info: dict[str, str]
    prec: str  # the resolved precision
    total: int  # the steps to train for
    cad: cadence.Cadence
    n_train: int
    n_test: int


@dataclass
class DeviceData:
    """The training split and the fixed evaluation samples, on the device."""

    images: torch.Tensor
    labels: torch.Tensor
    train_x: torch.Tensor  # the fixed sample for train_accuracy
    train_y: torch.Tensor
    test_x: torch.Tensor  # the whole test split
    test_y: torch.Tensor
    test_sub: tuple[torch.Tensor, torch.Tensor] | None  # the records' but the last, if fewer


def prepare(cfg: RunConfig, ds: Dataset, max_steps: int | None, why_precision: str) -> Prepared:
    """Resolve the budget and cadence, then build the model and optimizer from the seed."""
    t = cfg.train
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    n_train = len(ds.train)
    if n_train == 0 or len(ds.test) == 0:
        raise ConvscopeError(f"{ds.name}: empty train or test split")
    total = total_steps(cfg, n_train)
    guards.check_budget(cfg, n_train, total)
    if max_steps is not None:
        total = min(total, max_steps)
    prec = cfg.train.precision  # resolved by train()
    n_test = len(ds.test)
    cad = cadence.resolve(t, total, n_train, n_test)
    log.info(
        "precision %s; a record every %d steps, train accuracy on %d images, test accuracy on %s",
        why_precision,
        cad.eval_every,
        cad.train_eval_size,
        f"{n_test} images"
        if cad.test_eval_size == n_test
        else f"{cad.test_eval_size} of {n_test} images (the last record: all)",
    )
    if cfg.data.normalize == "standardize":
        normalize = Normalize(*ds.channel_stats())
    else:
        normalize = Normalize()

    torch.manual_seed(t.seed)
    model = build_model(cfg.model, ds.image_shape, ds.num_classes).to(device)
    sample = normalize(ds.train.images[:2].to(device))
    check_output(model, sample, ds.num_classes, cfg.model.model)  # once, before any step
    fmt, fmt_info = choose_memory_format(model, ds.image_shape, t.channels_last, device)
    model = model.to(memory_format=fmt)
    optimizer = make_optimizer(cfg, iter(model.parameters()))
    state = LoopState(extra={"n_train": n_train})
    return Prepared(
        device, normalize, model, optimizer, state, fmt, fmt_info, prec, total, cad, n_train, n_test
    )


def restore_or_clear(run: RunDir, h: str, p: Prepared, resume: bool) -> None:
    """With ``resume`` and a checkpoint, continue from it (weights, optimizer, running values,
    RNG, records rolled back to its step); otherwise clear what an earlier attempt wrote."""
    checkpoint.clean_temp_files(run.checkpoint_dir)
    checkpoint.clean_temp_files(run.path)
    if resume and run.last_checkpoint_path.is_file():
        ckpt = run.load_checkpoint(None, device=p.device)
        if ckpt.get("config_hash") != h:
            raise ConvscopeError(f"{run.last_checkpoint_path}: checkpoint is of another config")
        run.load_weights(p.model, ckpt["model"], run.last_checkpoint_path)
        p.optimizer.load_state_dict(ckpt["optimizer"])
        p.state = LoopState(**ckpt["state"])
        p.state.extra.setdefault("n_train", p.n_train)
        checkpoint.set_rng_state(ckpt["rng"])
        rollback(run, p.state.step)
        log.info("%s: resuming at step %d of %d", run.path, p.state.step, p.total)
    else:
        run.clear_own_files()  # only what a run writes; see RunDir.check_target


def write_run_files(
    run: RunDir, cfg: RunConfig, h: str, ds: Dataset, fp: dict[str, Any], p: Prepared
) -> dict[str, Any]:
    """Write ``config.json`` and ``data.json``; return the values the defaults resolved to (for
    ``summary.json``)."""
    from convscope.models import trust

    code = trust.record(cfg.model.model)  # what RunDir.build_model checks before importing it
    io.write_json(
        run.config_path,
        {
            **cfg.to_dict(),
            "hash": h,
            "version": __version__,
            "memory_format": p.fmt_info,
            **({"model_code": code} if code else {}),
        },
    )
    data_info = {**ds.describe(), "normalize": p.normalize.to_dict()}
    io.write_json(run.data_path, {**data_info, "fingerprint": fp})
    return {
        "precision": p.prec,
        "eval_every": p.cad.eval_every,
        "train_eval_size": p.cad.train_eval_size,
        "test_eval_size": p.cad.test_eval_size,
    }


def device_data(cfg: RunConfig, ds: Dataset, p: Prepared) -> DeviceData:
    """The training split on the device, and the fixed evaluation samples drawn from the seed."""
    t, device, n_test = cfg.train, p.device, p.n_test
    images = ds.train.images.to(device)
    labels = ds.train.labels.to(device)
    test_x, test_y = ds.test.images.to(device), ds.test.labels.to(device)
    g = torch.Generator().manual_seed(derive_seed(t.seed, 3))
    sample = torch.randperm(p.n_train, generator=g)[: p.cad.train_eval_size].to(device)
    train_x, train_y = images[sample], labels[sample]
    # the fixed test subsample of the records before the last (the whole split by default)
    g = torch.Generator().manual_seed(derive_seed(t.seed, 4))
    sub = torch.randperm(n_test, generator=g)[: p.cad.test_eval_size].to(device)
    test_sub = (test_x[sub], test_y[sub]) if p.cad.test_eval_size < n_test else None
    return DeviceData(images, labels, train_x, train_y, test_x, test_y, test_sub)
