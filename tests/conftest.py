"""Shared test helpers.

* ``image_folders``: a factory fixture that writes a small ``ROOT/{Train,Test}/<class>/*.png`` tree
  (PNG via Pillow) and returns the root and the pixel arrays it wrote.
* ``real_data_root``: ``$CONVSCOPE_DATA_ROOT`` as a Path; the test is skipped when it is unset or
  missing. Never hard-code the real data path.
* ``across_run``: :func:`make_across_run`, a run directory built by hand (activation records and
  snapshots) whose dead units, settle steps and weight changes are known.
* ``browser``: one headless Debian Chromium under Playwright for the session
  (``tests/browser.py``: marks, pages that record errors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from convscope import io
from convscope.analysis.gabor import gabor
from convscope.config import RunConfig
from convscope.runs import snapshot_name


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


def pytest_configure(config: pytest.Config) -> None:
    """Keep what the suite caches (decoded image folders, downloads) out of the user's
    ``~/.cache/convscope``: a temporary folder unless ``$CONVSCOPE_CACHE`` is set."""
    import tempfile

    if "CONVSCOPE_CACHE" not in os.environ:
        os.environ["CONVSCOPE_CACHE"] = _TEST_CACHE[0] = tempfile.mkdtemp(
            prefix="convscope-test-cache-"
        )


_TEST_CACHE: list[str] = [""]  # the folder pytest_configure made (removed at the end)


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    if _TEST_CACHE[0]:
        shutil.rmtree(_TEST_CACHE[0], ignore_errors=True)


# --- why tests were skipped, said once at the end of the run -----------------------------------
SKIP_HELP = {
    "CONVSCOPE_DATA_ROOT": "real-data tests: set CONVSCOPE_DATA_ROOT (or `make test DATA_ROOT=...`) "
    "to an absolute path of a folder holding CIFAR10/ and MNIST/ in the reference layout",
    "chromium": "browser tests: install Debian's chromium (`apt-get install chromium`), "
    "giving /usr/bin/chromium, and the dev extra (Playwright); no browser is downloaded",
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


# --- browser tests: one Debian chromium under Playwright per session (tests/browser.py) ------
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The session's headless Chromium (skips when chromium or playwright is missing)."""
    from browser import launch

    with launch() as b:
        yield b


# --- run directories with known answers (across-group analysis) ------------------------------
ACROSS_STEPS = [0, 10, 20, 30, 40]
ACROSS_CONV, ACROSS_FC = 8, 10
GABORS = [  # amplitude, x0, y0, sigma_x, sigma_y, theta, frequency, phase, offset
    [1.0, 0.0, 0.0, 1.2, 1.6, 0.3, 0.25, 0.0, 0.0],
    [0.8, 0.3, -0.2, 1.0, 1.4, 1.2, 0.2, 1.0, 0.1],
    [1.2, -0.4, 0.1, 1.5, 1.1, 2.4, 0.3, -0.5, 0.0],
]


def across_init_state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "conv1.weight": torch.randn(3, 1, 5, 5, generator=g),
        "conv1.bias": torch.randn(3, generator=g),
        "fc1.weight": torch.randn(ACROSS_FC, 12, generator=g),
        "fc1.bias": torch.randn(ACROSS_FC, generator=g),
        "fc2.weight": torch.randn(4, ACROSS_FC, generator=g),
        "fc2.bias": torch.randn(4, generator=g),
    }


def _layer(unit_max: list[float], mean: float) -> dict[str, object]:
    return {"mean": mean, "std": 1.0, "zero_fraction": 0.5, "unit_max": unit_max}


def make_across_run(
    root: Path,
    name: str,
    seed: int,
    dead_conv: int,
    dead_fc: int,
    scale: dict[str, float],
    settle_at: int = 20,
) -> Path:
    """A run whose last record has ``dead_conv`` of 8 conv1 maps and ``dead_fc`` of 10 fc1
    units dead (half of them from step 10, the rest from step 30), whose conv1 mean settles at
    ``settle_at`` and whose final weights are ``(1 + scale[module]) * W_0``."""
    d = root / name
    cfg = RunConfig()
    cfg.train.seed = seed
    cfg.train.iterations = ACROSS_STEPS[-1]
    io.write_json(d / "config.json", cfg.to_dict())
    io.write_json(d / "summary.json", {"status": "completed"})
    rows = []

    def maxima(s: int, n_units: int, n_dead: int) -> list[float]:
        now = n_dead // 2 if 10 <= s < 30 else (n_dead if s >= 30 else 0)
        return [0.0 if i < now else 1.0 + i for i in range(n_units)]

    for s in ACROSS_STEPS:
        conv_mean = 1.0 if s < settle_at else 3.0
        rows.append(
            {
                "step": s,
                "n_images": 16,
                "layers": {
                    "Layer_1_Activations": _layer(maxima(s, ACROSS_CONV, dead_conv), conv_mean),
                    "Layer_2_Activations": _layer(maxima(s, ACROSS_FC, dead_fc), 2.0),
                    "Logits": {**_layer([1.0] * 4, 0.0), "zero_fraction": 0.0},
                },
                "points": {
                    "Layer_1_Activations": {"layer": "conv1", "kind": "conv"},
                    "Layer_2_Activations": {"layer": "fc1", "kind": "linear"},
                    "Logits": {"layer": "fc2", "kind": "logits"},
                },
            }
        )
    (d / "activations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    init = across_init_state(seed)
    (d / "checkpoints").mkdir(parents=True)
    for s, share in ((0, 0.0), (20, 0.5), (40, 1.0)):
        state = {k: v * (1.0 + share * scale[k.split(".")[0]]) for k, v in init.items()}
        if s == 40:  # trained first-layer filters: exact Gabor functions
            state["conv1.weight"] = torch.tensor(
                np.stack([gabor(p, (5, 5))[None] for p in GABORS]), dtype=torch.float32
            )
            state["conv1.bias"] = init["conv1.bias"] * (1.0 + scale["conv1"])
        torch.save({"model": state, "step": s}, d / "checkpoints" / snapshot_name(s))
    return d


@pytest.fixture(scope="session")
def across_run() -> Callable[..., Path]:
    """:func:`make_across_run`."""
    return make_across_run
