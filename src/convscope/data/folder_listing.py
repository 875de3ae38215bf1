"""Listing image folders: where ``Train``/``Test`` are, which class folders and image files they
hold, and in which order (the rules are in :mod:`convscope.data.folders`' docstring).

Nothing here opens an image; :mod:`convscope.data.folders` reads and decodes what is listed.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Any

from convscope.errors import DataError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
SPLIT_DIR_NAMES = (("Train", "Test"), ("train", "test"))
LAYOUT = "ROOT/Train/<class>/<image>.png and ROOT/Test/<class>/<image>.png"
_INT_NAME = re.compile(r"-?[0-9]+")


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _natural_key(name: str) -> tuple[Any, ...]:
    """``img2`` < ``img10``; ties broken by the plain name so the order is total."""
    parts = re.split(r"([0-9]+)", name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)) + (name,)


def class_order(names: list[str]) -> list[str]:
    """Numeric order when every name is an integer (``"10"`` after ``"9"``), else alphabetical."""
    if names and all(_INT_NAME.fullmatch(n) for n in names):
        return sorted(names, key=lambda n: (int(n), n))
    return sorted(names)


def find_split_dirs(root: Path) -> tuple[Path | None, Path | None]:
    """``(train_dir, test_dir)``, each ``None`` when absent; ``Train``/``Test`` win over lower case."""
    found: list[Path | None] = [None, None]
    for pair in SPLIT_DIR_NAMES:
        for i, name in enumerate(pair):
            p = root / name
            if found[i] is None and p.is_dir():
                found[i] = p
    return found[0], found[1]


def looks_like_image_folders(root: Path) -> bool:
    """True when ``root`` has a Train/Test (or train/test) folder: the folder loader owns it."""
    tr, te = find_split_dirs(root)
    return tr is not None or te is not None


def _check_link(entry: os.DirEntry[str]) -> None:
    """Refuse a symbolic link that loops (or cannot be followed), naming it."""
    if entry.is_symlink():
        try:
            os.stat(entry.path)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise DataError(
                    f"{entry.path}: symbolic links form a loop; expected a file or folder"
                ) from None


def _list_split(split_dir: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Class folder name -> image paths (natural order), and the ignored non-image files."""
    classes: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    with os.scandir(split_dir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if _hidden(entry.name):
            continue
        _check_link(entry)
        if not entry.is_dir():
            ignored.append(Path(entry.path))
            continue
        files: list[Path] = []
        with os.scandir(entry.path) as cit:
            for f in cit:
                if not _hidden(f.name):
                    _check_link(f)
                if _hidden(f.name) or f.is_dir():
                    continue
                if Path(f.name).suffix.lower() in IMAGE_EXTENSIONS:
                    files.append(Path(f.path))
                else:
                    ignored.append(Path(f.path))
        files.sort(key=lambda p: _natural_key(p.name))
        classes[entry.name] = files
    return classes, ignored


def split_dirs(root: Path) -> tuple[Path, Path]:
    """``(train_dir, test_dir)`` of an existing folder ``root``, or one clear DataError."""
    if not root.is_dir():
        what = "not a directory" if root.exists() else "no such directory"
        raise DataError(f"{root}: {what}; expected image folders {LAYOUT}")
    train_dir, test_dir = find_split_dirs(root)
    if train_dir is None or test_dir is None:
        if train_dir is None and test_dir is None:
            raise DataError(
                f"{root}: no Train/ and Test/ (or train/ and test/) folders; expected {LAYOUT}"
            )
        have, miss = ("Train", "Test") if test_dir is None else ("Test", "Train")
        raise DataError(f"{root}: found {have}/ but no {miss}/ folder; expected {LAYOUT}")
    return train_dir, test_dir


def list_classes(
    root: Path, train_dir: Path, test_dir: Path
) -> tuple[dict[str, dict[str, list[Path]]], tuple[str, ...], list[Path]]:
    """Per split, class folder -> image paths; the class order; the ignored non-image files.

    Every class folder must hold images, and Train and Test the same class folders.
    """
    listed: dict[str, dict[str, list[Path]]] = {}
    ignored: list[Path] = []
    for split, d in (("train", train_dir), ("test", test_dir)):
        classes, ign = _list_split(d)
        ignored += ign
        if not classes:
            raise DataError(f"{d}: no class folders; expected {d}/<class>/<image>.png")
        for cname, files in classes.items():
            if not files:
                raise DataError(f"{d / cname}: empty class folder; expected image files (*.png)")
        listed[split] = classes
    tr_set, te_set = set(listed["train"]), set(listed["test"])
    if tr_set != te_set:
        parts = []
        if tr_set - te_set:
            parts.append(
                f"{test_dir} lacks class folders {', '.join(class_order(sorted(tr_set - te_set)))}"
            )
        if te_set - tr_set:
            parts.append(
                f"{train_dir} lacks class folders {', '.join(class_order(sorted(te_set - tr_set)))}"
            )
        raise DataError(f"{root}: Train and Test have different classes: {'; '.join(parts)}")
    return listed, tuple(class_order(list(tr_set))), ignored


def ordered_paths(
    listed: dict[str, dict[str, list[Path]]], classes: tuple[str, ...]
) -> tuple[list[Path], list[int], dict[str, int]]:
    """Every image path, train then test, class by class; its label; each split's size."""
    paths: list[Path] = []
    labels: list[int] = []
    split_sizes = {}
    for split in ("train", "test"):
        n0 = len(paths)
        for label, cname in enumerate(classes):
            files = listed[split][cname]
            paths += files
            labels += [label] * len(files)
        split_sizes[split] = len(paths) - n0
    return paths, labels, split_sizes
