"""`convscope run` writes only inside OUT, only into an OUT it wrote, and says what is wrong with a
name in one line before any training (issue 22, cases 3, 4, 7, 16, 17)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import write_experiment

from convscope.cli import main
from convscope.errors import EXIT_BAD_INPUT, EXIT_LOCKED, EXIT_OK


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("convscope: error:"), err
    return err[-1]


def _all_files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_group_name_with_dots_and_slashes_writes_nothing_outside_out(tmp_path: Path) -> None:
    victim = tmp_path / "victim" / "photo.png"
    victim.parent.mkdir()
    victim.write_bytes(b"my photo")
    work = tmp_path / "work"
    work.mkdir()
    f = write_experiment(work / "e.toml", '[groups."x/../../../victim/photo"]\n', iterations=5)
    out = work / "out"
    before = _all_files(tmp_path)
    assert main(["run", str(f), "--out", str(out), "-q"]) == EXIT_OK
    assert victim.read_bytes() == b"my photo"
    changed = {p for p, b in _all_files(tmp_path).items() if before.get(p) != b}
    assert changed and all(p.resolve().is_relative_to(out.resolve()) for p in changed), changed
    figs = [p.name for p in (out / "figures").iterdir()]
    assert len(figs) == 1 and figs[0].startswith("report_x_.._.._.._victim_photo-"), figs


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (r'"a\u0000b"', "control character U+0000"),
        ('"' + "g" * 250 + '"', "has 250 characters; expected at most 100"),
        (r'"evil\u202Etxt.exe"', "control character U+202E"),
    ],
)
def test_a_bad_group_name_is_refused_before_any_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, message: str
) -> None:
    f = write_experiment(tmp_path / "e.toml", f"[groups.{key}]\n")
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "-q"]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert message in line and "group name" in line and str(f) in line
    assert not out.exists()


def test_a_bad_label_is_refused_before_any_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write_experiment(tmp_path / "e.toml", '[groups.g]\nruns = [{label = "a\\u0000"}]\n')
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "-q"]) == EXIT_BAD_INPUT
    assert "label" in _err_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_folder_with_a_file_named_experiment_json_is_not_an_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    (mine / "figures").mkdir(parents=True)
    for name, text in [
        ("experiment.json", '{"my": "notes"}'),
        ("report.html", "<p>my report</p>"),
        ("report.md", "# my report"),
        ("figures/report_g.png", "my figure"),
    ]:
        (mine / name).write_text(text)
    before = _all_files(mine)
    f = write_experiment(tmp_path / "e.toml", "[groups.g]\n", iterations=5)
    assert main(["run", str(f), "--out", str(mine), "-q"]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert "not a convscope experiment output" in line and "proves nothing" in line
    assert main(["report", str(mine)]) == EXIT_BAD_INPUT
    assert "not written by `convscope run`" in _err_line(capsys)
    assert _all_files(mine) == before


def test_out_stays_locked_until_the_report_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import convscope.experiments.run as run_mod

    f = write_experiment(tmp_path / "e.toml", "[groups.g]\n", iterations=5)
    out = tmp_path / "out"
    real = run_mod.write_report_if_available
    seen: list[int] = []

    def report_while_another_reports(o: Path) -> object:
        seen.append(main(["report", str(o)]))  # a second `convscope report OUT`, meanwhile
        return real(o)

    monkeypatch.setattr(run_mod, "write_report_if_available", report_while_another_reports)
    assert main(["run", str(f), "--out", str(out), "-q"]) == EXIT_OK
    assert seen == [EXIT_LOCKED]
    assert (out / "report.md").is_file()


@pytest.mark.parametrize("nest", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000])
def test_deeply_nested_toml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nest: str
) -> None:
    f = tmp_path / "e.toml"
    f.write_text(f'name = "t"\nx = {nest}\n[groups.g]\n')
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "-q"]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert str(f) in line and "nested too deeply" in line


def test_a_symlinked_run_folder_leading_out_of_out_is_not_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write_experiment(tmp_path / "e.toml", "[groups.g]\n", iterations=5)
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "-q"]) == EXIT_OK
    run = next((out / "runs").iterdir())
    elsewhere = tmp_path / "elsewhere"
    run.rename(elsewhere)
    os.symlink(elsewhere, run, target_is_directory=True)
    before = _all_files(elsewhere)
    (elsewhere / "summary.json").unlink()  # unfinished: a rerun would train into it
    before.pop(elsewhere / "summary.json")
    capsys.readouterr()
    assert main(["run", str(f), "--out", str(out), "-q"]) == EXIT_BAD_INPUT
    assert "leads outside" in _err_line(capsys)
    assert _all_files(elsewhere) == before
    assert not (elsewhere / "summary.json").exists()


def test_a_huge_grid_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Also seen in issue 22: a 10,000-run grid started without a question (ETA 17 h)."""
    lrs = [round(1e-5 * (i + 1), 8) for i in range(100)]
    body = f"[groups.g]\nseeds = 100\n[groups.g.grid]\nlr = {lrs}\n"
    f = write_experiment(tmp_path / "e.toml", body)
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "-q"]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert "10,000 distinct runs, more than --max-runs 1,000" in line and "--max-runs 10000" in line
    assert not out.exists()
    huge = write_experiment(
        tmp_path / "h.toml", f"[groups.g]\nseeds = 1000\n[groups.g.grid]\nlr = {lrs}\n"
    )  # refused before it is expanded (which would take minutes)
    assert main(["run", str(huge), "--out", str(out), "-q"]) == EXIT_BAD_INPUT
    assert "grid x runs x seeds is 100,000 runs; expected at most 50,000" in _err_line(capsys)
