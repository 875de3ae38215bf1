"""The Zeiler & Fergus studies on CUDA give the CPU's answers (issue 23). Runs only where a GPU
is present (CI is CPU-only); the CPU side is the oracle."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from convscope.config import from_flat
from convscope.studies.runner import analyze
from convscope.train.loop import train

WHAT = ("deconv", "topk", "evolution", "occlusion", "invariance", "correspondence")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_analyses_match_cpu(tmp_path: Path) -> None:
    cfg = from_flat(
        {
            "data": "digits",
            "iterations": 6,
            "batch_size": 50,
            "eval_every": 3,
            "checkpoint_every": 3,
            "keep_checkpoints": [2, 4],
            "threads": 1,
            "device": "cpu",
        }
    )
    cpu_run = tmp_path / "cpu"
    train(cfg, cpu_run)
    gpu_run = tmp_path / "gpu"
    shutil.copytree(cpu_run, gpu_run)
    for run, device in ((cpu_run, "cpu"), (gpu_run, "cuda")):
        errors: dict[str, str] = {}
        analyze(run, WHAT, device=device, errors=errors)
        assert not errors, errors
    for npz in sorted((cpu_run / "analysis").glob("*.npz")):
        with np.load(npz) as a, np.load(gpu_run / "analysis" / npz.name) as b:
            assert a.files == b.files, npz.name
            for k in a.files:
                if a[k].dtype.kind in "iub":  # indices, positions, classes: exactly
                    assert np.array_equal(a[k], b[k]), f"{npz.name}:{k}"
                else:
                    np.testing.assert_allclose(
                        a[k], b[k], rtol=1e-3, atol=1e-4, err_msg=f"{npz.name}:{k}"
                    )
