"""The example models of the layers people write (issue 19), each given by path: each trains
with the defaults, passes every analysis and ``convscope explore``; a model with one layer kind
that has no deconvnet rule runs every other analysis, closes with its table and exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convscope.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("fast_cifar_net", "mobile_net", "vgg_groupnorm")
ANALYSES = (
    "filters",
    "activations",
    "deconv",
    "topk",
    "evolution",
    "occlusion",
    "invariance",
    "correspondence",
    "sanity",
)


@pytest.fixture(scope="module")
def rgb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class 32x32 RGB image-folder set (6 train, 5 test images per class)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("rgb") / "data"
    rng = np.random.default_rng(0)
    for split, n in (("Train", 6), ("Test", 5)):
        for c in ("cat", "dog", "ship"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                a = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(a).save(root / split / c / f"img{i:03d}.png")
    return root


def _train(tmp: Path, model: str, data: Path) -> Path:
    out = tmp / "run"
    argv = ["train", "--model", model, "--data", str(data), "--iterations", "4"]
    argv += ["--batch-size", "6", "--keep-checkpoints", "2", "--out", str(out), "-q"]
    assert main([*argv, "--threads", "1"]) == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_model_passes_every_analysis_and_explore(
    name: str, rgb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _train(tmp_path, f"{ROOT}/examples/models/{name}.py:net", rgb)
    capsys.readouterr()
    assert main(["analyze", str(run)]) == 0
    out = capsys.readouterr().out
    # every built-in analysis ran (another test may have registered one more: it ran too)
    assert out.rstrip().endswith("ran, 0 refused, 0 failed")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if "  ran " in line}
    assert all(rows.get(a) == "ran" for a in ANALYSES), rows
    for a in ANALYSES:
        doc = json.loads((run / "analysis" / f"{a}.json").read_text())
        assert doc["timing"]["wall_s"] > 0 and doc["timing"]["cpu_s"] >= 0
    assert main(["explore", str(run), "-q"]) == 0
    assert (run / "explore" / "index.html").is_file()
    topk = json.loads((run / "analysis" / "topk.json").read_text())
    text = " ".join(topk["observations"])
    for row in topk["numbers"]["per_layer"]:  # a positional name is said with what it is
        if any(part.isdigit() for part in row["layer"].split(".")):
            assert f"{row['layer']} (" in text and row["display"].startswith(row["layer"] + " (")


TANH_NET = """
from torch import nn

def net(in_channels=3, num_classes=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(32, num_classes),
    )
"""


@pytest.mark.slow
def test_a_layer_without_a_rule_refuses_only_the_projections(
    rgb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tanh_net.py").write_text(TANH_NET)
    run = _train(tmp_path, f"{tmp_path / 'tanh_net.py'}:net", rgb)
    capsys.readouterr()
    assert main(["analyze", str(run)]) == 2
    out = capsys.readouterr().out
    table = out[out.index("analysis  ") :].splitlines()
    status = {line.split()[0]: line.split()[1] for line in table[1:-1]}
    status = {k: v for k, v in status.items() if k in ANALYSES}  # the built-in ones
    assert status == {
        "filters": "ran",
        "activations": "ran",
        "deconv": "refused",
        "topk": "ran",
        "evolution": "refused",
        "occlusion": "ran",
        "invariance": "ran",
        "correspondence": "ran",
        "sanity": "ran",
    }
    refused = [line for line in table if " refused " in line]
    assert all("layer 2 (Tanh) has no projection rule" in line for line in refused)
    assert table[-1].endswith("ran, 2 refused, 0 failed")
    topk = json.loads((run / "analysis" / "topk.json").read_text())
    assert "saturating" in topk["numbers"]["per_layer"][0]["projection"]
    assert main(["explore", str(run), "-q"]) == 0  # tiles and histograms: forward only


UNTRACEABLE = """
from torch import nn

class Net(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.c, self.fc = nn.Conv2d(in_channels, 4, 3), nn.Linear(4, num_classes)

    def forward(self, x):
        h = self.c(x)
        if h.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            h = h.relu()
        return self.fc(h.mean((2, 3)))
"""


def test_a_model_the_graph_cannot_trace_still_trains(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "untraceable.py").write_text(UNTRACEABLE)
    argv = ["train", "--model", f"{tmp_path / 'untraceable.py'}:Net", "--data", "digits"]
    argv += ["--iterations", "4", "--activation-stats-every", "2", "--out", str(tmp_path / "r")]
    assert main([*argv, "-q", "--threads", "1"]) == 0
    off = [r.getMessage() for r in caplog.records if "activation statistics off" in r.getMessage()]
    assert len(off) == 1 and "cannot be traced" in off[0]
