"""Image folders: ``ROOT/{Train,Test}/<class>/<image>`` (also lower-case ``train``/``test``).

The reference layout is ``ROOT/Train/<0-9>/ImageNNNNN.png`` and ``ROOT/Test/<0-9>/...``.

Rules (each violation is a one-line :class:`~convscope.errors.DataError` naming the file or
folder):

* Class order is numeric when every class folder name is an integer (so ``10`` comes after
  ``9``), alphabetical otherwise; label ``i`` is the ``i``-th class. Train and Test must have the
  same class folders.
* Files and folders whose name starts with ``.`` are ignored; so are files without an image
  extension (logged, counted in ``meta["ignored_files"]``). Images within a class are read in
  natural name order (``img2`` before ``img10``), which is the order per-class subsets use.
* Every image is fully decoded (``Image.load()``), so truncated, empty or non-image files fail
  here rather than during training; a PNG must also end with its IEND chunk (Pillow stops once
  it has the pixels). ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is never set.
* Without ``resize``: every image must be mode ``L`` (1 channel) or ``RGB`` (3 channels), and all
  must share the mode and size of the first image. With ``resize``: other modes are converted
  (``1``/``LA`` -> ``L``, alpha dropped; 16-bit ``I;16``/``I`` -> ``L`` keeping the top 8 bits;
  ``P`` -> ``RGB``, or ``L`` when its colours are all gray; ``RGBA``/``CMYK``/... -> ``RGB``), a
  mix of 1- and 3-channel images becomes 3 channels (gray copied to R, G, B) unless grayscale is
  asked for, and every image is resized to ``resize x resize``.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from convscope.data import limits
from convscope.data.base import Dataset
from convscope.data.folder_listing import (  # re-exported: the listing half of this loader
    IMAGE_EXTENSIONS,
    LAYOUT,
    SPLIT_DIR_NAMES,
    class_order,
    find_split_dirs,
    list_classes,
    looks_like_image_folders,
    ordered_paths,
    split_dirs,
)
from convscope.data.preprocess import (
    GRAYSCALE_METHOD,
    RESIZE_METHOD,
    luma,
    make_dataset,
    resize_hwc,
)
from convscope.errors import DataError

log = logging.getLogger(__name__)
__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUT",
    "SPLIT_DIR_NAMES",
    "class_order",
    "find_split_dirs",
    "load_image_folders",
    "looks_like_image_folders",
]

_READ_BATCH = 64  # files read by one I/O task
_READ_AHEAD = 16  # batches in flight while the main thread decodes
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # length 0, type, CRC: the last chunk


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(
            f"{path}: cannot read file ({e.strerror or e}); expected a readable image"
        ) from None


def _read_many(paths: list[Path]) -> list[bytes]:
    return [_read_bytes(p) for p in paths]


def _iter_bytes(paths: list[Path]) -> Iterator[tuple[Path, bytes]]:
    """Yield ``(path, bytes)`` in order while I/O threads read ahead (reads release the GIL).

    Files are read in batches of :data:`_READ_BATCH` per task (one task per file costs more in
    thread hand-offs than it saves on a warm page cache); at most :data:`_READ_AHEAD` batches
    are in flight, which bounds memory.
    """
    batches = [paths[i : i + _READ_BATCH] for i in range(0, len(paths), _READ_BATCH)]
    workers = min(4, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as ex:
        pending: deque[tuple[list[Path], Future[list[bytes]]]] = deque()
        todo = iter(batches)
        for batch in todo:
            pending.append((batch, ex.submit(_read_many, batch)))
            if len(pending) >= _READ_AHEAD:
                break
        while pending:
            batch, fut = pending.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((nxt, ex.submit(_read_many, nxt)))
            yield from zip(batch, fut.result())


def _to_l_or_rgb(im: Image.Image) -> tuple[np.ndarray, str | None]:
    """Convert any mode to an ``(H, W)`` L or ``(H, W, 3)`` RGB uint8 array; say what was done."""
    mode = im.mode
    if mode == "L":
        return np.asarray(im), None
    if mode == "RGB":
        return np.asarray(im), None
    if mode in ("1", "LA", "La"):
        return np.asarray(im.convert("L")), f"{mode}->L"
    if mode == "I" or mode.startswith("I;16"):
        a = np.asarray(im).astype(np.int64)
        return (np.clip(a, 0, 65535) >> 8).astype(np.uint8), f"{mode}->L (top 8 of 16 bits)"
    if mode == "P" or mode == "PA":
        rgb = np.asarray(im.convert("RGB"))
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return np.ascontiguousarray(rgb[..., 0]), f"{mode}->L (gray palette)"
        return rgb, f"{mode}->RGB"
    if mode == "F":
        raise ValueError("floating-point mode 'F' has no defined 0..255 range")
    return np.asarray(im.convert("RGB")), f"{mode}->RGB"


def _decode(path: Path, data: bytes, convert: bool) -> tuple[np.ndarray, str | None]:
    """Fully decode one image to ``(H, W)`` or ``(H, W, 3)`` uint8."""
    if not data:
        raise DataError(f"{path}: empty file (0 bytes); expected an image")
    if data.startswith(_PNG_SIGNATURE) and data.rfind(_PNG_IEND) == -1:
        # Pillow stops reading once it has every pixel, so a PNG cut after its pixel data (losing
        # only checksums and the end marker) would pass .load(); the end marker must be there.
        raise DataError(f"{path}: truncated PNG (no IEND chunk); expected a complete image file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            limits.check_image_pixels(str(path), *im.size)  # from the header, before decoding
            im.load()  # decode everything now: a truncated file fails here
            if im.mode in ("L", "RGB"):
                return np.asarray(im), None
            if not convert:
                raise DataError(
                    f"{path}: image mode '{im.mode}', expected 'L' (grayscale) or 'RGB'; "
                    "set resize to convert other modes"
                )
            return _to_l_or_rgb(im)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a recognised image file; expected e.g. a PNG") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, zlib/struct errors
        msg = (str(e).splitlines() or [""])[0]
        raise DataError(
            f"{path}: cannot decode image ({type(e).__name__}: {msg}); expected a complete image file"
        ) from None


def _describe_shape(a: np.ndarray) -> str:
    return f"{a.shape[0]}x{a.shape[1]} {'RGB' if a.ndim == 3 else 'L'}"


def load_image_folders(
    root: str | Path,
    *,
    resize: int | None = None,
    grayscale: bool = False,
    name: str | None = None,
) -> Dataset:
    """Load ``ROOT/{Train,Test}/<class>/*`` into memory.

    Args:
        root: the folder holding ``Train`` and ``Test`` (or ``train`` and ``test``).
        resize: when set, convert odd modes and resize every image to ``resize x resize``
            (bilinear); when ``None``, images must already share one size and mode.
        grayscale: only used with ``resize``: convert RGB images to BT.601 luma before resizing
            (without ``resize``, :func:`~convscope.data.preprocess.apply_options` does it).
        name: data set name; default the folder name.

    Returns:
        A :class:`Dataset` with uint8 images ``(N, C, H, W)`` (C = 1 for 'L', 3 for 'RGB').
    """
    root = Path(os.path.abspath(Path(root).expanduser()))
    train_dir, test_dir = split_dirs(root)
    listed, classes, ignored = list_classes(root, train_dir, test_dir)
    if ignored:
        log.warning("%s: ignored %d non-image file(s), e.g. %s", root, len(ignored), ignored[0])
    paths, labels, split_sizes = ordered_paths(listed, classes)

    from convscope.data import decoded

    opts = {"loader": "image_folders", "resize": resize, "grayscale": grayscale}
    k = decoded.key(paths, opts) if decoded.enabled(len(paths)) else None
    hit = decoded.load(k, len(paths), ("pre", "notes", "meta_shape", "conversions")) if k else None
    if hit is not None:
        stacked, info = hit
        limits.check_data_bytes(str(root), stacked.nbytes, f"{len(paths)} images")
        pre, notes, meta_shape = info["pre"], info["notes"], info["meta_shape"]
        conversions: Counter[str] = Counter(info["conversions"])
    else:
        stacked, pre, notes, meta_shape, conversions = _decode_all(root, paths, resize, grayscale)
        if k:
            info = {"pre": pre, "notes": notes, "meta_shape": meta_shape}
            decoded.save(k, stacked, {**info, "conversions": dict(conversions)})
    nchw = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
    y = np.asarray(labels, dtype=np.int64)
    n_tr = split_sizes["train"]
    meta: dict[str, Any] = {
        "format": "image_folders",
        "path": str(root),
        "train_dir": str(train_dir),
        "test_dir": str(test_dir),
        "ignored_files": len(ignored),
        "preprocessing": pre,
    }
    if meta_shape is not None:
        meta["source_image_shape"] = meta_shape
    if conversions:
        meta["mode_conversions"] = dict(conversions)
    return make_dataset(
        name or root.name,
        f"image folders at {root}",
        classes,
        (nchw[:n_tr], y[:n_tr]),
        (nchw[n_tr:], y[n_tr:]),
        meta,
        notes,
    )


def _decode_all(
    root: Path, paths: list[Path], resize: int | None, grayscale: bool
) -> tuple[np.ndarray, dict[str, Any], list[str], Any, Counter[str]]:
    """Decode ``paths`` into one ``(N, H, W[, 3])`` uint8 array; with ``resize``, convert and
    resize each. Returns ``(stacked, preprocessing, notes, source shapes, conversions)``."""
    convert = resize is not None
    arrays: list[np.ndarray] = []
    conversions: Counter[str] = Counter()
    first: np.ndarray | None = None
    decoded = 0
    for path, data in _iter_bytes(paths):
        arr, conv = _decode(path, data, convert)
        decoded += arr.nbytes
        limits.check_data_bytes(str(root), decoded, f"{len(paths)} images (so far)")
        if conv:
            conversions[conv] += 1
        if first is None:
            first = arr
        elif not convert and arr.shape != first.shape:
            if arr.ndim != first.ndim:
                raise DataError(
                    f"{path}: image mode '{'RGB' if arr.ndim == 3 else 'L'}' but {paths[0]} is "
                    f"'{'RGB' if first.ndim == 3 else 'L'}'; all images must share one mode "
                    "(set resize to convert)"
                )
            raise DataError(
                f"{path}: image is {arr.shape[0]}x{arr.shape[1]} (HxW) but {paths[0]} is "
                f"{first.shape[0]}x{first.shape[1]}; all images must be the same size "
                "(set resize to resize them)"
            )
        arrays.append(arr)

    pre: dict[str, Any] = {}
    notes: list[str] = []
    if resize is not None:
        sizes = Counter(_describe_shape(a) for a in arrays)
        colour = any(a.ndim == 3 for a in arrays)
        to_gray = grayscale or not colour
        n_resized = 0
        out = np.empty((len(arrays), resize, resize) + (() if to_gray else (3,)), dtype=np.uint8)
        for i, a in enumerate(arrays):
            if a.ndim == 3 and to_gray:
                a = luma(a, axis=2)[:, :, 0]
            elif a.ndim == 2 and not to_gray:
                a = np.repeat(a[:, :, None], 3, axis=2)
            if a.shape[:2] != (resize, resize):
                n_resized += 1
                a = resize_hwc(np.ascontiguousarray(a), resize)
            out[i] = a
        stacked = out
        if colour and to_gray:
            pre["grayscale"] = GRAYSCALE_METHOD
        n_gray = sum(a.ndim == 2 for a in arrays)
        if not to_gray and n_gray:
            conversions["L->RGB (mixed modes)"] += n_gray
        pre["resize"] = {
            "size": resize,
            "from": dict(sizes),
            "method": RESIZE_METHOD,
            "images_resized": n_resized,
        }
        if conversions:
            notes.append(
                "modes converted: " + ", ".join(f"{k} x{v}" for k, v in sorted(conversions.items()))
            )
        meta_shape: Any = dict(sizes)
    else:
        stacked = np.stack(arrays)
        meta_shape = None
    del arrays
    return stacked, pre, notes, meta_shape, conversions
