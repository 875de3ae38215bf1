"""Typed executor tasks: picklable, threads set by the executor, run by the worker."""

from __future__ import annotations

import pickle
from pathlib import Path

from convscope.experiments.tasks import AnalyzeTask, TrainTask, with_threads
from convscope.experiments.worker import execute


def test_tasks_pickle_and_take_threads() -> None:
    t = TrainTask("abc", "/tmp/r", {"data": {"data": "digits"}}, stop_after=3)
    assert pickle.loads(pickle.dumps(t)) == t
    t2 = with_threads(t, 2)
    assert (t2.threads, t.threads, t2.stop_after, t2.kind) == (2, None, 3, "train")
    a = AnalyzeTask("abc", "/tmp/r", ("filters",))
    assert with_threads(a, 1).kind == "analyze" and a.options == {}


def test_a_failing_task_is_a_result_not_an_exception(tmp_path: Path) -> None:
    r = execute(TrainTask("k1", str(tmp_path / "run"), {"data": {"data": 5}}))
    assert r["status"] == "failed" and r["kind"] == "train" and r["key"] == "k1"
    assert "data" in r["error"]
