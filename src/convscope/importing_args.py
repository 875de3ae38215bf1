"""Parse what ``convscope import`` takes on the command line (no torch needed).

``--model-args k=v,...`` (values: int, float, true/false, none, or text), ``--normalize
MEAN,STD | M1,M2,M3/S1,S2,S3 | none`` (on the [0, 1] scale, as torchvision's ``Normalize``
after ``ToTensor``) and ``--weights PATH | STEP=PATH``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from convscope.errors import ConfigError


def parse_model_args(text: str | None) -> dict[str, Any]:
    """``"width=32,bias=false,act=relu"`` -> ``{"width": 32, "bias": False, "act": "relu"}``."""
    out: dict[str, Any] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"--model-args: expected k=v,... with Python names, got {part!r}")
        if key in out:
            raise ConfigError(f"--model-args: {key!r} given twice")
        out[key] = _value(raw.strip())
    return out


def _value(raw: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_normalize(text: str | None) -> tuple[list[float], list[float]] | None:
    """``None``/``"none"``: scale to [0, 1] only; else per-channel ``(mean, std)``.

    Forms: ``MEAN,STD`` (every channel), ``M1,...,Mc/S1,...,Sc``, or ``M1,...,Mc,S1,...,Sc``.
    """
    if text is None or text.strip().lower() == "none":
        return None
    t = text.replace(" ", "")
    if "/" in t:
        m_text, _, s_text = t.partition("/")
        mean, std = _numbers(m_text, text), _numbers(s_text, text)
    else:
        nums = _numbers(t, text)
        if len(nums) % 2:
            raise ConfigError(
                f"--normalize: expected MEAN,STD, M1,M2,M3/S1,S2,S3 or none, got {text!r}"
            )
        mean, std = nums[: len(nums) // 2], nums[len(nums) // 2 :]
    if len(mean) != len(std):
        raise ConfigError(f"--normalize: {len(mean)} means but {len(std)} stds in {text!r}")
    if any(s <= 0 for s in std):
        raise ConfigError(f"--normalize: every std must be > 0, got {text!r}")
    if any(abs(m) > 1 or s > 1 for m, s in zip(mean, std)):
        raise ConfigError(
            f"--normalize: expected values on the [0, 1] pixel scale (as torchvision's "
            f"Normalize after ToTensor: e.g. 0.4914,0.4822,0.4465/0.247,0.243,0.261), got {text!r}"
        )
    return mean, std


def _numbers(part: str, text: str) -> list[float]:
    try:
        nums = [float(x) for x in part.split(",") if x]
    except ValueError:
        raise ConfigError(
            f"--normalize: expected numbers (MEAN,STD or M1,M2,M3/S1,S2,S3) or none, got {text!r}"
        ) from None
    if not nums or not all(math.isfinite(x) for x in nums):
        raise ConfigError(f"--normalize: expected finite numbers, got {text!r}")
    return nums


def describe_normalize(mean: list[float] | None, std: list[float] | None) -> str:
    """How images go into the model, in words."""
    if mean is None or std is None:
        return "none: pixels / 255 only"
    return (
        f"(pixels / 255 - ({', '.join(f'{m:g}' for m in mean)})) / "
        f"({', '.join(f'{s:g}' for s in std)})"
    )


def parse_weights(specs: list[str]) -> list[tuple[int | None, Path]]:
    """``["final.pt", "100=a.pt"]`` -> ``[(None, final.pt), (100, a.pt)]``."""
    out: list[tuple[int | None, Path]] = []
    for s in specs:
        m = re.fullmatch(r"(\d+)=(.+)", s)
        out.append((int(m.group(1)), Path(m.group(2))) if m else (None, Path(s)))
    return out
