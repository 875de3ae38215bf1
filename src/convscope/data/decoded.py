"""A cache of decoded image folders, so a folder of PNGs is decoded once, not once per process.

`convscope run` decodes its data in every worker process, and every `convscope analyze`,
`explore` and analysis task decodes it again: 11,000 28x28 PNGs take about 2 s, 70,000 about
12 s. The decoded pixels are kept in ``<cache>/decoded/<key>.npz`` (``<cache>``: ``$CONVSCOPE_CACHE``,
else ``~/.cache/convscope``, as for downloads).

The key is a sha256 of the loader's options and, for every image file in load order, its path,
size, modification time (ns) and inode: an edited, added, removed or renamed file is another
key, so a changed folder is decoded again (and the run's data fingerprint, computed from the
decoded pixels, still sees the change). The file holds only arrays and a JSON string, read with
``allow_pickle=False``; one that does not match the listing it is read for is ignored.

The cache is an optimisation and never an error: an unwritable or full cache folder is skipped
(logged at debug level). Folders of fewer than :data:`MIN_IMAGES` images are not cached. At most
:data:`KEEP` entries are kept; older ones are removed, and only files this module wrote, proved
by their content (a ``<key>.npz`` whose ``info`` carries ``"schema": SCHEMA``): any other file in
``<cache>/decoded`` stays. ``CONVSCOPE_DECODED_CACHE=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from convscope import io

log = logging.getLogger(__name__)

VERSION = 1  # bump when the decoded arrays for the same files could differ
MIN_IMAGES = 1000
KEEP = 8
OFF_ENV = "CONVSCOPE_DECODED_CACHE"
SCHEMA = "convscope.decoded/1"  # in every entry's info: the proof that this module wrote it
_ENTRY = re.compile(r"^[0-9a-f]{32}\.npz$")


def cache_dir() -> Path:
    from convscope.data.download import default_cache_dir

    return default_cache_dir() / "decoded"


def enabled(n_images: int) -> bool:
    return n_images >= MIN_IMAGES and os.environ.get(OFF_ENV, "1") != "0"


def key(paths: list[Path], options: dict[str, Any]) -> str | None:
    """The cache key of decoding ``paths`` (in order) with ``options``; None if one cannot be
    stat'ed (the decoder then reports it)."""
    h = hashlib.sha256(json.dumps({"v": VERSION, **options}, sort_keys=True).encode())
    try:
        for p in paths:
            st = p.stat()
            h.update(f"\0{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}".encode())
    except OSError:
        return None
    return h.hexdigest()[:32]


def load(
    k: str, n_images: int, required: tuple[str, ...] = ()
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """``(images, info)`` cached under ``k``, or None (absent, unreadable, or not ``n_images``
    images with ``required`` keys in ``info``)."""
    path = cache_dir() / f"{k}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            images, info = z["images"], json.loads(str(z["info"]))
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged or foreign file: decode again
        log.debug("%s: ignored (%s)", path, e)
        return None
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[0] != n_images:
        log.debug("%s: ignored (shape %s for %d images)", path, images.shape, n_images)
        return None
    if not isinstance(info, dict) or any(r not in info for r in required):
        return None
    info.pop("schema", None)
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept by _prune
    return images, info


def save(k: str, images: np.ndarray, info: dict[str, Any]) -> None:
    """Write the entry (atomically); skip quietly when the cache folder cannot take it."""
    d = cache_dir()
    try:
        import io as _io

        buf = _io.BytesIO()
        np.savez(buf, images=images, info=np.array(json.dumps({**info, "schema": SCHEMA})))
        io.atomic_write_bytes(d / f"{k}.npz", buf.getvalue())
        _prune(d)
    except Exception as e:  # never fail a data load because of the cache
        log.debug("%s: not cached (%s)", d, e)


def is_entry(path: Path) -> bool:
    """Whether ``path`` is an entry this module wrote (its name, and ``SCHEMA`` in its info)."""
    if not _ENTRY.match(path.name) or path.is_symlink() or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return set(z.files) == {"images", "info"} and (
                json.loads(str(z["info"])).get("schema") == SCHEMA
            )
    except Exception:  # noqa: BLE001 - not ours, or damaged: left alone
        return False


def _prune(d: Path) -> None:
    """Keep the :data:`KEEP` most recently used entries; remove older ones this module wrote."""
    entries = [p for p in d.glob("*.npz") if is_entry(p)]
    entries.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
