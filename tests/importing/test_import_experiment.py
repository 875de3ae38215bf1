"""An experiment group that names runs ``convscope import`` wrote (issue 20): ``convscope run``
copies them into OUT without training, runs the group's analyses there, and the report shows the
group; a second run reuses the copy; a changed source, a missing path, a folder that is not an
import, a path leading out of the experiment's folder and untrusted model code are one line
(exit 2) and write nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import import_helpers as h
import pytest
import torch

from convscope.cli import main
from convscope.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError

NORM = ",".join(map(str, h.MEAN)) + "/" + ",".join(map(str, h.STD))
RUN = ["-q", "--workers", "1", "--threads", "1"]
EXPERIMENT = """name = "mine"
[groups.mine]
title = "My own network"
description = "A CNN trained in a plain PyTorch loop."
imported = [{paths}]

[[analysis]]
group = "mine"
what = ["filters", "activations"]
"""


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _import(capsys, data: Path, out: Path, seed: int, factory: str | None = None) -> None:
    torch.manual_seed(seed)
    model = h.train_plain(h.small_cnn(), data, steps=30, seed=seed)
    w = out.parent / f"{out.name}-weights.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), w)
    argv = ["import", "-q", "--model", factory or f"{h.HERE}:small_cnn", "--weights", str(w)]
    argv += ["--data", str(data), "--normalize", NORM, "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err


def _experiment(work: Path, *paths: str) -> Path:
    f = work / "e.toml"
    f.write_text(EXPERIMENT.format(paths=", ".join(json.dumps(p) for p in paths)))
    return f


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("convscope: error:"), err
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.write_rgb_set(tmp_path_factory.mktemp("rgb") / "shapes", n_train=12, n_test=6)


def test_a_group_of_an_imported_run_is_analysed_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_data: Path
) -> None:
    work = tmp_path / "work"
    src = work / "imports" / "mynet"
    _import(capsys, small_data, src, seed=0)
    f = _experiment(work, "imports/mynet")
    out = work / "out"
    before = _files(work)
    assert main(["run", str(f), "--out", str(out), *RUN]) == EXIT_OK, capsys.readouterr().err
    # nothing outside OUT was written (the source is untouched) but the experiment copy
    changed = {p for p, b in _files(work).items() if before.get(p) != b}
    assert changed and all(p.is_relative_to(out) for p in changed), changed

    doc = json.loads((out / "experiment.json").read_text())
    (entry,) = doc["groups"][0]["runs"]
    assert entry["imported"] == "imports/mynet" and entry["label"] == "mynet"
    copy = out / entry["dir"]
    assert copy.parent == out / "runs" and doc["status"]["runs"][entry["dir"]]["status"] == (
        "completed"
    )
    # the copy holds the files the import wrote, byte for byte, and says where they came from
    adopted = json.loads((copy / "adopted.json").read_text())
    assert adopted["source"] == "imports/mynet" and adopted["source_path"] == str(src.resolve())
    assert set(adopted["sha256"]) >= {"config.json", "data.json", "summary.json"}
    assert any(k.startswith("checkpoints/step_") for k in adopted["sha256"])
    for rel, digest in adopted["sha256"].items():
        assert _sha(src / rel) == digest == _sha(copy / rel), rel
    assert not (copy / "metrics.jsonl").read_text().count('train_loss": 0')  # nothing trained

    # the group's analyses ran on the copy, with the user's weights
    for name in ("filters", "activations"):
        res = json.loads((copy / "analysis" / f"{name}.json").read_text())
        assert res["observations"], name
    assert not (src / "analysis").exists()
    figs = [
        fig["path"]
        for fig in json.loads((copy / "analysis" / "filters.json").read_text())["figures"]
    ]
    assert figs
    for report in (out / "report.md", out / "report.html"):
        text = report.read_text()
        assert "My own network" in text and "No training curves for this run" in text, report
        assert "convscope import" in text and "mynet" in text
        for fig in figs:
            assert f"runs/{copy.name}/{fig}" in text, (report, fig)
    summary = json.loads((src / "summary.json").read_text())
    assert f"{100 * summary['test_accuracy']:.1f}%" in (out / "report.md").read_text()

    # a second run reuses the copy and its analyses: nothing in OUT/runs changes
    runs_before = _files(out / "runs")
    assert main(["run", str(f), "--out", str(out), *RUN]) == EXIT_OK, capsys.readouterr().err
    assert _files(out / "runs") == runs_before


def test_a_changed_source_is_one_line_and_overwrites_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_data: Path
) -> None:
    work = tmp_path / "work"
    src = work / "imports" / "mynet"
    _import(capsys, small_data, src, seed=0)
    f = _experiment(work, "imports/mynet")
    f.write_text(f.read_text().replace('"filters", "activations"', '"filters"'))
    out = work / "out"
    assert main(["run", str(f), "--out", str(out), *RUN, "--no-report"]) == EXIT_OK
    capsys.readouterr()
    kept = _files(out / "runs")
    # other weights imported at the same path (into a new folder that replaces the old one)
    _import(capsys, small_data, work / "imports" / "other", seed=1)
    shutil.rmtree(src)
    (work / "imports" / "other").rename(src)
    assert main(["run", str(f), "--out", str(out), *RUN]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert "[groups.mine]: key 'imported': 'imports/mynet': changed since it was adopted" in line
    assert "checkpoints/step_0000001.pt" in line and "nothing was overwritten" in line
    assert _files(out / "runs") == kept


def _untrusted(work: Path, capsys, small_data: Path) -> None:
    code = work / "netcode.py"
    shutil.copy(h.HERE, code)
    _import(capsys, small_data, work / "imports" / "bad", seed=0, factory=f"{code}:small_cnn")
    code.write_text(code.read_text() + "\n# edited after the import\n")


@pytest.mark.parametrize(
    ("make", "rel", "message"),
    [
        (None, "imports/nothere", "does not exist; expected a folder `convscope import` wrote"),
        ("empty", "imports/empty", "is not a convscope run (no config.json)"),
        ("trained", "imports/trained", "was not written by `convscope import`"),
        ("edited", "imports/edited", "was edited after the import"),
        (None, "/etc", "it is absolute"),
        (None, "../outside", "it holds '..'"),
        ("symlink", "imports/link", "leads outside"),
        ("untrusted", "imports/bad", "is not the file the run was trained with"),
    ],
)
def test_a_bad_imported_path_is_one_line_before_anything_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    small_data: Path,
    make: str | None,
    rel: str,
    message: str,
) -> None:
    work = tmp_path / "work"
    (work / "imports").mkdir(parents=True)
    if make == "empty":
        (work / rel).mkdir()
        (work / rel / "notes.txt").write_text("mine")
    elif make in ("trained", "edited"):
        _import(capsys, small_data, work / rel, seed=0)
        cfg = json.loads((work / rel / "config.json").read_text())
        if make == "trained":
            del cfg["imported"]
        else:
            cfg["optim"]["lr"] = 0.5
        (work / rel / "config.json").write_text(json.dumps(cfg))
    elif make == "symlink":
        _import(capsys, small_data, tmp_path / "elsewhere" / "mynet", seed=0)
        (work / rel).symlink_to(tmp_path / "elsewhere" / "mynet")
    elif make == "untrusted":
        _untrusted(work, capsys, small_data)
    f = _experiment(work, rel)
    out = work / "out"
    assert main(["run", str(f), "--out", str(out), *RUN]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert f"[groups.mine]: key 'imported': {rel!r}" in line and message in line, line
    assert not out.exists()
    if make == "untrusted":  # the same rules as `convscope analyze`: the user may choose
        assert "--trust-model-code" in line
        argv = ["run", str(f), "--out", str(out), *RUN, "--no-report", "--trust-model-code"]
        assert main(argv) == EXIT_OK, capsys.readouterr().err
        assert list((out / "runs").glob("bad-imported-*/analysis/filters.json"))


def test_a_tampered_copy_in_out_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_data: Path
) -> None:
    work = tmp_path / "work"
    _import(capsys, small_data, work / "imports" / "mynet", seed=0)
    f = _experiment(work, "imports/mynet")
    f.write_text(f.read_text().split("[[analysis]]")[0])  # no analyses: only the copy
    out = work / "out"
    assert main(["run", str(f), "--out", str(out), *RUN, "--no-report"]) == EXIT_OK
    (copy,) = (out / "runs").iterdir()
    (copy / "summary.json").unlink()
    capsys.readouterr()
    assert main(["run", str(f), "--out", str(out), *RUN, "--no-report"]) == EXIT_BAD_INPUT
    line = _err_line(capsys)
    assert f"the copy in runs/{copy.name} was changed or lost files" in line
    assert "summary.json" in line and not (copy / "summary.json").exists()


def test_a_group_with_runs_to_train_and_imported_runs_analyses_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_data: Path
) -> None:
    """The plan, without training: an [[analysis]] of a mixed group takes the first seed of the
    runs to train and every imported run; profiles and group keys about training are refused
    on a group that trains nothing."""
    from convscope.experiments.spec import load_experiment

    work = tmp_path / "work"
    _import(capsys, small_data, work / "imports" / "mynet", seed=0)
    f = work / "e.toml"
    f.write_text(
        'name = "m"\n[defaults]\ndata = "digits"\niterations = 5\n'
        '[groups.mine]\nimported = ["imports/mynet"]\nseeds = [3, 4]\n'
        '[[groups.mine.runs]]\nlabel = "lenet"\nmodel = "lenet5"\n'
        '[[analysis]]\ngroup = "mine"\nwhat = ["filters"]\n'
    )
    exp = load_experiment(f)
    (g,) = exp.groups
    assert [(r.label, r.seed, r.imported) for r in g.runs] == [
        ("lenet", 3, None),
        ("lenet", 4, None),
        ("mynet", 0, "imports/mynet"),
    ]
    assert g.runs[2].hash.startswith("imported-")
    assert [(a.label, a.seed) for a in exp.analysis] == [("lenet", 3), ("mynet", 0)]
    # a group of imported runs only: keys about training say where they belong
    only = 'name = "m"\n[groups.mine]\nimported = ["imports/mynet"]\n'
    for extra, message in (
        ("seeds = 2\n", "[groups.mine]: key 'seeds' applies to runs to train"),
        ('label = "{model}"\n', "[groups.mine]: key 'label' applies to runs to train"),
        (
            "[profiles.quick.groups.mine]\niterations = 5\n",
            "[profiles.quick.groups.mine]: group 'mine' only names imported runs",
        ),
        ('[groups.other]\nimported = ["imports/mynet", "imports/./mynet/"]\n', "listed twice"),
        ('[[analysis]]\ngroup = "mine"\nwhat = ["filters"]\nseeds = [0]\n', "only names imported"),
    ):
        f.write_text(only + extra)
        with pytest.raises(ConfigError) as e:
            load_experiment(f)
        assert message in str(e.value), e.value


def test_a_mixed_group_shows_trained_curves_and_the_imported_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_data: Path
) -> None:
    """A group that trains a run and names an imported one: the curves are the trained run's,
    the report says in one line that the imported run has none, and both are analysed."""
    work = tmp_path / "work"
    _import(capsys, small_data, work / "imports" / "mynet", seed=0)
    f = work / "e.toml"
    f.write_text(  # the same architecture and data, trained by convscope for 10 steps
        f'name = "mixed"\n[defaults]\ndata = {json.dumps(str(small_data))}\n'
        "iterations = 10\neval_every = 5\nbatch_size = 12\n"
        '[groups.mine]\ntitle = "Mine and the same CNN trained here"\nimported = ["imports/mynet"]\n'
        f'[[groups.mine.runs]]\nlabel = "here"\nmodel = {json.dumps(f"{h.HERE}:small_cnn")}\n'
        '[[analysis]]\ngroup = "mine"\nwhat = ["filters"]\n'
    )
    out = work / "out"
    assert main(["run", str(f), "--out", str(out), *RUN]) == EXIT_OK, capsys.readouterr().err
    doc = json.loads((out / "experiment.json").read_text())
    dirs = {r["label"]: r["dir"] for r in doc["groups"][0]["runs"]}
    assert set(dirs) == {"here", "mynet"}
    for d in dirs.values():
        assert (out / d / "analysis" / "filters.json").is_file(), d
    md = (out / "report.md").read_text()
    assert "figures/report_mine.png" in md and (out / "figures" / "report_mine.png").is_file()
    assert md.count("No training curves for this run") == 1
    assert f"Run `mynet` (`{dirs['mynet']}`)" in md and f"Run `here` (`{dirs['here']}`)" in md
    # the trained run's table row, and no row of the imported run in the group's curves table
    table = md.split("*every configuration:")[1].split("\n\n")[1]
    assert "`here`" in table and "`mynet`" not in table
