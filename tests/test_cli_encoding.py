"""A path the terminal's encoding cannot show never fails a command (issue 22, case 19): with
``PYTHONIOENCODING=ascii`` or a POSIX locale, output is escaped, not a UnicodeEncodeError."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii:strict"},
    ],
)
def test_unicode_paths_with_an_ascii_terminal(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "résultats ü" / "run"
    cmd = [sys.executable, "-m", "convscope", "train", "--data", "digits", "--iterations", "2",
           "--batch-size", "10", "--eval-every", "2", "--threads", "1", "--out", str(out)]  # fmt: skip
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    p = subprocess.run(cmd, env=full, capture_output=True, timeout=300, check=False)
    text = (p.stdout + p.stderr).decode("ascii", "replace")
    assert p.returncode == 0, text
    assert "UnicodeEncodeError" not in text and "internal error" not in text
    assert "r\\xe9sultats \\xfc" in text  # the path, escaped
    assert (out / "summary.json").is_file()
