"""convscope.allocator: glibc keeps a step's freed memory instead of faulting it in again."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, sys, torch
from convscope import allocator
print(allocator.tune(), file=sys.stderr)
from convscope.config import ModelConfig, from_flat
from convscope.models import build_model
from convscope.train.steps import make_optimizer, train_step
torch.set_num_threads(1)
torch.manual_seed(0)
model = build_model(ModelConfig(model="lenet5"), (1, 28, 28), 10)
opt = make_optimizer(from_flat({"optimizer": "rmsprop", "lr": 1e-4}), iter(model.parameters()))
x, y = torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,))
for _ in range(3):  # warm up
    train_step(model, opt, x, y)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    train_step(model, opt, x, y)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


def faults(tune: str) -> tuple[int, str]:
    env = {**os.environ, "CONVSCOPE_MALLOC_TUNE": tune}
    r = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return int(r.stdout.strip()), r.stderr.strip()


@glibc
def test_freed_step_memory_is_reused_without_page_faults() -> None:
    off, said_off = faults("0")
    on, said_on = faults("1")
    assert said_off == "False" and said_on == "True"
    # LeNet5's 13 MB fc1 gradient and RMSProp's temporaries, mapped afresh every step
    assert off > 20 * 3000
    assert on < off / 10


def test_tune_is_idempotent_and_never_raises() -> None:
    from convscope import allocator

    first = allocator.tune()
    assert allocator.tune() is first
