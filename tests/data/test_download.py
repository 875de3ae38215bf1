"""Downloads: the real code path against local mirrors (file:// and http on 127.0.0.1 only)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from data_fakes import cifar_batches, idx_bytes, write_cifar_tar

from convscope.config import DataConfig
from convscope.data import download, load_dataset
from convscope.data.download import RemoteFile, Resource, fetch, fetch_file
from convscope.errors import DataError


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.delenv(download.BASE_ENV, raising=False)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def mirror(tmp_path):
    """A folder with one file, its RemoteFile (correct md5) and its file:// base URL."""
    d = tmp_path / "mirror"
    d.mkdir()
    data = b"payload " * 1000
    (d / "thing.bin").write_bytes(data)
    return d, RemoteFile("thing.bin", _md5(data)), d.as_uri() + "/"


@pytest.fixture
def http_mirror(mirror):
    """Serve the mirror folder on 127.0.0.1 (random port) for the test's duration."""
    d, rf, _ = mirror

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(d))
    )
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        yield d, rf, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".part"))


def test_file_url_checksum_pass(tmp_path, mirror):
    src, rf, base = mirror
    dest = tmp_path / "cache"
    out = fetch_file(rf, dest, [base])
    assert out == dest / "thing.bin"
    assert out.read_bytes() == (src / "thing.bin").read_bytes()
    assert _leftovers(dest) == []


def test_http_download_checksum_pass(tmp_path, http_mirror):
    src, rf, base = http_mirror
    out = fetch_file(rf, tmp_path / "cache", [base])
    assert out.read_bytes() == (src / "thing.bin").read_bytes()


def test_sha256_is_checked_too(tmp_path, mirror):
    src, rf, base = mirror
    data = (src / "thing.bin").read_bytes()
    good = RemoteFile(rf.name, rf.md5, hashlib.sha256(data).hexdigest())
    assert fetch_file(good, tmp_path / "a", [base]).is_file()
    bad = RemoteFile(rf.name, rf.md5, "0" * 64)
    with pytest.raises(DataError, match="sha256 mismatch"):
        fetch_file(bad, tmp_path / "b", [base])


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, mirror):
    _, rf, base = mirror
    wrong = RemoteFile(rf.name, "0" * 32)
    dest = tmp_path / "cache"
    with pytest.raises(DataError) as ei:
        fetch_file(wrong, dest, [base])
    msg = str(ei.value)
    assert "download of thing.bin failed" in msg and "md5 mismatch" in msg
    assert f"put thing.bin (md5 {'0' * 32}) in {dest}" in msg
    assert list(dest.iterdir()) == []  # neither the bad temp file nor a final file


def test_falls_back_to_next_mirror(tmp_path, mirror):
    src, rf, base = mirror
    bad = tmp_path / "badmirror"
    bad.mkdir()
    (bad / "thing.bin").write_bytes(b"wrong content")
    out = fetch_file(rf, tmp_path / "cache", [bad.as_uri() + "/", _closed_port_url(), base])
    assert out.read_bytes() == (src / "thing.bin").read_bytes()


def test_cached_file_skips_download(tmp_path, mirror):
    src, rf, _ = mirror
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "thing.bin").write_bytes((src / "thing.bin").read_bytes())
    before = (dest / "thing.bin").stat().st_mtime_ns
    # every URL would fail: the verified cached file must be used without trying them
    out = fetch_file(rf, dest, [_closed_port_url()])
    assert out.stat().st_mtime_ns == before


def test_corrupt_cached_file_is_replaced(tmp_path, mirror):
    src, rf, base = mirror
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "thing.bin").write_bytes(b"half a download")
    out = fetch_file(rf, dest, [base])
    assert out.read_bytes() == (src / "thing.bin").read_bytes()


