"""The decoded-image cache: a folder is decoded once; any change to its files decodes again;
a damaged entry or an unwritable cache folder never fails a load."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convscope.data import decoded, folders


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CONVSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(decoded, "MIN_IMAGES", 1)
    return tmp_path / "cache" / "decoded"


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = folders._decode_all

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(folders, "_decode_all", counting)
    return calls


def _same(a, b) -> None:
    assert np.array_equal(a.train.images.numpy(), b.train.images.numpy())
    assert np.array_equal(a.test.labels.numpy(), b.test.labels.numpy())
    assert a.classes == b.classes and a.source == b.source and a.meta == b.meta


def test_second_load_reads_the_cache_and_equals_decoding(
    image_folders, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = image_folders(mode="RGB")
    calls = _count_decodes(monkeypatch)
    first = folders.load_image_folders(f.root, resize=6, grayscale=True)
    again = folders.load_image_folders(f.root, resize=6, grayscale=True)
    assert len(calls) == 1 and len(list(cache.glob("*.npz"))) == 1
    _same(first, again)
    assert again.meta["preprocessing"]["resize"]["size"] == 6
    folders.load_image_folders(f.root)  # other options: another entry
    assert len(calls) == 2 and len(list(cache.glob("*.npz"))) == 2


def test_an_edited_added_or_removed_file_is_decoded_again(
    image_folders, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = image_folders()
    calls = _count_decodes(monkeypatch)
    folders.load_image_folders(f.root)
    img = f.root / "Train" / "0" / "img000.png"
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(img)  # same size on disk or not
    ds = folders.load_image_folders(f.root)
    assert len(calls) == 2 and int(ds.train.images[0].max()) == 7
    (f.root / "Train" / "1" / "img000.png").unlink()
    assert len(folders.load_image_folders(f.root).train) == len(ds.train) - 1
    assert len(calls) == 3


def test_damaged_entry_is_ignored_and_unwritable_cache_is_skipped(
    image_folders, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = image_folders()
    want = folders.load_image_folders(f.root)
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(b"not an npz")
    _same(folders.load_image_folders(f.root), want)  # decoded again (and rewritten)
    calls = _count_decodes(monkeypatch)
    _same(folders.load_image_folders(f.root), want)
    assert calls == []
    blocked = cache.parent.parent / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CONVSCOPE_CACHE", str(blocked))
    _same(folders.load_image_folders(f.root), want)
    assert calls == [1] and blocked.read_text().startswith("a file")


def test_off_switch_small_folders_and_pruning(
    image_folders, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = image_folders()
    monkeypatch.setenv(decoded.OFF_ENV, "0")
    folders.load_image_folders(f.root)
    assert not cache.exists()
    monkeypatch.delenv(decoded.OFF_ENV)
    monkeypatch.setattr(decoded, "MIN_IMAGES", 10_000)
    folders.load_image_folders(f.root)
    assert not cache.exists()
    monkeypatch.setattr(decoded, "MIN_IMAGES", 1)
    monkeypatch.setattr(decoded, "KEEP", 2)
    for size in (3, 4, 5):
        folders.load_image_folders(f.root, resize=size)
    kept = list(cache.glob("*.npz"))
    assert len(kept) == 2
    mine = cache / "notes.txt"  # not an entry: never removed
    mine.write_text("x")
    folders.load_image_folders(f.root, resize=6)
    assert mine.exists() and os.path.getsize(mine) == 1


def test_pruning_removes_only_entries_it_wrote(
    image_folders, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 (case 5): ``.npz`` files in the cache folder that convscope did not write, even
    one named like an entry or holding ``images`` and ``info``, are never pruned."""
    f = image_folders()
    cache.mkdir(parents=True)
    theirs = {
        cache / "my_arrays.npz": {"x": np.arange(3)},
        cache / ("0" * 32 + ".npz"): {"images": np.zeros((1, 2, 2), np.uint8), "info": "{}"},
    }
    for p, arrays in theirs.items():
        np.savez(p, **arrays)
        os.utime(p, ns=(0, 0))  # the oldest files in the folder
    monkeypatch.setattr(decoded, "KEEP", 1)
    for size in (3, 4, 5):
        folders.load_image_folders(f.root, resize=size)
    assert all(p.is_file() for p in theirs)
    ours = [p for p in cache.glob("*.npz") if p not in theirs]
    assert len(ours) == 1 and decoded.is_entry(ours[0])
