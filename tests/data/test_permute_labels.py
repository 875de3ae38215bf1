"""``permute_labels``: the data-randomisation twin's training labels (Adebayo et al. 2018 §3.2)."""

from __future__ import annotations

import torch

from convscope.config import from_flat
from convscope.data.registry import load_dataset
from convscope.train.precision import resolve_config, run_hash


def test_permuted_labels_shuffle_the_training_split_only() -> None:
    plain = load_dataset(from_flat({"data": "digits"}).data)
    twin = load_dataset(from_flat({"data": "digits", "permute_labels": 3}).data)
    again = load_dataset(from_flat({"data": "digits", "permute_labels": 3}).data)
    other = load_dataset(from_flat({"data": "digits", "permute_labels": 4}).data)
    assert torch.equal(twin.train.images, plain.train.images)
    assert torch.equal(twin.test.labels, plain.test.labels)
    assert twin.train.class_counts(10) == plain.train.class_counts(10)  # a permutation
    assert torch.equal(twin.train.labels, again.train.labels)  # seeded
    assert not torch.equal(twin.train.labels, other.train.labels)
    assert (twin.train.labels == plain.train.labels).float().mean() < 0.3  # ~1/10 by chance
    assert "training labels permuted (seed 3)" in twin.source


def test_a_twin_is_a_different_run_and_the_default_keeps_old_identities() -> None:
    base = from_flat({"data": "digits"})
    twin = from_flat({"data": "digits", "permute_labels": 0})
    assert run_hash(base) != run_hash(twin)
    assert "permute_labels" not in resolve_config(base).identity_dict()["data"]
