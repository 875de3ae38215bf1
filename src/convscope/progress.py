"""Progress display owned by the CLI: a tqdm bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    """Where long work (training, building the explorer) reports progress; the CLI supplies a
    bar or plain lines."""

    def start(self, total: int, initial: int, desc: str) -> None: ...

    def update(self, step: int, info: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    """Reports nothing (library use, ``-q``)."""

    def start(self, total: int, initial: int, desc: str) -> None:
        pass

    def update(self, step: int, info: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def format_seconds(s: float | None) -> str:
    if s is None or s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def _fmt_metrics(info: dict[str, Any]) -> str:
    parts = []
    for k in ("train_loss", "train_accuracy", "test_accuracy"):
        v = info.get(k)
        if isinstance(v, float):
            parts.append(f"{k}={v:.4f}")
    return " ".join(parts)


class TqdmProgress:
    """A bar with step, rate and ETA, for a terminal."""

    def __init__(
        self, stream: TextIO | None = None, unit: str = "it", notebook: bool = False
    ) -> None:
        self.stream = stream or sys.stderr
        self.unit = unit
        self.notebook = notebook  # tqdm.auto: a widget in Jupyter, text elsewhere
        self._bar: Any = None

    def start(self, total: int, initial: int, desc: str) -> None:
        if self.notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=self.unit,
            file=self.stream,
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def update(self, step: int, info: dict[str, Any]) -> None:
        if self._bar is None:
            return
        self._bar.update(step - self._bar.n)
        if info:
            self._bar.set_postfix_str(_fmt_metrics(info), refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LineProgress:
    """Plain lines (for logs and pipes): one at each metrics record, at most every ``min_interval`` s."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self.total = 0
        self.desc = ""
        self._t0 = 0.0
        self._s0 = 0
        self._last = 0.0

    def start(self, total: int, initial: int, desc: str) -> None:
        self.total, self.desc = total, desc
        self._t0 = self._last = time.monotonic()
        self._s0 = initial
        print(f"{desc}: step {initial}/{total}", file=self.stream, flush=True)

    def update(self, step: int, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if not info or (now - self._last < self.min_interval and step < self.total):
            return
        self._last = now
        rate = (step - self._s0) / max(now - self._t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else None
        print(
            f"{self.desc}: step {step}/{self.total} ({100 * step / max(1, self.total):.0f}%) "
            f"{rate:.1f} it/s ETA {format_seconds(eta)} {_fmt_metrics(info)}".rstrip(),
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        pass


def auto_progress(stream: TextIO | None = None) -> TqdmProgress | LineProgress:
    s = stream or sys.stderr
    return TqdmProgress(s) if s.isatty() else LineProgress(s)
