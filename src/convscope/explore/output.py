"""Where ``convscope explore`` writes: a temporary sibling folder moved into place at the end.

* The site's marker ``.convscope-explore`` is JSON with a ``schema``, an ``id`` and the
  ``files`` the build wrote; a folder without such a marker is refused, and a rebuild removes
  only files inside the site that the old marker lists.
* Every file is written through :func:`convscope.paths.under`, so a symlinked subfolder of the
  site that leads elsewhere is refused, never written through.
* The temporary folder carries its own marker, locked while the build runs: a build killed with
  ``kill -9`` leaves one behind, and the next build removes it (the lock is free then).
* Folders get the mode the umask gives (``mkdtemp`` alone would make the site 0700), and a full
  disk names the file that could not be written.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from convscope import io, paths
from convscope.errors import ConvscopeError

MARKER = ".convscope-explore"
SCHEMA = "convscope.explore/1"
TMP_MARKER = ".convscope-explore-build"
TMP_SCHEMA = "convscope.explore-build/1"


def read_site_marker(out: Path) -> dict[str, Any] | None:
    """The site's marker, or None when ``out`` holds none convscope wrote. A marker of a build
    before schema 1 (``run``, ``version`` and ``files``, no schema) is read as one."""
    m = paths.read_marker(out / MARKER, SCHEMA)
    if m is None and (out / MARKER).is_file() and not (out / MARKER).is_symlink():
        with contextlib.suppress(OSError, ValueError):
            old = io.read_json(out / MARKER)
            if isinstance(old, dict) and "schema" not in old and {"run", "version"} <= set(old):
                files = old.get("files")
                if isinstance(files, list) and all(isinstance(f, str) for f in files):
                    return old
    return m


class SiteWriter:
    """Writes files under the temporary site folder and counts their bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bytes = 0
        self.files = 0
        self.written: list[str] = []
        self._once: set[str] = set()

    def once(self, rel: str, data: Any) -> str:
        """Write ``data()`` (bytes) the first time ``rel`` is asked for; return ``rel``."""
        if rel not in self._once:
            self.write(rel, data())
            self._once.add(rel)
        return rel

    def write(self, rel: str, data: bytes | str) -> None:
        p = paths.under(self.root, rel)
        b = data.encode() if isinstance(data, str) else data
        with io.writing(p):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b)
        self.bytes += len(b)
        self.files += 1
        self.written.append(rel)


class Staging:
    """The temporary sibling folder of ``out``: created, locked, cleaned up or moved into place."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tmp: Path | None = None
        self._lock: Any = None

    def __enter__(self) -> Path:
        out = self.out
        if out.exists() and not out.is_dir():
            raise ConvscopeError(f"{out}: is a file; expected a folder for the site (--out)")
        if out.is_dir() and any(out.iterdir()) and read_site_marker(out) is None:
            raise ConvscopeError(
                f"{out}: exists and was not written by convscope explore (no {MARKER} marker "
                "of its own); choose another --out"
            )
        io.mkdir(out.parent)
        remove_stale(out)
        with io.writing(out.parent):
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
            os.chmod(self.tmp, io.default_mode(0o777))
            paths.write_marker(self.tmp / TMP_MARKER, TMP_SCHEMA, pid=os.getpid())
            self._lock = open(self.tmp / TMP_MARKER)  # noqa: SIM115 - closed in __exit__
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self.tmp

    def commit(self, files: list[str], **info: Any) -> None:
        """Write the site's marker and move the site into place (see :func:`move_into_place`)."""
        assert self.tmp is not None
        paths.write_marker(self.tmp / MARKER, SCHEMA, files, **info)
        (self.tmp / TMP_MARKER).unlink()
        move_into_place(self.tmp, self.out, files)

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.close()
        if self.tmp is not None and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)


def remove_stale(out: Path) -> list[Path]:
    """Remove temporary folders of earlier builds of ``out`` that died (their marker is ours and
    its lock is free); return them."""
    removed = []
    for d in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        if d.is_symlink() or not d.is_dir():
            continue
        m = d / TMP_MARKER
        if paths.read_marker(m, TMP_SCHEMA) is None:
            continue
        with open(m) as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a build running now
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def move_into_place(tmp: Path, out: Path, files: list[str]) -> None:
    """A new site: one rename. A rebuild: each new file moved over the old one, then the files
    the previous build listed and this one did not are removed; others are left alone."""
    if not out.exists():
        with io.writing(out):
            os.replace(tmp, out)
        return
    old = read_site_marker(out) or {}
    moves = [(rel, paths.under(out, rel)) for rel in [*files, MARKER]]  # all checked first
    keep = {dst for _, dst in moves}
    for rel, dst in moves:
        with io.writing(dst):
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, dst)
    for p in paths.listed_files(out, old):
        if p not in keep:
            p.unlink()
            with contextlib.suppress(OSError):
                p.parent.rmdir()  # only when empty
    shutil.rmtree(tmp, ignore_errors=True)
