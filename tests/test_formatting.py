"""The one number formatter: each function writes what its call sites wrote before it."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from convscope import formatting as F
from convscope.explore import pages
from convscope.report import stats
from convscope.studies.across.summary import fmt


def test_percent_call_sites_pinned() -> None:
    # the report (report/stats.pct, report/tables), the Gabor sentence, the importer: one decimal
    assert F.pct(0.4123) == stats.pct(0.4123) == "41.2%"
    assert F.pct(None) == F.pct(math.nan) == "–"
    assert F.pct(0.98765, digits=2) == "98.77%"
    # the CLI's "time outside optimizer steps" (was f"{share:.1%}", "n/a" for None)
    assert F.pct(0.0523, missing=F.NA) == "5.2%" and F.pct(None, missing=F.NA) == "n/a"
    # the explorer's pages: whole percents, "n/a" for None and NaN
    assert pages.pct(0.4567) == "46%" and pages.pct(None) == pages.pct(math.nan) == "n/a"


def test_other_formats_pinned() -> None:
    assert F.pp(0.012) == "+1.2 pp" and F.pp(-0.0349) == "-3.5 pp" and F.pp(0.0) == "+0.0 pp"
    # the CLI's run summary: accuracies with four decimals, "n/a" for None
    assert F.fixed(0.987654, 4) == "0.9877" and F.fixed(None, 4) == "n/a"
    assert F.p_value(0.012345) == "0.012" and F.p_value(3.14e-05) == "3.1e-05"
    assert F.mean_sd(0.41234, 0.0131, 3, percent=True) == "41.2 ± 1.3%"
    assert F.mean_sd(0.41234, 0.0131, 1, percent=True) == "41.2%"
    assert F.mean_sd(1234.4, 141.42, 3, digits=0) == "1234 ± 141"
    # report/stats.fmt_ms and the across study's table cells
    assert stats.fmt_ms(stats.MeanStd(0.5, 0.01, 2, 3)) == "50.0 ± 1.0% (2/3 seeds)"
    assert fmt(0.641, 0.052, 3, "percent") == "64.1 ± 5.2%"
    assert fmt(325.0, 25.2, 2, "steps") == "325 ± 25" and fmt(0.41, 0.03, 2, "r2") == "0.41 ± 0.03"
    assert fmt(0.41, 0.03, 1, "other") == "0.41" and fmt(math.nan, 0.1, 2, "percent") == "–"


@settings(max_examples=200, deadline=None)
@given(st.floats(-10, 10, allow_nan=False), st.integers(0, 3))
def test_pct_is_pythons_percent_format(x: float, digits: int) -> None:
    """``pct`` is Python's own ``%`` presentation type (which the CLI and importer used)."""
    assert F.pct(x, digits) == f"{x:.{digits}%}"
