"""Official CIFAR-10 "python version" batches, from their folder or straight from the archive.

Layout (https://www.cs.toronto.edu/~kriz/cifar.html): ``cifar-10-batches-py/`` holds
``data_batch_1`` .. ``data_batch_5`` (training, 10000 images each), ``test_batch`` and
``batches.meta``. Each batch is a pickled dict with ``b"data"``, a ``(N, 3072)`` uint8 array (1024
red, then green, then blue values of a 32x32 image in row-major order) and ``b"labels"``, N ints
in ``0..9``; ``batches.meta`` has ``b"label_names"``.

Never unpickle what we did not write: the batches are read with :class:`SafeUnpickler`, whose
``find_class`` refuses every global except the numpy functions that rebuild a plain array
(``_reconstruct``/``_frombuffer``, ``ndarray``, ``dtype``; the original files, written by Python 2
and numpy 1.x, name ``numpy.core.multiarray._reconstruct``), and ``_codecs.encode`` called as
``(str, "latin1")`` only, which is how Python 3 writes bytes at pickle protocol 2. Those rebuild an array from a shape,
a dtype and bytes; they call nothing else. The archive is read member by member in stream order
(``tarfile`` mode ``r|*``) without extracting anything to disk.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from convscope.data.base import Dataset
from convscope.data.preprocess import make_dataset
from convscope.errors import DataError

log = logging.getLogger(__name__)

DIR_NAME = "cifar-10-batches-py"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
ALL_FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)
IMAGE_SIZE = 32
ROW_LEN = 3 * IMAGE_SIZE * IMAGE_SIZE  # 3072 bytes per image: R plane, G plane, B plane
EXPECTED = (
    f"a CIFAR-10 python batches folder ({DIR_NAME}/ with {', '.join(ALL_FILES)}) or {ARCHIVE_NAME}"
)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR batch may name: numpy's plain-array reconstruction functions."""
    probe = np.zeros(1, dtype=np.uint8)
    reconstruct = probe.__reduce__()[0]  # numpy(._)core.multiarray._reconstruct
    frombuffer = probe.__reduce_ex__(5)[0]  # numpy(._)core.numeric._frombuffer (pickle protocol 5)
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes at protocol 2: a str and 'latin1', only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"refused _codecs.encode({type(text).__name__}, {encoding!r}); only (str, 'latin1')"
        )
    return text.encode("latin1")


_ALLOWED_GLOBALS = {
    **_numpy_globals(),
    # Python 3 writes bytes as _codecs.encode(str, "latin1") at pickle protocol 2
    ("_codecs", "encode"): _latin1_encode,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves no global except numpy's array reconstruction functions.

    Anything else (``os.system``, ``builtins.eval``, a class to instantiate, ...) raises
    :class:`pickle.UnpicklingError` before it is looked up. Persistent ids are refused by the base
    class.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global '{module}.{name}'") from None


def safe_unpickle(data: bytes, where: str) -> Any:
    """Unpickle ``data`` (``encoding="bytes"``) with :class:`SafeUnpickler`; errors name ``where``."""
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{where}: not a CIFAR-10 python batch ({e})") from None
    except DataError:
        raise
    except Exception as e:  # EOFError, ValueError, TypeError, ... from a truncated/corrupt stream
        msg = (str(e).splitlines() or [""])[0]
        raise DataError(
            f"{where}: corrupt or truncated CIFAR-10 batch ({type(e).__name__}: {msg})"
        ) from None


def _get(d: dict[Any, Any], key: str) -> Any:
    """``d[b"key"]`` (as the original files have it) or ``d["key"]``; ``None`` when absent."""
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key)


def parse_meta(obj: Any, where: str) -> tuple[str, ...]:
    """Class names from an unpickled ``batches.meta``."""
    names = _get(obj, "label_names") if isinstance(obj, dict) else None
    if not isinstance(names, list | tuple) or not names:
        raise DataError(
            f"{where}: missing key b'label_names'; expected a dict with a list of class names"
        )
    out = []
    for n in names:
        if isinstance(n, bytes):
            n = n.decode("utf-8", errors="replace")
        if not isinstance(n, str):
            raise DataError(f"{where}: label_names must be strings, got {type(n).__name__}")
        out.append(n)
    if len(set(out)) != len(out):
        raise DataError(f"{where}: label_names has duplicates: {out}")
    return tuple(out)


