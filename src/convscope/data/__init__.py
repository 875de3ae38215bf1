"""Data sources: everything loads once into memory as a :class:`Dataset`.

Entry point: :func:`load_dataset` (``DataConfig`` in, ``Dataset`` out). Sources: image folders
(:mod:`~convscope.data.folders`), CIFAR-10 python batches (:mod:`~convscope.data.cifar`), MNIST IDX
files (:mod:`~convscope.data.idx`), downloads with checksums (:mod:`~convscope.data.download`) and
the built-in scikit-learn digits (:mod:`~convscope.data.digits`).
"""

from convscope.data.base import Dataset, Normalize, Split
from convscope.data.registry import describe_source, detect, load_dataset, load_source

__all__ = [
    "Dataset",
    "Normalize",
    "Split",
    "describe_source",
    "detect",
    "load_dataset",
    "load_source",
]
