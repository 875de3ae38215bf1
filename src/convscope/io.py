"""Small file helpers: atomic writes, JSON lines, run-dir locks.

Everything that writes a result writes to a temporary file in the same directory and moves it
into place with :func:`os.replace`, so a crash never leaves a half-written file where a good
one was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from convscope.errors import (
    CorruptFileError,
    EnvironmentProblem,
    LockedError,
    environment_error,
    is_environment_error,
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()
log = logging.getLogger(__name__)


def default_mode(mode: int = 0o777) -> int:
    """``mode`` less the process umask (what ``mkdir`` or ``open`` would give)."""
    return mode & ~_UMASK


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an environment ``OSError`` (disk full, read-only, ...) into one naming ``path``."""
    try:
        yield
    except EnvironmentProblem:
        raise
    except OSError as e:
        if is_environment_error(e):
            raise environment_error(e, path) from None
        raise


def mkdir(path: str | Path) -> Path:
    """``mkdir -p path``; an environment error names ``path``."""
    p = Path(path)
    with writing(p):
        try:
            p.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # p or a parent is a file
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(p)) from None
    return p


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, os.replace).

    Raises:
        EnvironmentProblem: the disk is full, read-only, ...; ``path`` is left as it was.
    """
    p = Path(path)
    with writing(p):
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        _write_replace(fd, tmp, p, data)


def _write_replace(fd: int, tmp: str, p: Path, data: bytes) -> None:
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON with numpy types converted and non-finite floats made valid JSON."""
    return json.dumps(_jsonable(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (dumps(obj, indent=2) + "\n").encode())


def write_json_best_effort(path: str | Path, obj: Any) -> bool:
    """:func:`write_json`, or, when the disk has no room for a temp file, overwrite in place.

    For status files on a full disk: truncating frees the old blocks the new text reuses.
    Returns whether it was written; never raises.
    """
    blob = (dumps(obj, indent=2) + "\n").encode()
    try:
        atomic_write_bytes(path, blob)
        return True
    except OSError:
        pass
    try:
        with open(path, "r+b") as f:
            f.truncate(0)
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        return True
    except OSError as e:
        log.warning("%s: could not write (%s)", path, e)
        return False


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; an empty or invalid one is a :class:`CorruptFileError` naming it."""
    p = Path(path)
    text = p.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        what = "empty file (0 bytes)" if not text.strip() else f"invalid JSON ({e})"
        raise CorruptFileError(f"{p}: {what}; expected a JSON file written by convscope") from None
    except RecursionError:
        raise CorruptFileError(
            f"{p}: JSON nested too deeply; expected a file written by convscope"
        ) from None


def write_npz(path: str | Path, **arrays: Any) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a torn last line (from a crash mid-write) is ignored."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # torn tail
    return rows


def truncate_jsonl(path: str | Path, max_step: int) -> int:
    """Keep rows with ``row["step"] <= max_step`` (and drop a torn tail); return rows kept."""
    p = Path(path)
    if not p.exists():
        return 0
    rows = [r for r in read_jsonl(p) if int(r.get("step", -1)) <= max_step]
    atomic_write_bytes(p, "".join(dumps(r) + "\n" for r in rows).encode())
    return len(rows)


class JsonlAppender:
    """Append-only JSON-lines file, flushed after each row."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with writing(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, row: dict[str, Any]) -> None:
        with writing(self.path):
            self._f.write(dumps(row) + "\n")
            self._f.flush()

    def sync(self) -> None:
        with writing(self.path):
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            try:
                self._f.close()
            except OSError:  # a full disk: the unflushed tail is lost, the file stays readable
                log.warning("%s: could not flush the last rows", self.path)


@contextlib.contextmanager
def dir_lock(
    directory: str | Path,
    what: str = "run directory",
    advice: str = "wait for it to finish or use another --out",
) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``directory/.lock`` (released if the process dies).

    Raises:
        LockedError: another process holds it.
    """
    d = Path(directory)
    with writing(d):
        d.mkdir(parents=True, exist_ok=True)
        f = open(d / ".lock", "a+")  # noqa: SIM115 - closed below
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise LockedError(f"{d}: {what} is in use by {holder}; {advice}") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        yield
    finally:
        f.close()
