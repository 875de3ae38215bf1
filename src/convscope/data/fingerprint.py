"""A data set's fingerprint: what a run was trained on, to notice when the data changes.

Recorded in ``RUN/data.json`` under ``"fingerprint"``: the source, the files under the source
path (relative name and size; the list itself only up to :data:`MAX_LISTED` files, always
their count, total size and a hash of the list) and a sha256 of the decoded tensors (images,
labels, classes). The fingerprint is not part of a run's identity (the config hash): the same
config on changed data is the same experiment on other data, so convscope refuses to continue
or reuse such a run rather than silently starting another one (see docs/runs.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from convscope.data.base import Dataset
from convscope.errors import DataError

MAX_LISTED = 2000  # file lists longer than this are recorded by count, size and hash only


def _files(spec: str) -> list[list[Any]] | None:
    """``[[relative path, size], ...]`` under the source path; None for built-in/downloads.

    In ``os.walk`` order (a folder's files by name, then its subfolders by name), without
    following links to folders; a file that cannot be stat'ed (a dangling link) is left out.
    """
    if spec == "digits" or spec.startswith("download:"):
        return None
    root = Path(os.path.abspath(Path(spec).expanduser()))
    if root.is_file():
        return [[root.name, root.stat().st_size]]
    out: list[list[Any]] = []
    _walk(str(root), "", out)
    return out


def _walk(folder: str, rel: str, out: list[list[Any]]) -> None:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # as os.walk: an unreadable folder is skipped
    subfolders = []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not e.is_symlink():
                subfolders.append(e)
            continue
        try:
            size = e.stat().st_size
        except OSError:
            continue  # a dangling link: the loader has already said what it thinks of it
        out.append([rel + e.name, size])
    for e in subfolders:
        _walk(e.path, f"{rel}{e.name}/", out)


def content_hash(ds: Dataset) -> str:
    h = hashlib.sha256()
    for t in (ds.train.images, ds.train.labels, ds.test.images, ds.test.labels):
        a = np.ascontiguousarray(t.numpy())
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    h.update("\0".join(ds.classes).encode())
    return h.hexdigest()


def fingerprint(ds: Dataset, spec: str) -> dict[str, Any]:
    """The fingerprint of ``ds``, loaded from data source ``spec`` (``DataConfig.data``)."""
    files = _files(spec)
    fp: dict[str, Any] = {"source": ds.source, "content_sha256": content_hash(ds)}
    if files is not None:
        blob = "\n".join(f"{n}\t{s}" for n, s in files).encode()
        fp.update(
            file_count=len(files),
            file_bytes=sum(s for _, s in files),
            files_sha256=hashlib.sha256(blob).hexdigest(),
        )
        if len(files) <= MAX_LISTED:
            fp["files"] = files
    return fp


def _names(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed from ``old`` to ``new``, as short phrases; empty when nothing did."""
    out: list[str] = []
    if old.get("source") != new.get("source"):
        out.append(f"source was {old.get('source')!r}, now {new.get('source')!r}")
    if "files" in old and "files" in new:
        a, b = dict(map(tuple, old["files"])), dict(map(tuple, new["files"]))
        added = sorted(set(b) - set(a))
        removed = sorted(set(a) - set(b))
        resized = [f"{n} ({a[n]} -> {b[n]} bytes)" for n in sorted(set(a) & set(b)) if a[n] != b[n]]
        if added:
            out.append(f"files added: {_names(added)}")
        if removed:
            out.append(f"files removed: {_names(removed)}")
        if resized:
            out.append(f"files changed size: {_names(resized)}")
    elif old.get("files_sha256") != new.get("files_sha256"):
        out.append(
            f"file list changed ({old.get('file_count')} files, {old.get('file_bytes')} bytes -> "
            f"{new.get('file_count')} files, {new.get('file_bytes')} bytes)"
        )
    if old.get("content_sha256") != new.get("content_sha256"):
        out.append(
            f"decoded images differ (sha256 {str(old.get('content_sha256'))[:12]} -> "
            f"{str(new.get('content_sha256'))[:12]})"
        )
    return out


def check_unchanged(recorded: dict[str, Any] | None, now: dict[str, Any], where: str) -> None:
    """Raise DataError naming ``where`` when ``now`` differs from the recorded fingerprint.

    A run recorded before fingerprints existed (``recorded`` None) is not checked.
    """
    if not recorded:
        return
    diff = differences(recorded, now)
    if diff:
        raise DataError(
            f"{where}: data changed since this run was trained: {'; '.join(diff)}; "
            "restore the data, or train into another --out"
        )
