"""The group's data line: resolved cadence, and a note where records used a test subsample."""

from __future__ import annotations

from types import SimpleNamespace

from convscope.report.sections.common import data_line


def numbers(summaries: list[dict], test_size: int = 10000) -> SimpleNamespace:
    runs = [SimpleNamespace(summary=s, data_info={"test_size": test_size}) for s in summaries]
    cfg = {"train": {"iterations": 1200, "epochs": None, "batch_size": 50, "eval_every": None}}
    stats = [SimpleNamespace(config=cfg, statuses=["completed"])]
    return SimpleNamespace(
        group=SimpleNamespace(runs=runs), stats=stats, dataset="big", threshold_note=""
    )


def test_default_cadence_shows_the_resolved_value_and_the_subsample() -> None:
    line = data_line(numbers([{"eval_every": 150, "test_eval_size": 500}]), with_threshold=False)
    assert "metrics every 150 iterations" in line
    assert "on 500 of 10000 test images; the last on all" in line


def test_whole_split_records_say_nothing_more() -> None:
    line = data_line(numbers([{"eval_every": 150, "test_eval_size": 1000}], 1000), False)
    assert "test images" not in line and "metrics every 150 iterations;" in line
    # a run from before the key existed: no resolved values, the config's value
    assert "metrics every – iterations" in data_line(numbers([{}]), False)
