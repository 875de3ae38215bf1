"""Shared test helpers.

* ``image_folders``: a factory fixture that writes a small ``ROOT/{Train,Test}/<class>/*.png`` tree
  (PNG via Pillow) and returns the root and the pixel arrays it wrote.
* ``real_data_root``: ``$CONVSCOPE_DATA_ROOT`` as a Path; the test is skipped when it is unset or
  missing. Never hard-code the real data path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@dataclass
class ImageFolders:
    """What :func:`write_image_folders` wrote.

    Attributes:
        root: the data set folder (holds the split folders).
        images: ``images[split][class]`` -> list of uint8 arrays ``(H, W)`` (mode L) or
            ``(H, W, 3)`` (RGB), in file order (``img000.png``, ``img001.png``, ...).
    """

    root: Path
    images: dict[str, dict[str, list[np.ndarray]]]


def write_image_folders(
    root: str | Path,
    classes: Sequence[str] = ("0", "1", "2"),
    n_train: int = 3,
    n_test: int = 2,
    size: tuple[int, int] = (8, 8),
    mode: str = "L",
    splits: tuple[str, str] = ("Train", "Test"),
    seed: int = 0,
) -> ImageFolders:
    """Write ``root/<split>/<class>/imgNNN.png`` with deterministic random pixels.

    Args:
        classes: class folder names.
        n_train, n_test: images per class in each split.
        size: ``(H, W)`` of every image.
        mode: ``"L"`` (1 channel) or ``"RGB"``.
        splits: the two split folder names.
        seed: pixel RNG seed.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    shape = size if mode == "L" else (*size, 3)
    images: dict[str, dict[str, list[np.ndarray]]] = {}
    for split, n in zip(splits, (n_train, n_test)):
        images[split] = {}
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            arrs = []
            for i in range(n):
                a = rng.integers(0, 256, size=shape, dtype=np.uint8)
                Image.fromarray(a).save(d / f"img{i:03d}.png")
                arrs.append(a)
            images[split][c] = arrs
    return ImageFolders(root, images)


@pytest.fixture
def image_folders(tmp_path: Path) -> Callable[..., ImageFolders]:
    """Factory: ``image_folders(name="ds", **kwargs)`` writes under ``tmp_path/name``."""

    def make(name: str = "ds", **kwargs) -> ImageFolders:
        return write_image_folders(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def real_data_root() -> Path:
    """``$CONVSCOPE_DATA_ROOT`` (holding CIFAR10/ and MNIST/); skip when unset or missing."""
    env = os.environ.get("CONVSCOPE_DATA_ROOT")
    if not env or not Path(env).is_dir():
        pytest.skip("CONVSCOPE_DATA_ROOT is not set to an existing folder")
    return Path(env)


# --- why tests were skipped, said once at the end of the run -----------------------------------
SKIP_HELP = {
    "CONVSCOPE_DATA_ROOT": "real-data tests: set CONVSCOPE_DATA_ROOT (or `make test DATA_ROOT=...`) "
    "to an absolute path of a folder holding CIFAR10/ and MNIST/ in the reference layout",
    "chromium": "browser tests: install Debian's chromium (`apt-get install chromium`), "
    "giving /usr/bin/chromium",
    "ray": "Ray tests: install the extra (`pip install 'convscope[ray]'`)",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per kind of skip (real data, browser, Ray) saying what to set to run them."""
    counts: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        reason = str(rep.longrepr[2]) if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        for key in SKIP_HELP:
            if key.lower() in reason.lower():
                counts[key] = counts.get(key, 0) + 1
    if counts:
        terminalreporter.section("skipped tests: how to run them")
        for key, n in counts.items():
            terminalreporter.write_line(f"{n} skipped -- {SKIP_HELP[key]}")
