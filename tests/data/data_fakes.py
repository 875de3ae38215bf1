"""Writers (imported by the data tests as ``data_fakes``) for small fake CIFAR-10 batches and IDX files (the tests write every input they read)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from convscope.data import cifar

CIFAR_CLASSES = [
    b"airplane", b"automobile", b"bird", b"cat", b"deer",
    b"dog", b"frog", b"horse", b"ship", b"truck",
]  # fmt: skip


class Py2StylePickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes ``bytes`` and ``str`` as Python 2 ``str`` (BINSTRING), like the original batches."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_str8(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(raw)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_str8
    dispatch[str] = save_str8


def py2_style_pickle(obj) -> bytes:
    """Protocol 2, Python 2 strings, and numpy 1.x's ``numpy.core.multiarray`` global name."""
    buf = io.BytesIO()
    Py2StylePickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(
        b"numpy._core.multiarray\n_reconstruct", b"numpy.core.multiarray\n_reconstruct"
    )


def cifar_batches(n_per_batch: int = 4, seed: int = 0) -> dict[str, dict]:
    """The seven unpickled objects of a tiny CIFAR-10: file name -> dict."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for i, fname in enumerate((*cifar.TRAIN_FILES, cifar.TEST_FILE)):
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in (np.arange(n_per_batch) + i) % 10]
        out[fname] = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"f{i}_{j}.png".encode() for j in range(n_per_batch)],
        }
    out[cifar.META_FILE] = {
        b"label_names": list(CIFAR_CLASSES),
        b"num_cases_per_batch": n_per_batch,
        b"num_vis": 3072,
    }
    return out


def dump(obj, style: str = "py3") -> bytes:
    return py2_style_pickle(obj) if style == "py2" else pickle.dumps(obj, protocol=4)


def write_cifar_dir(folder: Path, objs: dict[str, dict], style: str = "py3") -> Path:
    """Write the batches as files in ``folder`` (created); return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for fname, obj in objs.items():
        (folder / fname).write_bytes(dump(obj, style))
    return folder


def write_cifar_tar(archive: Path, objs: dict[str, dict], style: str = "py3") -> Path:
    """Write ``cifar-10-batches-py/<file>`` members into a .tar.gz; return the archive path."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tf:
        for fname, obj in objs.items():
            data = dump(obj, style)
            info = tarfile.TarInfo(f"{cifar.DIR_NAME}/{fname}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return archive


def idx_bytes(arr: np.ndarray) -> bytes:
    """An unsigned-byte IDX file holding ``arr`` (1-D labels or 3-D images)."""
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack(">I", 0x00000800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write_idx_dir(
    folder: Path,
    n_train: int = 6,
    n_test: int = 4,
    size: int = 5,
    gz: bool = False,
    dotted: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write the four MNIST-named IDX files; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, size, size), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, size, size), dtype=np.uint8),
        "test_labels": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    from convscope.data.idx import FILES

    for role, arr in arrays.items():
        name = FILES[role].replace("-idx", ".idx") if dotted else FILES[role]
        data = idx_bytes(arr)
        if gz:
            name += ".gz"
            data = gzip.compress(data)
        (folder / name).write_bytes(data)
    return arrays
