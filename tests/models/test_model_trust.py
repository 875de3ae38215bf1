"""A run folder's model code is imported only when the folder proves it is the code the run was
trained with, or the user says ``--trust-model-code`` (issue 22, case 6)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from convscope.cli import main
from convscope.config import from_dict, from_flat
from convscope.errors import EXIT_BAD_INPUT, EXIT_OK
from convscope.models import trust
from convscope.train.loop import train
from convscope.train.precision import run_hash

MODEL = """
from torch import nn

def make(in_channels, image_size, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, num_classes))
"""

EVIL = """
from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("ran")
from torch import nn

def make(in_channels, image_size, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, num_classes))
"""


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "mymodel.py").write_text(MODEL)
    cfg = from_flat(
        {
            "data": "digits",
            "model": f"{proj / 'mymodel.py'}:make",
            "iterations": 3,
            "batch_size": 20,
            "eval_every": 3,
            "threads": 1,
            "device": "cpu",
            "activation_stats_every": 0,
        }
    )
    run = tmp_path / "run"
    train(cfg, run)
    return run


def _layers(run: Path, *more: str) -> int:
    return main(["analyze", str(run), "--layers", "-q", *more])


def _point_at(run: Path, file: Path, rehash: bool, record: bool = False) -> None:
    """Edit config.json's model (as someone who sends a run folder could); ``rehash`` also
    rewrites its hash, ``record`` its model_code, to match."""
    d = json.loads((run / "config.json").read_text())
    d["model"]["model"] = f"{file}:make"
    if rehash:
        keys = ("hash", "version", "memory_format", "model_code")
        d["hash"] = run_hash(from_dict({k: v for k, v in d.items() if k not in keys}))
    if record:
        d["model_code"] = {"file": str(file), "sha256": trust.sha256(file)}
    (run / "config.json").write_text(json.dumps(d))


def test_a_run_you_trained_opens_without_a_flag(trained: Path) -> None:
    rec = json.loads((trained / "config.json").read_text())["model_code"]
    assert rec["sha256"] == trust.sha256(Path(rec["file"]))
    assert _layers(trained) == EXIT_OK


@pytest.mark.parametrize(
    ("inside", "rehash", "record", "why"),
    [
        (True, False, False, "config.json was edited after training"),
        (False, True, False, "is not the file the run was trained with"),
        (True, True, True, "lies inside the folder being opened"),
    ],
)
def test_code_the_folder_does_not_prove_is_never_imported(
    trained: Path,
    capsys: pytest.CaptureFixture[str],
    inside: bool,
    rehash: bool,
    record: bool,
    why: str,
) -> None:
    evil = (trained if inside else trained.parent) / "evil.py"
    evil.write_text(EVIL)
    _point_at(trained, evil, rehash, record)
    capsys.readouterr()
    assert _layers(trained) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and why in err and "--trust-model-code" in err, err
    assert not evil.with_name("IMPORTED").exists()
    assert _layers(trained, "--trust-model-code") == EXIT_OK  # the user's explicit choice
    assert evil.with_name("IMPORTED").read_text() == "ran"


def test_an_edited_model_file_is_refused(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "proj" / "mymodel.py"
    f.write_text(f.read_text() + "\nprint('changed')\n")
    sys.modules.pop(next((m for m in sys.modules if "mymodel" in m), ""), None)
    assert _layers(trained) == EXIT_BAD_INPUT
    assert "is not the file the run was trained with" in capsys.readouterr().err
