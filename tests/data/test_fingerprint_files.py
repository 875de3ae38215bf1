"""The fingerprint's file list: os.walk order, links to folders not followed, dangling left out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convscope.data.fingerprint import _files


def walk_listing(root: Path) -> list[list[Any]]:
    """The oracle: os.walk, sorted, sizes through stat (what the list was built with before)."""
    out = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = Path(d) / n
            try:
                out.append([p.relative_to(root).as_posix(), p.stat().st_size])
            except OSError:
                continue
    return out


def test_listing_matches_os_walk(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for rel, size in [
        ("b/2/x.png", 3),
        ("b/10/y.png", 5),
        ("a.txt", 1),
        ("b/Z.png", 2),
        ("c/d/e/f", 0),
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\0" * size)
    (root / "b" / "link_to_file").symlink_to(root / "a.txt")
    (root / "b" / "link_to_dir").symlink_to(root / "c", target_is_directory=True)
    (root / "dangling").symlink_to(root / "nowhere")
    got = _files(str(root))
    assert got == walk_listing(root)
    names = [n for n, _ in got]
    assert "b/link_to_file" in names and "dangling" not in names
    assert not any(n.startswith("b/link_to_dir") for n in names)
    assert names.index("b/Z.png") < names.index("b/10/y.png") < names.index("b/2/x.png")


def test_a_single_file_and_built_in_sources(tmp_path: Path) -> None:
    f = tmp_path / "data.npz"
    f.write_bytes(b"1234")
    assert _files(str(f)) == [["data.npz", 4]]
    assert _files("digits") is None and _files("download:mnist") is None
