"""``convscope import``: the weight files it takes, and one line (exit 2) for each mistake."""

from __future__ import annotations

import json
from pathlib import Path

import import_helpers as h
import pytest
import torch

from convscope.cli import main
from convscope.importing_args import parse_model_args, parse_normalize, parse_weights
from convscope.runs import RunDir

FACTORY = f"{h.HERE}:small_cnn"
NORM = ",".join(map(str, h.MEAN)) + "/" + ",".join(map(str, h.STD))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["import", "-q", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def imp(capsys, weights: list[str], data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    args = ["--model", FACTORY, "--data", str(data), "--out", str(out)]
    for w in weights:
        args += ["--weights", w]
    return run_cli(capsys, *args, *extra)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": {f"model.{k}": v for k, v in sd.items()}, "epoch": 3},
        lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {}},
        lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {"net": {f"_orig_mod.{k}": v for k, v in sd.items()}},
        lambda sd: {f"module._orig_mod.{k}": v for k, v in sd.items()},
    ],
    ids=["plain", "lightning", "model_state_dict", "model+module.", "net+_orig_mod.", "2 prefixes"],
)
def test_weight_files_people_save(tmp_path, capsys, rgb_data, user_model, wrap) -> None:
    w = tmp_path / "w.pt"
    torch.save(wrap(user_model.state_dict()), w)
    rc, out, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run", "--normalize", NORM)
    assert rc == 0, err
    run = RunDir(tmp_path / "run")
    x, y = h.read_split(rgb_data, "Test")
    assert run.summary()["test_accuracy"] == h.accuracy(user_model, x, y)
    loaded = run.load_model()
    for k, v in user_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    rec = run.imported()
    assert rec["from"][0]["sha256"] == h_sha(w)
    assert rec["normalize"]["mean"] == list(h.MEAN) and rec["normalize"]["std"] == list(h.STD)
    assert rec["model"] == FACTORY and rec["model_args"] == {}
    assert json.loads(run.data_path.read_text())["normalize"] == {
        "mean": list(h.MEAN),
        "std": list(h.STD),
    }


def h_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


