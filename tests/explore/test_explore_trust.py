"""``convscope explore`` writes nothing outside its site and deletes only what it wrote there
(issue 22, cases 1, 2, 8-11 and 18): an edited marker, a symlinked subfolder, a run still being
written, a build killed with ``kill -9``, the umask, a full disk, and ``--out FILE/site``."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from convscope import io
from convscope.cli import main
from convscope.errors import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_LOCKED, EXIT_OK
from convscope.explore.output import MARKER

Site = tuple[Path, Path, dict[str, Any]]


def _build(run: Path, out: Path, *more: str) -> int:
    return main(["explore", str(run), "--out", str(out), "--layers", "conv2", "-q", *more])


def _one_line(err: str) -> str:
    line = err.strip()
    assert line.startswith("convscope: error:") and "\n" not in line, err
    return line


def test_a_marker_listing_paths_outside_the_site_deletes_nothing_there(
    tiny_site: Site, tmp_path: Path
) -> None:
    run, _, _ = tiny_site
    out = tmp_path / "site"
    victim, sibling = tmp_path / "victim.txt", tmp_path / "sibling.txt"
    victim.write_text("keep me")
    sibling.write_text("keep me too")
    assert _build(run, out) == EXIT_OK
    marker = json.loads((out / MARKER).read_text())
    assert marker["schema"] == "convscope.explore/1" and len(marker["id"]) == 32
    marker["files"] += [str(victim), "../sibling.txt", "layers/../../sibling.txt"]
    (out / MARKER).write_text(json.dumps(marker))
    assert _build(run, out) == EXIT_OK
    assert victim.read_text() == "keep me" and sibling.read_text() == "keep me too"


def test_a_symlinked_subfolder_of_the_site_is_never_written_through(
    tiny_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, _ = tiny_site
    out = tmp_path / "site"
    assert _build(run, out) == EXIT_OK
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "conv2.html").write_text("mine")
    (elsewhere / "notes.txt").write_text("mine too")
    for p in (out / "layers").iterdir():
        p.unlink()
    (out / "layers").rmdir()
    (out / "layers").symlink_to(elsewhere, target_is_directory=True)
    capsys.readouterr()
    assert _build(run, out) == EXIT_BAD_INPUT
    assert "leads outside" in _one_line(capsys.readouterr().err)
    assert (elsewhere / "conv2.html").read_text() == "mine"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["conv2.html", "notes.txt"]


def test_a_run_still_being_written_is_refused_and_an_unfinished_one_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from convscope.config import from_flat
    from convscope.train.loop import train

    run = tmp_path / "run"
    cfg = from_flat(
        {
            "data": "digits",
            "model": "explore_nets:tiny_cnn",
            "iterations": 400,
            "batch_size": 50,
            "eval_every": 20,
            "checkpoint_every": 20,
            "keep_checkpoints": [10, 20],
            "threads": 1,
            "device": "cpu",
            "activation_stats_every": 0,
        }
    )
    train(cfg, run, stop_after=20)
    with io.dir_lock(run):  # as `convscope run` holds it while it trains
        assert _build(run, tmp_path / "site") == EXIT_LOCKED
    assert "in use by pid" in (line := _one_line(capsys.readouterr().err))
    assert "still being written" in line
    assert not (tmp_path / "site").exists()
    assert _build(run, tmp_path / "site") == EXIT_OK
    err = capsys.readouterr().err
    assert "not finished (status interrupted)" in err and "up to step 20" in err


_KILLED_BUILD = """
import os, sys
from pathlib import Path
from convscope.explore.output import Staging, SiteWriter
tmp = Staging(Path(sys.argv[1])).__enter__()
SiteWriter(tmp).write("layers/conv2.html", "half")
os.kill(os.getpid(), 9)
"""


def test_a_build_killed_with_sigkill_leaves_no_temp_folder_after_a_rerun(
    tiny_site: Site, tmp_path: Path
) -> None:
    run, _, _ = tiny_site
    out = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-c", _KILLED_BUILD, str(out)], env=env, check=False)
    assert p.returncode == -9
    assert [q.name for q in tmp_path.iterdir() if q.name.endswith(".tmp")]  # the dead build's
    foreign = tmp_path / ".site.mine.tmp"  # a folder convscope did not write stays
    foreign.mkdir()
    (foreign / "x").write_text("mine")
    assert _build(run, out) == EXIT_OK
    assert sorted(q.name for q in tmp_path.iterdir()) == [".site.mine.tmp", "site"]
    assert (foreign / "x").read_text() == "mine"


def test_the_site_gets_the_mode_the_umask_gives(tiny_site: Site, tmp_path: Path) -> None:
    run, _, _ = tiny_site
    mask = os.umask(0o022)
    os.umask(mask)  # this process's umask (022 on most systems); mkdtemp alone gives 0700
    assert _build(run, tmp_path / "site") == EXIT_OK
    for d in (tmp_path / "site", tmp_path / "site" / "layers"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~mask, d


def test_a_full_disk_names_the_file(
    tiny_site: Site,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, _, _ = tiny_site

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    assert _build(run, tmp_path / "site") == EXIT_ENVIRONMENT
    line = _one_line(capsys.readouterr().err)
    assert "no space left on device" in line and "path not known" not in line
    assert "explore.css" in line
    assert sorted(q.name for q in tmp_path.iterdir()) == []


def test_out_under_a_file_is_one_line(
    tiny_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, _ = tiny_site
    (tmp_path / "FILE").write_text("a file")
    assert _build(run, tmp_path / "FILE" / "site") in (EXIT_BAD_INPUT, EXIT_ENVIRONMENT)
    line = _one_line(capsys.readouterr().err)
    assert f"{tmp_path / 'FILE'}: is a file, not a folder" in line


def test_a_read_only_run_folder_is_explored_without_its_lock(
    tiny_site: Site, tmp_path: Path
) -> None:
    import shutil

    run, _, _ = tiny_site
    ro = tmp_path / "ro"
    shutil.copytree(run, ro, ignore=shutil.ignore_patterns("site", ".lock"))
    for p in [ro, *ro.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who may write anything (root)")
        assert _build(ro, tmp_path / "site") == EXIT_OK
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
