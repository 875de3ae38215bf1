"""Hostile data: symlink loops, overflowing IDX headers, memory bombs, Python-3 CIFAR pickles.

Issue 10: bugs 6 and 8, the weak spots "memory bombs" and "CIFAR-10 batches pickled by
Python 3 with protocol 2".
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from convscope.cli import main
from convscope.data import cifar, limits
from convscope.data.idx import IMAGES_MAGIC, read_idx
from convscope.errors import DataError


def err_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and "internal error" not in lines[0]
    return lines[0]


# --- bug 6: symlink loops -------------------------------------------------------------------
@pytest.mark.parametrize("where", ["class", "file", "root"])
def test_symlink_loop_is_exit_2_naming_the_path(
    tmp_path: Path, image_folders: Any, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    image_folders("d")
    if where == "class":
        bad = tmp_path / "d" / "Train" / "9"
        os.symlink(bad, bad)
        src = tmp_path / "d"
    elif where == "file":
        bad = tmp_path / "d" / "Train" / "0" / "loop.png"
        os.symlink(bad, bad)
        src = tmp_path / "d"
    else:
        bad = tmp_path / "loop"
        os.symlink(bad, bad)
        src = bad
    assert main(["data", str(src)]) == 2
    line = err_line(capsys)
    assert str(bad) in line and "symbolic links" in line


# --- bug 8: IDX dimensions that overflow ------------------------------------------------------
def test_idx_dimensions_that_overflow_are_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(struct.pack(">IIII", IMAGES_MAGIC, 2**31, 2**31, 4) + b"\0" * 64)
    with pytest.raises(DataError, match=str(p)) as e:
        read_idx(p, IMAGES_MAGIC)
    assert "limit" in str(e.value) or "header says" in str(e.value)


# --- memory bombs -----------------------------------------------------------------------------
def test_gzip_idx_bomb_is_refused_before_inflating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small gzip whose header declares more than the limit is refused from its header."""
    monkeypatch.setenv("CONVSCOPE_MAX_DATA_BYTES", str(1 << 20))  # 1 MiB for the test
    p = tmp_path / "train-images-idx3-ubyte.gz"
    n = 3000  # 3000 x 28 x 28 = 2.35 MB declared and present
    with gzip.open(p, "wb") as f:
        f.write(struct.pack(">IIII", IMAGES_MAGIC, n, 28, 28))
        f.write(b"\0" * (n * 28 * 28))
    assert p.stat().st_size < 10_000
    with pytest.raises(DataError, match="CONVSCOPE_MAX_DATA_BYTES") as e:
        read_idx(p, IMAGES_MAGIC)
    assert str(p) in str(e.value)


def test_gzip_idx_with_more_data_than_declared_is_refused_with_a_cap(tmp_path: Path) -> None:
    """The decompressor stops one byte after what the header declares."""
    p = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(struct.pack(">IIII", IMAGES_MAGIC, 1, 2, 2))
        f.write(b"\0" * 10_000_000)
    with pytest.raises(DataError, match="unexpected bytes"):
        read_idx(p, IMAGES_MAGIC)


def test_huge_png_is_refused_from_its_header(
    tmp_path: Path,
    image_folders: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 64 * 64)
    image_folders("d")
    big = tmp_path / "d" / "Train" / "0" / "big.png"
    Image.new("L", (100, 100), 0).save(big)
    assert main(["data", str(tmp_path / "d")]) == 2
    line = err_line(capsys)
    assert str(big) in line and "100x100" in line and "limit" in line


def test_many_images_over_the_total_limit_are_refused(
    tmp_path: Path,
    image_folders: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONVSCOPE_MAX_DATA_BYTES", "1000")
    image_folders("d", n_train=10, size=(8, 8))  # 3 x 12 x 64 bytes > 1000
    assert main(["data", str(tmp_path / "d")]) == 2
    line = err_line(capsys)
    assert str(tmp_path / "d") in line and "CONVSCOPE_MAX_DATA_BYTES" in line


def test_default_limits_are_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    assert "CONVSCOPE_MAX_DATA_BYTES" in readme
    assert f"{limits.MAX_IMAGE_PIXELS:,}" in readme


# --- CIFAR-10 batches re-saved by Python 3 with pickle protocol 2 -----------------------------
def test_python3_protocol_2_batch_is_read() -> None:
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072) % 251
    batch = {b"data": data, b"labels": [3, 7], b"batch_label": b"training batch 1 of 5"}
    blob = pickle.dumps(batch, protocol=2)
    assert b"_codecs" in blob  # bytes are pickled through _codecs.encode by Python 3
    got = cifar.safe_unpickle(blob, "b")
    assert np.array_equal(got[b"data"], data) and got[b"labels"] == [3, 7]


@pytest.mark.parametrize(
    "payload",
    [
        # _codecs.encode with another codec (zlib/base64 would rebuild arbitrary bytes)
        b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xq\x01X\x04\x00\x00\x00zlibq\x02\x86q\x03Rq\x04.",
        # _codecs.decode is not needed by such files
        b"\x80\x02c_codecs\ndecode\nq\x00X\x01\x00\x00\x00xq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.",
        # the classic
        b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.",
        # _codecs.encode with a non-string argument
        b"\x80\x02c_codecs\nencode\nq\x00K\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.",
    ],
)
def test_everything_else_is_still_refused(payload: bytes) -> None:
    with pytest.raises(DataError, match="not a CIFAR-10 python batch|corrupt"):
        cifar.safe_unpickle(payload, "b")
