"""What the machine convscope runs on can do fast: detected at run time, never assumed.

The machine can change from one run to the next (a cloud host today, another tomorrow), so
precision choices read :func:`features` instead of guessing. Detection uses only what the
operating system and torch report; nothing is timed, so the answer is the same every time on
one machine (a timed calibration would flip under load, and the resolved precision is part of
a run's identity: see :mod:`convscope.train.precision`).
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Features:
    """The precision-relevant abilities of one device."""

    device: str  # "cpu" or "cuda"
    name: str  # CPU model name or GPU name
    bf16_fast: bool  # bf16 matrix units or instructions (AMX, AVX-512 BF16, CUDA bf16)
    reason: str  # one line: why bf16_fast is what it is


def device_kind(device: str) -> str:
    """The device a config ``device`` value names: ``auto`` is ``cuda`` where torch sees a CUDA
    GPU, else ``cpu``; any other value is returned as given. The one resolution of ``auto``
    (training, precision and the studies all call it)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``); empty where the OS does not list them."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The first CPU's model name, with its family and model numbers where listed: a virtual
    machine may name different hosts alike ("AMD EPYC"), and their speeds differ."""
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip() and fields:  # the end of the first processor's block
                break
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine() or "unknown CPU"
    if fields.get("cpu family") and fields.get("model"):
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


def cpu_features(flags: frozenset[str] | None = None, name: str | None = None) -> Features:
    """CPU bf16 support from its flags: AMX (``amx_bf16``) or AVX-512 BF16 (``avx512_bf16``).

    Without either, bf16 runs through emulation: measured 10x slower than fp32 on an AMD CPU
    without them. ``flags``/``name`` default to this machine's.
    """
    flags = cpu_flags() if flags is None else flags
    name = _cpu_name() if name is None else name
    have = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    if have:
        return Features("cpu", name, True, f"CPU has {' and '.join(have)}")
    return Features("cpu", name, False, "CPU has neither amx_bf16 nor avx512_bf16")


@functools.lru_cache(maxsize=4)
def features(device: str = "cpu") -> Features:
    """This machine's :class:`Features` for ``device`` (``"cpu"`` or ``"cuda"``), cached."""
    if device == "cuda":
        if not torch.cuda.is_available():
            return Features("cuda", "none", False, "no CUDA GPU")
        name = torch.cuda.get_device_name()
        ok = bool(torch.cuda.is_bf16_supported())
        return Features("cuda", name, ok, f"{name} {'supports' if ok else 'lacks'} bf16")
    return cpu_features()
