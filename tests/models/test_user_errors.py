"""A mistake in the user's model or numbers is the user's error: one line naming the factory,
the file or the key, exit 2, never an internal error (issue 22, cases 12-15)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from convscope.cli import main
from convscope.errors import EXIT_BAD_INPUT, EXIT_OK

FACTORIES = """
import torch
from torch import nn

class Tuple(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(28 * 28, n)
    def forward(self, x):
        y = self.fc(x.flatten(1))
        return y, y

class Dict(Tuple):
    def forward(self, x):
        return {"logits": self.fc(x.flatten(1))}

def tuple_out(in_channels, image_size, num_classes):
    return Tuple(num_classes)

def dict_out(in_channels, image_size, num_classes):
    return Dict(num_classes)

def five_logits(in_channels, image_size, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 5))

def fifty_logits(in_channels, image_size, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 50))

def for_32px(in_channels, image_size, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 32 * 32, num_classes))

def good(in_channels, image_size, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, num_classes))
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    f = tmp_path / "models.py"
    f.write_text(FACTORIES)
    return f


def _train(out: Path, *args: str) -> list[str]:
    return ["train", "--data", "digits", "--iterations", "2", "--batch-size", "10",
            "--eval-every", "2", "--threads", "1", "-q", "--out", str(out), *args]  # fmt: skip


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("convscope: error:") and "\n" not in err, err
    return err


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            "tuple_out",
            "returned tuple for a batch of shape 2x1x28x28; expected a tensor of shape 2x10",
        ),
        ("dict_out", "returned dict for a batch of shape 2x1x28x28"),
        ("five_logits", "returned a tensor of shape 2x5 for a batch of shape 2x1x28x28"),
        ("fifty_logits", "returned a tensor of shape 2x50"),
        ("for_32px", "failed on a batch of shape 2x1x28x28: RuntimeError"),
    ],
)
def test_a_model_whose_output_does_not_fit_the_data_stops_at_start_up(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], factory: str, message: str
) -> None:
    out = tmp_path / "run"
    assert main(_train(out, "--model", f"{models}:{factory}")) == EXIT_BAD_INPUT
    line = _line(capsys)
    assert message in line and f"{models}:{factory}" in line
    assert not (out / "metrics.jsonl").exists()  # before any step


def test_a_checkpoint_of_other_shapes_names_the_file(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(_train(out, "--model", f"{models}:good", "--keep-checkpoints", "2")) == EXIT_OK
    snap = out / "checkpoints" / "step_0000002.pt"
    ckpt = torch.load(snap, weights_only=True)
    ckpt["model"] = {k: torch.zeros(3, *v.shape[1:]) for k, v in ckpt["model"].items()}
    torch.save(ckpt, snap)
    assert main(["analyze", str(out), "--layers", "-q"]) == EXIT_BAD_INPUT
    line = _line(capsys)
    assert str(snap) in line and "does not fit model" in line and "size mismatch" in line
    assert main(["explore", str(out), "--out", str(tmp_path / "site"), "-q"]) == EXIT_BAD_INPUT
    assert str(snap) in _line(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", str(2**64)], "config key 'seed': 18446744073709551616 is out of range"),
        (["--seed", "9" * 5000], "config key 'seed': expected an integer"),
        (["--model", "gru", "--hidden-size", "200000"], "GiB for weights and gradients alone"),
    ],
)
def test_numbers_out_of_range_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(_train(tmp_path / "run", *args)) == EXIT_BAD_INPUT
    assert message in _line(capsys)


def test_seeds_beyond_2_64_in_an_experiment_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "e.toml"
    f.write_text(f'name = "t"\n[defaults]\ndata = "digits"\n[groups.g]\nseeds = [{2**64}]\n')
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "-q"]) == EXIT_BAD_INPUT
    assert "key 'seeds'" in _line(capsys)
