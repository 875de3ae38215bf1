"""User model factories and start-up hooks for tests/train/test_out_dir_and_inputs.py."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from torch import nn


def raising(**kwargs: Any) -> nn.Module:
    raise ValueError("my bug")


class _Empty(nn.Module):
    def forward(self, x: Any) -> Any:
        return x.flatten(1)[:, :10]


def empty(**kwargs: Any) -> nn.Module:
    return _Empty()


def _pause(marker: Path) -> None:
    marker.write_text("paused\n")
    time.sleep(60)


def install_startup_pause(hook: str) -> None:
    """Pause (writing ``<out>.paused``) while the data loads or right after summary 'running'."""
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    marker = Path(str(out) + ".paused")
    if hook == "load":
        import convscope.data as data

        original = data.load_dataset

        def load(*a: Any, **k: Any) -> Any:
            _pause(marker)
            return original(*a, **k)

        data.load_dataset = load
    else:
        import convscope.train.loop as loop

        original_summary = loop._write_summary

        def write_summary(*a: Any, **k: Any) -> Any:
            s = original_summary(*a, **k)
            if s.get("status") == "running" and not marker.exists():
                _pause(marker)
            return s

        loop._write_summary = write_summary