def parse_batch(obj: Any, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 from an unpickled batch."""
    if not isinstance(obj, dict):
        raise DataError(
            f"{where}: expected a dict with b'data' and b'labels', got {type(obj).__name__}"
        )
    data = _get(obj, "data")
    labels = _get(obj, "labels")
    for key, val in (("data", data), ("labels", labels)):
        if val is None:
            raise DataError(
                f"{where}: missing key b'{key}'; expected b'data' (N x {ROW_LEN} uint8) and b'labels'"
            )
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != ROW_LEN
    ):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(
            f"{where}: b'data' is {got}; expected a uint8 array of shape (N, {ROW_LEN})"
        )
    n = data.shape[0]
    if not isinstance(labels, list | tuple | np.ndarray) or len(labels) != n:
        got = f"{len(labels)} labels" if hasattr(labels, "__len__") else type(labels).__name__
        raise DataError(f"{where}: b'labels' has {got} for {n} images; expected a list of {n} ints")
    if isinstance(labels, np.ndarray):
        ok = labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
    else:
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in labels)
    if not ok:
        raise DataError(f"{where}: b'labels' must be integers")
    y = np.asarray(labels, dtype=np.int64).reshape(n)
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"{where}: labels span {int(y.min())}..{int(y.max())}; expected 0..{num_classes - 1}"
        )
    return data.reshape(n, 3, IMAGE_SIZE, IMAGE_SIZE), y


def find_cifar(path: Path) -> tuple[str, Path] | None:
    """``("dir", folder)`` or ``("tar", archive)`` when ``path`` is (or holds) CIFAR-10 batches."""
    if path.is_file():
        name = path.name.lower()
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            return "tar", path
        return None
    if not path.is_dir():
        return None
    if path.name == DIR_NAME or any((path / f).is_file() for f in ALL_FILES):
        return "dir", path
    if (path / DIR_NAME).is_dir():
        return "dir", path / DIR_NAME
    if (path / ARCHIVE_NAME).is_file():
        return "tar", path / ARCHIVE_NAME
    return None


def _read_dir(folder: Path) -> dict[str, tuple[bytes, str]]:
    missing = [f for f in ALL_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}; expected {EXPECTED}")
    out = {}
    for f in ALL_FILES:
        p = folder / f
        try:
            out[f] = (p.read_bytes(), str(p))
        except OSError as e:
            raise DataError(f"{p}: cannot read file ({e.strerror or e})") from None
    return out


def _read_tar(archive: Path) -> dict[str, tuple[bytes, str]]:
    """Read the wanted members in one forward pass; member paths may sit under any folder."""
    out: dict[str, tuple[bytes, str]] = {}
    current = str(archive)
    try:
        with tarfile.open(archive, mode="r|*") as tf:
            for member in tf:
                base = member.name.rsplit("/", 1)[-1]
                if base not in ALL_FILES or not member.isfile():
                    continue
                current = f"{archive}:{member.name}"
                if base in out:
                    raise DataError(
                        f"{archive}: {base} appears more than once; expected one {DIR_NAME}/"
                    )
                f = tf.extractfile(member)
                if f is None:
                    continue
                data = f.read()
                if len(data) != member.size:
                    raise DataError(f"{current}: truncated ({len(data)} of {member.size} bytes)")
                out[base] = (data, current)
                current = str(archive)
    except DataError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        msg = (str(e).splitlines() or [""])[0]
        raise DataError(
            f"{current}: cannot read archive ({type(e).__name__}: {msg}); expected an intact {ARCHIVE_NAME}"
        ) from None
    missing = [f for f in ALL_FILES if f not in out]
    if missing:
        raise DataError(f"{archive}: missing members {', '.join(missing)}; expected {EXPECTED}")
    return out


def load_cifar10(path: str | Path, *, name: str = "CIFAR10") -> Dataset:
    """Load CIFAR-10 python batches from a folder or a ``.tar.gz``.

    Args:
        path: ``cifar-10-batches-py/``, a folder holding it or holding ``cifar-10-python.tar.gz``,
            a folder with ``data_batch_1..5``, ``test_batch`` and ``batches.meta``, or the archive.
        name: data set name.

    Returns:
        A :class:`Dataset`: train ``(50000, 3, 32, 32)``, test ``(10000, 3, 32, 32)`` uint8 for the
        official files; classes from ``batches.meta``.
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    found = find_cifar(path)
    if found is None:
        if not path.exists():
            raise DataError(f"{path}: no such file or directory; expected {EXPECTED}")
        raise DataError(f"{path}: not CIFAR-10 python batches; expected {EXPECTED}")
    kind, where = found
    raw = _read_dir(where) if kind == "dir" else _read_tar(where)
    meta_bytes, meta_where = raw[META_FILE]
    classes = parse_meta(safe_unpickle(meta_bytes, meta_where), meta_where)

    parsed = {}
    for fname in (*TRAIN_FILES, TEST_FILE):
        data, w = raw.pop(fname)
        parsed[fname] = parse_batch(safe_unpickle(data, w), w, len(classes))
    train_parts = [parsed[f] for f in TRAIN_FILES]
    test = parsed[TEST_FILE]
    train = (
        np.concatenate([x for x, _ in train_parts]),
        np.concatenate([y for _, y in train_parts]),
    )
    kind_word = "archive" if kind == "tar" else "folder"
    meta: dict[str, Any] = {
        "format": "cifar10_python",
        "path": str(where),
        "container": kind_word,
        "files": list(ALL_FILES),
        "reader": "restricted unpickler (numpy array globals only)",
    }
    return make_dataset(
        name, f"CIFAR-10 python batches in {kind_word} {where}", classes, train, test, meta
    )
