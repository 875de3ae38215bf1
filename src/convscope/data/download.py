"""Download the official archives into a cache folder, with checksums.

``download:cifar10`` fetches ``cifar-10-python.tar.gz`` from the University of Toronto;
``download:mnist`` fetches the four gzip IDX files from PyTorch's S3 mirror, falling back to
Yann LeCun's original site. Each file is streamed to a temporary file next to its final place,
checked against its published MD5 (and SHA-256 where one is recorded), and moved into place with
:func:`os.replace`, so a crash or a bad mirror never leaves a half-written or wrong file under the
final name. A file already in the cache is used when its checksum matches (no network at all);
otherwise it is fetched again.

Where things go: ``<cache>/<data set>/<file>``; ``<cache>`` is the ``cache_dir`` option, else the
environment variable ``CONVSCOPE_CACHE``, else ``~/.cache/convscope``. The mirrors can be replaced
by ``base_urls`` or by ``CONVSCOPE_DOWNLOAD_BASE`` (one or more URL prefixes separated by spaces
or commas; ``file://`` works), e.g. for a local mirror or an offline machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convscope.errors import DataError

log = logging.getLogger(__name__)

CACHE_ENV = "CONVSCOPE_CACHE"
BASE_ENV = "CONVSCOPE_DOWNLOAD_BASE"
TIMEOUT_S = 60.0  # per network operation (connect, each read), seconds
CHUNK = 1 << 20  # bytes per read while streaming


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set and its published checksum(s) (hex digests)."""

    name: str
    md5: str
    sha256: str | None = None


@dataclass(frozen=True)
class Resource:
    """A downloadable data set: its files and the URL prefixes (mirrors) to try in order."""

    key: str
    subdir: str
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]


RESOURCES: dict[str, Resource] = {
    "cifar10": Resource(
        key="cifar10",
        subdir="cifar10",
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files=(RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
    ),
    "mnist": Resource(
        key="mnist",
        subdir="mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
}


def default_cache_dir() -> Path:
    """``$CONVSCOPE_CACHE`` if set, else ``~/.cache/convscope``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "convscope"


def resolve_cache_dir(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def file_digests(path: str | Path) -> dict[str, str]:
    """``{"md5": hex, "sha256": hex}`` of a file, read in chunks."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def checksum_problem(digests: dict[str, str], rf: RemoteFile) -> str | None:
    """``None`` when the digests match ``rf``, else a short reason naming both values."""
    if digests["md5"] != rf.md5.lower():
        return f"md5 mismatch: got {digests['md5']}, expected {rf.md5}"
    if rf.sha256 and digests["sha256"] != rf.sha256.lower():
        return f"sha256 mismatch: got {digests['sha256']}, expected {rf.sha256}"
    return None


def _join(base: str, name: str) -> str:
    return base if base.endswith(name) else base.rstrip("/") + "/" + name


def _stream(url: str, dest_dir: Path, name: str, timeout: float) -> tuple[Path, dict[str, str]]:
    """Stream ``url`` into a temp file in ``dest_dir``; return it and its digests."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    n = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected_len = resp.headers.get("Content-Length") if resp.headers else None
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                md5.update(chunk)
                sha.update(chunk)
                n += len(chunk)
            if expected_len is not None and expected_len.isdigit() and int(expected_len) != n:
                raise http.client.IncompleteRead(b"", int(expected_len) - n)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return tmp, {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        return f"{e.reason}"
    if isinstance(e, http.client.IncompleteRead):
        return f"incomplete download ({e.expected} bytes missing)"
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"


def fetch_file(
    rf: RemoteFile, dest_dir: str | Path, bases: Sequence[str], timeout: float = TIMEOUT_S
) -> Path:
    """Make sure ``dest_dir/rf.name`` exists with the right checksum; download it if not.

    Tries each URL prefix in ``bases`` in turn. Raises :class:`DataError` saying which file to
    put where when every attempt fails (offline, HTTP error, checksum mismatch).
    """
    dest_dir = Path(dest_dir)
    target = dest_dir / rf.name
    if target.is_file():
        problem = checksum_problem(file_digests(target), rf)
        if problem is None:
            log.info("%s: already downloaded, checksum ok", target)
            return target
        log.warning("%s: %s; downloading it again", target, problem)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"{dest_dir}: cannot create the download folder ({e.strerror or e})"
        ) from None
    failures: list[str] = []
    for base in bases:
        url = _join(base, rf.name)
        log.info("downloading %s", url)
        t0 = time.perf_counter()
        try:
            tmp, digests = _stream(url, dest_dir, rf.name, timeout)
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
            failures.append(f"{url}: {_reason(e)}")
            log.warning("download of %s failed: %s", url, _reason(e))
            continue
        problem = checksum_problem(digests, rf)
        if problem is not None:
            tmp.unlink()
            failures.append(f"{url}: {problem}")
            log.warning("download of %s rejected: %s", url, problem)
            continue
        os.replace(tmp, target)
        log.info("%s: downloaded in %.1f s, %s ok", target, time.perf_counter() - t0, "md5")
        return target
    tried = "; ".join(failures) if failures else "no URL to try"
    raise DataError(
        f"download of {rf.name} failed ({tried}); put {rf.name} (md5 {rf.md5}) in {dest_dir}"
    )


def mirror_bases(resource: Resource, base_urls: str | Sequence[str] | None = None) -> list[str]:
    """URL prefixes to try: ``base_urls``, else ``$CONVSCOPE_DOWNLOAD_BASE``, else the mirrors."""
    if base_urls is None:
        base_urls = os.environ.get(BASE_ENV) or None
    if base_urls is None:
        return list(resource.mirrors)
    if isinstance(base_urls, str):
        base_urls = base_urls.replace(",", " ").split()
    return list(base_urls)


def fetch(
    key: str,
    cache_dir: str | Path | None = None,
    base_urls: str | Sequence[str] | None = None,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Fetch (or find in the cache) every file of data set ``key``; return its cache folder.

    Args:
        key: ``"cifar10"`` or ``"mnist"`` (see :data:`RESOURCES`).
        cache_dir: cache root; default :func:`default_cache_dir`.
        base_urls: URL prefixes replacing the official mirrors.
        timeout: seconds per network operation.
    """
    resource = RESOURCES.get(key)
    if resource is None:
        known = ", ".join(f"download:{k}" for k in RESOURCES)
        raise DataError(f"download:{key}: unknown data set; expected one of {known}")
    dest = resolve_cache_dir(cache_dir) / resource.subdir
    bases = mirror_bases(resource, base_urls)
    for rf in resource.files:
        fetch_file(rf, dest, bases, timeout)
    return dest
