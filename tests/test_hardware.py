"""Hardware detection: bf16 support read from CPU flags, never assumed."""

from __future__ import annotations

from pathlib import Path

import pytest

from convscope.hardware import _cpu_name, cpu_features, cpu_flags, features

XEON = "processor : 0\nmodel name : Intel Xeon\nflags : fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"
EPYC_BF16 = "processor : 0\nmodel name : AMD EPYC\nflags : fpu avx2 avx512f avx512_bf16\n"
EPYC_OLD = "processor : 0\nmodel name : AMD EPYC 7B13\nflags : fpu avx2 fma\n"


def test_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    p = tmp_path / "cpuinfo"
    p.write_text(XEON)
    assert {"amx_bf16", "avx512_bf16", "fpu"} <= cpu_flags(p)
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_bf16_fast_only_with_bf16_instructions() -> None:
    for text, fast in ((XEON, True), (EPYC_BF16, True), (EPYC_OLD, False)):
        flags = frozenset(text.split("flags :")[1].split())
        f = cpu_features(flags, "cpu")
        assert f.bf16_fast is fast, text
        assert f.reason.startswith("CPU has amx_bf16") == ("amx_bf16" in flags)


def test_this_machine_answers_the_same_every_time() -> None:
    a = features("cpu")
    features.cache_clear()
    assert features("cpu") == a
    assert a.bf16_fast == bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def test_no_cuda_no_bf16_on_cuda(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    features.cache_clear()
    try:
        assert not features("cuda").bf16_fast
    finally:
        features.cache_clear()


def test_cpu_name_tells_hosts_of_one_model_name_apart(tmp_path: Path) -> None:
    p = tmp_path / "cpuinfo"
    block = "processor : {i}\ncpu family : 25\nmodel : 17\nmodel name : AMD EPYC\n"
    p.write_text("\n".join(block.format(i=i) for i in range(2)))
    assert _cpu_name(p) == "AMD EPYC (family 25, model 17)"
    p.write_text(XEON)  # no family or model listed: the name alone
    assert _cpu_name(p) == "Intel Xeon"


def test_one_resolution_of_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` means CUDA where torch sees it, else the CPU, for training, precision and the
    studies alike (all three call :func:`device_kind`); other values pass through."""
    import torch

    from convscope.hardware import device_kind
    from convscope.train import precision, steps

    for available, want in ((False, "cpu"), (True, "cuda")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda a=available: a)
        assert device_kind("auto") == precision.device_type("auto") == want
        assert steps.resolve_device("auto") == torch.device(want)
    assert device_kind("cpu") == "cpu" and device_kind("cuda") == "cuda"
