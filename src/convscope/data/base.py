"""The in-memory data set every source loads into.

Images are stored once, as ``uint8`` tensors of shape ``(N, C, H, W)``; labels are ``int64``
of shape ``(N,)``. Nothing is decoded again per epoch. Normalisation is a transform applied to
batches (:class:`Normalize`), never baked into the stored tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from convscope.errors import DataError


@dataclass(frozen=True)
class Split:
    """One split of a data set.

    Attributes:
        images: ``(N, C, H, W)`` uint8.
        labels: ``(N,)`` int64, values in ``[0, num_classes)``.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise DataError(
                f"labels must be int64 of shape ({self.images.shape[0]},), "
                f"got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()


@dataclass(frozen=True)
class Dataset:
    """A loaded data set: train and test splits, class names, and where it came from.

    Attributes:
        name: short name used in outputs, e.g. ``"CIFAR10"``, ``"MNIST"``, ``"digits"``.
        train, test: the splits; same ``(C, H, W)``.
        classes: class names, index ``i`` is label ``i``.
        source: one human-readable line saying what this is and where it was read from. The
            built-in data set says so here, and every output that shows a data set shows this.
        meta: anything else worth recording with a run (paths, preprocessing, checksums).
    """

    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.train.images.shape[1:] != self.test.images.shape[1:]:
            raise DataError(
                f"{self.name}: train images are {tuple(self.train.images.shape[1:])} but test "
                f"images are {tuple(self.test.images.shape[1:])}; expected the same (C, H, W)"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training images, on the [0, 1] scale (computed
        once per data set: every study of an ``analyze`` call asks for it)."""
        mean, std = self._channel_stats
        return list(mean), list(std)

    @cached_property
    def _channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        x = self.train.images.to(torch.float64)
        x.div_(255.0)  # in place: the same values, without a second copy of the whole split
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3))
        return tuple(mean.tolist()), tuple(std.tolist())

    def describe(self) -> dict[str, Any]:
        """Sizes, classes, counts and pixel statistics, as ``convscope data`` prints them."""
        mean, std = self.channel_stats()
        return {
            "name": self.name,
            "source": self.source,
            "image_shape": list(self.image_shape),
            "classes": list(self.classes),
            "train_size": len(self.train),
            "test_size": len(self.test),
            "train_counts": self.train.class_counts(self.num_classes),
            "test_counts": self.test.class_counts(self.num_classes),
            "pixel_mean": mean,
            "pixel_std": std,
            "pixel_min": int(self.train.images.min()),
            "pixel_max": int(self.train.images.max()),
            **({"meta": self.meta} if self.meta else {}),
        }


class Normalize:
    """Batch transform: uint8 ``(B, C, H, W)`` -> float32 on [0, 1], optionally standardised.

    Args:
        mean, std: per-channel statistics on the [0, 1] scale; ``None`` means scale only.
    """

    def __init__(self, mean: list[float] | None = None, std: list[float] | None = None) -> None:
        self.mean = mean
        self.std = std
        self._cache: dict[tuple[torch.device, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(torch.float32).div_(255.0)
        if self.mean is None or self.std is None:
            return x
        key = (x.device, x.shape[1])
        if key not in self._cache:
            m = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
            s = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
            self._cache[key] = (m, s.clamp_min(1e-8))
        m, s = self._cache[key]
        return x.sub_(m).div_(s)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}