def test_offline_error_says_what_to_put_where(tmp_path):
    rf = download.RESOURCES["cifar10"].files[0]
    dest = tmp_path / "cache"
    with pytest.raises(DataError) as ei:
        fetch_file(rf, dest, [_closed_port_url()])
    msg = str(ei.value)
    assert msg.startswith("download of cifar-10-python.tar.gz failed (http://127.0.0.1:")
    assert msg.endswith(
        f"put cifar-10-python.tar.gz (md5 c58f30108f718f92721af3b95e74349a) in {dest}"
    )
    assert "\n" not in msg
    assert _leftovers(dest) == []


def test_http_404(tmp_path, http_mirror):
    _, _, base = http_mirror
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_file(RemoteFile("absent.bin", "0" * 32), tmp_path / "c", [base])


def test_unknown_download_key(tmp_path):
    with pytest.raises(DataError, match="download:cifar10, download:mnist"):
        load_dataset(DataConfig(data="download:imagenet", cache_dir=str(tmp_path)))


def test_cache_dir_default_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "c"))
    assert download.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(download.CACHE_ENV)
    assert download.default_cache_dir() == Path.home() / ".cache" / "convscope"


def test_official_checksums_are_recorded():
    res = download.RESOURCES
    assert res["cifar10"].files[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert {f.name: f.md5 for f in res["mnist"].files}["t10k-labels-idx1-ubyte.gz"] == (
        "ec29112dd5afa0611ce80d1b7f02629c"
    )
    assert res["mnist"].mirrors[-1] == "http://yann.lecun.com/exdb/mnist/"


# ---- end to end through load_dataset, with the checksums of the fake files ----------------------


def test_download_mnist_end_to_end_over_http(tmp_path, monkeypatch, http_mirror):
    src, _, base = http_mirror
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(20, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(10, dtype=np.uint8),
    }
    files = []
    for name, arr in arrays.items():
        data = gzip.compress(idx_bytes(arr))
        (src / f"{name}.gz").write_bytes(data)
        files.append(RemoteFile(f"{name}.gz", _md5(data)))
    fake = Resource("mnist", "mnist", ("http://unused.invalid/",), tuple(files))
    monkeypatch.setitem(download.RESOURCES, "mnist", fake)
    monkeypatch.setenv(download.BASE_ENV, base)
    cache = tmp_path / "cache"
    ds = load_dataset(DataConfig(data="download:mnist", cache_dir=str(cache), train_per_class=2))
    assert ds.name == "MNIST"
    assert ds.image_shape == (1, 28, 28)
    assert len(ds.train) == 20 and len(ds.test) == 10
    np.testing.assert_array_equal(ds.test.images[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(f.name for f in files)
    assert "downloaded as download:mnist, md5 verified" in ds.source
    assert ds.meta["download"]["key"] == "mnist"
    # second time: served from the cache, the mirror is not needed
    monkeypatch.setenv(download.BASE_ENV, _closed_port_url())
    again = load_dataset(DataConfig(data="download:mnist", cache_dir=str(cache)))
    assert len(again.train) == 20


def test_download_cifar10_end_to_end_file_url(tmp_path, monkeypatch):
    objs = cifar_batches()
    archive = write_cifar_tar(tmp_path / "mirror" / "cifar-10-python.tar.gz", objs)
    fake = Resource(
        "cifar10",
        "cifar10",
        ("http://unused.invalid/",),
        (RemoteFile("cifar-10-python.tar.gz", _md5(archive.read_bytes())),),
    )
    monkeypatch.setitem(download.RESOURCES, "cifar10", fake)
    folder = fetch("cifar10", cache_dir=tmp_path / "cache", base_urls=archive.parent.as_uri())
    assert folder == tmp_path / "cache" / "cifar10"
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    ds = load_dataset(DataConfig(data="download:cifar10", grayscale=True))
    assert ds.name == "CIFAR10" and ds.image_shape == (1, 32, 32)
    assert len(ds.train) == 20 and len(ds.test) == 4
