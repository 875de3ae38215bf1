"""Imported runs in an experiment group: ``imported = ["imports/mynet"]``.

A group may name run directories written by ``convscope import`` (weights trained elsewhere),
as paths relative to the experiment file's folder::

    [groups.mine]
    title = "My own network"
    imported = ["imports/mynet"]

``convscope run`` never trains them. Loading the experiment checks each one by its content
(:func:`imported_specs`): a folder inside the experiment file's folder (no absolute path, no
``..``, no symlink leading out), holding a ``config.json`` with ``convscope import``'s record
whose hash matches its content, a completed ``summary.json`` and at least one snapshot; and its
model code passes the same trust rules as ``convscope analyze`` of that folder
(:mod:`convscope.models.trust`). Then :func:`adopt` copies the files ``convscope import`` wrote
into ``OUT/runs/<label>-imported-<id>/``, so analyses write only inside ``OUT``, with
``adopted.json`` recording the source and each file's sha256. A second ``convscope run`` reuses
the copy when the source is unchanged; a changed source stops it (exit 2) and nothing is
overwritten.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from convscope import io, paths
from convscope.config import RunConfig
from convscope.errors import ConfigError, ConvscopeError
from convscope.runs import STATUS_COMPLETED, RunDir, snapshot_name
from convscope.train.precision import run_hash

KEY = "imported"
ADOPTED = "adopted.json"  # in the copy: where it came from, each file's sha256 (ownership)
ADOPTED_SCHEMA = "convscope-adopted/1"
RUN_FILES = ("config.json", "data.json", "metrics.jsonl", "summary.json")  # what import writes
REQUIRED = ("config.json", "data.json", "summary.json")


def imported_id(rel: str) -> str:
    """The identity of an imported run in an experiment: its path as written (normalised), so
    a changed folder at the same path is the same run, found changed (never a second copy)."""
    return "imported-" + hashlib.sha256(rel.encode()).hexdigest()[:12]


def _norm_rel(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: key '{KEY}': expected a list of folder paths, got {value!r}")
    return Path(value).as_posix().rstrip("/")


def check_source(base: Path, rel: str, where: str) -> tuple[Path, RunConfig, dict[str, Any]]:
    """The folder ``base/rel`` as a run written by ``convscope import``: its path, its config
    and its ``config.json``; else one :class:`ConfigError` naming ``where``, the key and path."""
    head = f"{where}: key '{KEY}': {rel!r}"
    try:
        src = paths.under(base, rel)
    except paths.PathRefused as e:
        if "refused to use" in str(e):
            why = str(e).rpartition("(")[2].split(")")[0]  # "it is absolute", "it holds '..'"
        else:
            why = f"{base / rel} leads outside it through a symlink"
        raise ConfigError(
            f"{head}: expected a folder inside {base} (the experiment file's folder): {why}"
        ) from None
    if not src.exists():
        raise ConfigError(
            f"{head}: {src} does not exist; expected a folder `convscope import` wrote"
        )
    if not src.is_dir():
        raise ConfigError(f"{head}: {src} is not a folder; expected a run `convscope import` wrote")
    run = RunDir(src)
    if not run.config_path.is_file():
        raise ConfigError(
            f"{head}: {src} is not a convscope run (no config.json); create it with "
            "`convscope import ... --out` first"
        )
    try:
        stored = io.read_json(run.config_path)
        cfg = run.config()
    except (ValueError, ConvscopeError) as e:
        raise ConfigError(f"{head}: {run.config_path} is not a run's config ({e})") from None
    if not isinstance(stored, dict) or not isinstance(stored.get(KEY), dict):
        raise ConfigError(
            f"{head}: {src} was not written by `convscope import` (config.json has no "
            "'imported' record); list runs to train under 'grid' or 'runs'"
        )
    if stored.get("hash") != run_hash(cfg):
        raise ConfigError(
            f"{head}: {run.config_path} was edited after the import (its hash does not match its "
            "content); import the weights again"
        )
    if stored[KEY].get("in_memory"):
        raise ConfigError(
            f"{head}: imported from a module in memory; its architecture is not on disk: "
            "import it with --model FILE.py:factory"
        )
    try:
        status = run.status()
    except (OSError, ValueError, AttributeError):
        status = None
    if status != STATUS_COMPLETED or not run.checkpoint_steps():
        raise ConfigError(
            f"{head}: {src} is not a finished import (summary status {status!r}, snapshots "
            f"{run.checkpoint_steps()}); run `convscope import` again"
        )
    missing = [f for f in REQUIRED if not (src / f).is_file()]
    if missing:
        raise ConfigError(f"{head}: {src} lacks {', '.join(missing)}; run `convscope import` again")
    from convscope.models import trust

    try:  # the rules `convscope analyze SRC` applies: before anything is written
        trust.check(src, stored, cfg.model.model, run_hash(cfg))
    except ConfigError as e:
        raise ConfigError(f"{head}: {e}") from None
    return src, cfg, stored


def own_files(src: Path, where: str) -> list[str]:
    """The files of ``src`` that ``convscope import`` wrote (relative, ``/``-separated): the
    run files and the snapshots. A symlink leading out of ``src`` is refused."""
    run = RunDir(src)
    rels = [f for f in RUN_FILES if (src / f).is_file()]
    rels += [f"checkpoints/{snapshot_name(s)}" for s in run.checkpoint_steps()]
    for rel in rels:
        try:
            p = paths.under(src, rel)
        except paths.PathRefused as e:
            raise ConfigError(f"{where}: key '{KEY}': {e}") from None
        if p.is_symlink() or not p.is_file():
            raise ConfigError(
                f"{where}: key '{KEY}': {p} is a symlink or not a file; expected the files "
                "`convscope import` wrote"
            )
    return rels


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def adopt(src: Path, rel: str, dest: Path, where: str) -> str:
    """Copy the run ``src`` (``rel`` as the experiment file names it) to ``dest``.

    Returns ``"adopted"`` or ``"reused"`` (``dest`` is a copy of the same files). Raises
    :class:`ConfigError` (exit 2) when ``dest`` is a copy of other content (the source changed
    since) or is not a copy convscope made; nothing is overwritten.
    """
    files = own_files(src, where)
    hashes = {f: _sha256(src / f) for f in files}
    head = f"{where}: key '{KEY}': {rel!r}"
    out_rel = f"{dest.parent.name}/{dest.name}"
    if dest.exists() or dest.is_symlink():
        mark = paths.read_marker(dest / ADOPTED, ADOPTED_SCHEMA)
        if mark is None:
            raise ConfigError(
                f"{head}: {dest} exists and is not a copy convscope adopted (no {ADOPTED}); "
                "convscope never overwrites what it did not write: choose a new --out"
            )
        if mark.get("sha256") == hashes:
            bad = [f for f in files if not (dest / f).is_file() or _sha256(dest / f) != hashes[f]]
            if not bad:
                return "reused"
            raise ConfigError(
                f"{head}: the copy in {out_rel} was changed or lost files since it was adopted "
                f"({', '.join(bad[:3])}); delete {out_rel} to adopt {rel!r} again"
            )
        old = mark.get("sha256") if isinstance(mark.get("sha256"), dict) else {}
        diff = sorted({*old, *hashes} - {f for f in hashes if old.get(f) == hashes[f]})
        raise ConfigError(
            f"{head}: changed since it was adopted into {out_rel} ({', '.join(diff[:3])} "
            f"differ{'s' if len(diff) == 1 else ''}); nothing was overwritten: import the new "
            f"weights into a new folder, or delete {out_rel} (and its analyses) to adopt it again"
        )
    tmp = dest.parent / f".adopting-{dest.name}"
    if tmp.exists() or tmp.is_symlink():
        if paths.read_marker(tmp / ADOPTED, ADOPTED_SCHEMA) is None:
            raise ConvscopeError(f"{tmp}: not a copy convscope started; remove it or choose --out")
        shutil.rmtree(tmp)  # an interrupted copy of ours (proved by its marker)
    io.mkdir(tmp)
    try:
        _copy(src, tmp, rel, files, hashes, where)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return "adopted"


def _copy(
    src: Path, tmp: Path, rel: str, files: list[str], hashes: dict[str, str], where: str
) -> None:
    record = {"source": rel, "source_path": str(src), "sha256": hashes}
    paths.write_marker(tmp / ADOPTED, ADOPTED_SCHEMA, files=files, **record)
    for f in files:
        data = (src / f).read_bytes()
        if hashlib.sha256(data).hexdigest() != hashes[f]:
            raise ConfigError(f"{where}: key '{KEY}': {src / f} changed while it was copied")
        target = paths.under(tmp, f)
        io.mkdir(target.parent)
        io.atomic_write_bytes(target, data)


def imported_specs(value: Any, base: Path, where: str) -> list[Any]:
    """The group key ``imported``: one :class:`~convscope.experiments.spec.RunSpec` per folder
    (label: the folder's name; seed: its config's), each checked by :func:`check_source`."""
    from convscope.experiments.spec import RunSpec

    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{where}: key '{KEY}': expected a non-empty list of folders `convscope import` "
            f"wrote (relative to {base}), got {value!r}"
        )
    out: list[RunSpec] = []
    seen: dict[str, str] = {}
    for item in value:
        rel = _norm_rel(item, where)
        src, cfg, _ = check_source(base, rel, where)
        label = paths.check_name(src.name, where, "label", 200)
        if seen.get(label) == rel:
            raise ConfigError(f"{where}: key '{KEY}': {rel!r} is listed twice")
        if label in seen:
            raise ConfigError(
                f"{where}: key '{KEY}': {seen[label]!r} and {rel!r} share the label "
                f"'{label}' (a folder's name); rename one folder"
            )
        seen[label] = rel
        out.append(
            RunSpec(label, cfg.train.seed, cfg, imported_id(rel), imported=rel, source=str(src))
        )
    return out
