"""What must show: a CNN trained outside convscope in a plain loop, saved Lightning-style
(``{"state_dict": {"model.<k>": ...}}``) with its own normalisation, imported with the CLI,
analysed with every analysis and explored; the imported test accuracy and every unit's maximum
activation in the explorer equal plain forward hooks on the user's model. RGB 32x32 end to end,
with colour figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import import_helpers as h
import numpy as np
import pytest
import torch
from PIL import Image

from convscope.cli import main
from convscope.studies.runner import analyze, run_scope_names

NORM = ",".join(map(str, h.MEAN)) + "/" + ",".join(map(str, h.STD))
EXPLORED = {"conv1": "relu1", "conv2": "relu2", "fc1": "relu3"}  # layer -> the ReLU after it


def unit_json(page: Path) -> dict:
    m = re.search(
        r'<script type="application/json" id="unit-data">(.*?)</script>', page.read_text()
    )
    assert m, page
    return json.loads(m.group(1).replace("<\\/", "</"))


def has_colour(png: Path) -> bool:
    a = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return bool((np.abs(a[..., 0] - a[..., 1]) + np.abs(a[..., 1] - a[..., 2]) > 30).mean() > 0.01)


@pytest.mark.slow
def test_imported_model_equals_forward_hooks(tmp_path, capsys, rgb_data, user_model) -> None:
    w = tmp_path / "epoch=3-step=150.ckpt"
    sd = {f"model.{k}": v for k, v in user_model.state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 3, "global_step": 150}, w)
    run = tmp_path / "run"
    argv = ["import", "-q", "--model", f"{h.HERE}:small_cnn", "--weights", str(w)]
    argv += ["--data", str(rgb_data), "--normalize", NORM, "--out", str(run)]
    assert main(argv) == 0, capsys.readouterr().err
    x, y = h.read_split(rgb_data, "Test")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] == h.accuracy(user_model, x, y)
    assert summary["warnings"] == []

    assert main(["analyze", "-q", str(run)]) == 0, capsys.readouterr().err
    for name in run_scope_names():
        doc = json.loads((run / "analysis" / f"{name}.json").read_text())
        assert doc["observations"], name
        for f in doc["figures"]:
            assert (run / f["path"]).is_file(), f
    for fig in ("filters.png", "zf_deconv.png", "zf_topk_relu1.png"):
        assert has_colour(run / "figures" / fig), fig

    assert main(["explore", "-q", str(run)]) == 0, capsys.readouterr().err
    site = run / "explore"
    oracle = h.hooked_maxima(user_model, x, EXPLORED)
    for layer in EXPLORED:
        pages = sorted((site / "units" / layer).glob("*.html"), key=lambda p: int(p.stem))
        assert len(pages) == len(oracle[layer])
        got = np.array([unit_json(p)["max"] for p in pages])
        np.testing.assert_allclose(got, oracle[layer], rtol=1e-5, atol=1e-6, err_msg=layer)
    assert has_colour(site / "units" / "conv2" / "0.png")


@pytest.mark.slow
def test_rgb_48px_resnet8_every_analysis_and_explorer(tmp_path, capsys) -> None:
    """Larger than 32x32: the built-in resnet8 (a skip graph) on 48x48 RGB, imported from a
    state_dict saved with DataParallel's ``module.`` prefix."""
    from convscope.models.resnet import ResNet8

    data = h.write_rgb_set(tmp_path / "big", n_train=6, n_test=5, size=48)
    torch.manual_seed(0)
    model = ResNet8(in_channels=3, num_classes=3).eval()
    w = tmp_path / "w.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, w)
    run = tmp_path / "run"
    argv = ["import", "-q", "--model", "resnet8", "--weights", str(w), "--data", str(data)]
    assert main([*argv, "--normalize", "0.5,0.25", "--out", str(run)]) == 0
    # every analysis but sanity through the CLI; sanity (7 methods x 19 re-initialised layers,
    # 121 occluder positions at 48 px: 230 s at its defaults) through the API, every method on
    # 1 seed, 2 images, 36 occluder positions and 4 integration steps
    rest = [n for n in run_scope_names() if n != "sanity"]
    assert main(["analyze", "-q", str(run), "--what", ",".join(rest)]) == 0, capsys.readouterr().err
    few = {"seeds": [0], "images": 2, "occlusion_stride": 8, "ig_steps": 4}
    analyze(run, ["sanity"], {"sanity": few})
    for name in run_scope_names():
        assert json.loads((run / "analysis" / f"{name}.json").read_text())["observations"]
    assert has_colour(run / "figures" / "filters.png")
    assert main(["explore", "-q", str(run), "--layers", "conv1"]) == 0
    x, _ = h.read_split(data, "Test")
    xn = (x.float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        stem = torch.relu(model.bn1(model.conv1(xn)))
    want = stem.flatten(2).amax(2).amax(0).numpy()
    pages = sorted((run / "explore" / "units" / "conv1").glob("*.html"), key=lambda p: int(p.stem))
    got = np.array([unit_json(p)["max"] for p in pages])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
