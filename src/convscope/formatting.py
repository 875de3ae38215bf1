"""How numbers are written into text: the one place for percentages, percentage points,
fixed decimals, "mean ± sd" and p-values.

Every function writes exactly what its callers wrote before it existed (the report, the
studies' sentences, the explorer's pages, the CLI's summary); the format of each is stated in
its docstring and pinned by ``tests/test_formatting.py``. Durations: :func:`convscope.progress
.format_seconds`.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "–"  # a missing number in the report and the studies' tables (en dash)
NA = "n/a"  # a missing number in the CLI's summary and the explorer's pages


def _missing(x: Any) -> bool:
    return x is None or not math.isfinite(x)


def pct(x: float | None, digits: int = 1, missing: str = DASH) -> str:
    """A fraction as a percentage: ``0.4123`` -> ``"41.2%"`` (``digits`` decimals); None, NaN
    or ±inf -> ``missing``. The report's one percent format (``digits=1``); the explorer's pages
    show ``digits=0`` with ``missing="n/a"``."""
    if _missing(x):
        return missing
    return f"{100 * x:.{digits}f}%"


def pp(x: float, digits: int = 1) -> str:
    """A difference of fractions in percentage points, signed: ``0.012`` -> ``"+1.2 pp"``."""
    return f"{100 * x:+.{digits}f} pp"


def fixed(x: float | None, digits: int, missing: str = NA) -> str:
    """``x`` with ``digits`` decimals (``0.98765`` -> ``"0.9877"`` at 4); None -> ``missing``
    (NaN stays ``"nan"``: the CLI's summary of a run)."""
    return missing if x is None else f"{x:.{digits}f}"


def mean_sd(mean: float, sd: float, n: int, digits: int = 1, percent: bool = False) -> str:
    """``"41.2 ± 1.3%"`` (``percent``: both scaled by 100), ``"325 ± 25"`` (``digits=0``);
    with ``n <= 1`` the mean alone (``"41.2%"``). Fixed decimals, the same for both."""
    scale, unit = (100.0, "%") if percent else (1.0, "")
    text = f"{scale * mean:.{digits}f}"
    if n > 1:
        text += f" ± {scale * sd:.{digits}f}"
    return text + unit


def p_value(p: float) -> str:
    """A p-value with two significant digits: ``0.012345`` -> ``"0.012"``, ``3e-05``."""
    return f"{p:.2g}"