class Bomb:
    """Unpickling this would create ``path`` (it must never happen)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_pickled_module_refused_and_nothing_runs(tmp_path, capsys, rgb_data, user_model) -> None:
    w = tmp_path / "full.pt"
    torch.save(user_model, w)
    rc, out, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run")
    assert rc == 2 and err.count("\n") == 1, err
    assert str(w) in err and "torch.save(model.state_dict(), PATH)" in err
    assert not (tmp_path / "run").exists()
    sentinel = tmp_path / "ran"
    torch.save({"state_dict": user_model.state_dict(), "hook": Bomb(sentinel)}, w)
    rc, _, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run")
    assert rc == 2 and err.count("\n") == 1 and "io.open" in err, err
    assert not sentinel.exists()


def test_missing_and_unexpected_keys_in_one_line(tmp_path, capsys, rgb_data, user_model) -> None:
    sd = dict(user_model.state_dict())
    sd["head.weight"] = sd.pop("fc2.weight")
    sd["extra"] = torch.zeros(1)
    w = tmp_path / "w.pt"
    torch.save(sd, w)
    rc, _, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run")
    assert rc == 2 and err.count("\n") == 1, err
    assert str(w) in err and "missing fc2.weight" in err
    assert "unexpected head.weight, extra" in err


def test_wrong_shapes(tmp_path, capsys, rgb_data, user_model) -> None:
    w = tmp_path / "w.pt"
    torch.save(user_model.state_dict(), w)
    rc, _, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run", "--model-args", "width=4")
    assert rc == 2 and err.count("\n") == 1, err
    assert "wrong shape conv1.weight (8, 3, 3, 3) in the file, (4, 3, 3, 3) in the model" in err


def test_model_args_reach_the_factory(tmp_path, capsys, rgb_data) -> None:
    m = h.small_cnn(width=4)
    w = tmp_path / "w.pt"
    torch.save(m.state_dict(), w)
    rc, _, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run", "--model-args", "width=4")
    assert rc == 0, err
    run = RunDir(tmp_path / "run")
    assert run.imported()["model_args"] == {"width": 4}
    assert run.load_model().conv1.out_channels == 4
    rc, _, err = imp(capsys, [str(w)], rgb_data, tmp_path / "r2", "--model-args", "depth=4")
    assert rc == 2 and "model_args.depth': factory 'small_cnn' has no argument 'depth'" in err


def test_wrong_input_channels_and_size(tmp_path, capsys, rgb_data) -> None:
    f = tmp_path / "gray_net.py"
    f.write_text(
        "from torch import nn\n"
        "def net(num_classes=3):\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(),\n"
        "                         nn.Linear(4 * 30 * 30, num_classes))\n"
    )
    torch.save(nn_state(f), tmp_path / "w.pt")
    args = ["--model", f"{f}:net", "--weights", str(tmp_path / "w.pt"), "--data", str(rgb_data)]
    rc, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "run"))
    assert rc == 2 and err.count("\n") == 1, err
    assert "the images have 3 channel(s)" in err and "takes 1 (its first conv '0')" in err
    assert "--grayscale" in err
    rc, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "run"), "--grayscale")
    assert rc == 0, err
    rc, _, err = run_cli(
        capsys, *args, "--out", str(tmp_path / "r2"), "--grayscale", "--resize", "28"
    )
    assert rc == 2 and err.count("\n") == 1, err
    assert "cannot take its 1x28x28 images" in err and "mat1 and mat2" in err


def nn_state(f: Path) -> dict:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gray_net_t", f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.net().state_dict()


def test_chance_level_warns_once(tmp_path, capsys, rgb_data, user_model) -> None:
    w = tmp_path / "w.pt"
    torch.manual_seed(1)
    torch.save(h.small_cnn().state_dict(), w)  # untrained: chance level
    rc, out, err = imp(capsys, [str(w)], rgb_data, tmp_path / "run")
    assert rc == 0
    lines = [ln for ln in err.splitlines() if ln]
    assert len(lines) == 1 and "at chance level" in lines[0] and "--normalize" in lines[0]
    torch.save(user_model.state_dict(), w)
    rc, _, err = imp(capsys, [str(w)], rgb_data, tmp_path / "r2", "--normalize", NORM)
    assert rc == 0 and "chance" not in err


def test_resume_of_an_imported_run_refused(tmp_path, capsys, rgb_data, user_model) -> None:
    w = tmp_path / "w.pt"
    torch.save(user_model.state_dict(), w)
    assert imp(capsys, [str(w)], rgb_data, tmp_path / "run")[0] == 0
    before = sorted(p.name for p in (tmp_path / "run").rglob("*"))
    rc = main(["train", "-q", "--out", str(tmp_path / "run"), "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "an imported run" in err and str(w) in err
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == before


def test_snapshots_and_reimport(tmp_path, capsys, rgb_data, user_model) -> None:
    init, mid = h.small_cnn(), h.small_cnn()
    for name, m in (("init", init), ("mid", mid), ("final", user_model)):
        torch.save(m.state_dict(), tmp_path / f"{name}.pt")
    ws = [f"0={tmp_path / 'init.pt'}", f"50={tmp_path / 'mid.pt'}", str(tmp_path / "final.pt")]
    rc, _, err = imp(capsys, ws, rgb_data, tmp_path / "run", "--normalize", NORM)
    assert rc == 0, err
    run = RunDir(tmp_path / "run")
    assert run.checkpoint_steps() == [0, 50, 51]
    assert [r["step"] for r in run.metrics()] == [0, 50, 51]
    assert torch.equal(run.initial_model()[0].conv1.weight, init.conv1.weight)
    rc, _, _ = imp(capsys, ws, rgb_data, tmp_path / "run", "--normalize", NORM)
    assert rc == 0  # the same import again: nothing to do
    rc, _, err = imp(capsys, ws, rgb_data, tmp_path / "run")  # another normalisation
    assert rc == 2 and "holds another run" in err


def test_parsers() -> None:
    assert parse_model_args("width=32, bias=false,act=relu,p=0.5,x=none") == {
        "width": 32,
        "bias": False,
        "act": "relu",
        "p": 0.5,
        "x": None,
    }
    with pytest.raises(Exception, match="k=v"):
        parse_model_args("width")
    assert parse_normalize("none") is None and parse_normalize(None) is None
    assert parse_normalize("0.5,0.25") == ([0.5], [0.25])
    assert parse_normalize("0.1,0.2,0.3/0.4,0.5,0.6") == ([0.1, 0.2, 0.3], [0.4, 0.5, 0.6])
    assert parse_normalize("0.1,0.2,0.3,0.4,0.5,0.6") == ([0.1, 0.2, 0.3], [0.4, 0.5, 0.6])
    for bad in ("125,60", "0.5,0", "0.5", "a,b", "0.1,0.2/0.3"):
        with pytest.raises(Exception, match="--normalize"):
            parse_normalize(bad)
    assert parse_weights(["a.pt", "10=b.pt"]) == [(None, Path("a.pt")), (10, Path("b.pt"))]
