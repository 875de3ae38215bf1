"""Group analyses as executor tasks: queued once their group's runs finish (overlapping the runs
still training), and kept on a rerun when nothing they read has changed."""

from __future__ import annotations

import sys
from pathlib import Path

from convscope import io
from convscope.experiments.executors import InlineExecutor
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.studies.base import GroupContext, Study, StudyResult

sys.path.insert(0, str(Path(__file__).parent))
from helpers import write_experiment  # noqa: E402

CALLS: list[str] = []


class RunCount(Study):
    name = "run_count"
    title = "Runs in the group"
    scope = "group"

    def run_group(self, ctx: GroupContext, opts: object) -> StudyResult:
        CALLS.append(ctx.group)
        n = len(ctx.runs)
        return StudyResult(numbers={"runs": n}, observations=[f"{n} runs."])


BODY = """
[groups.first]
label = "lr={lr}"
[groups.first.grid]
lr = [0.01, 0.001]

[groups.second]
label = "later-{lr}"
[groups.second.grid]
lr = [0.02, 0.002]

[[analysis]]
group = "first"
what = ["test_group_tasks:RunCount"]
"""


class Events:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def start(self, status: object) -> None: ...
    def update(self, status: object) -> None: ...
    def close(self) -> None: ...

    def event(self, message: str) -> None:
        self.lines.append(message)


def _run(f: Path, out: Path) -> list[str]:
    ev = Events()
    run_experiment(load_experiment(f, None, None), out, InlineExecutor(threads=1), monitor=ev)
    return ev.lines


def test_group_analysis_overlaps_later_runs_and_is_kept_when_unchanged(tmp_path: Path) -> None:
    f = write_experiment(tmp_path / "e.toml", BODY, iterations=10)
    out = tmp_path / "out"
    CALLS.clear()
    lines = _run(f, out)
    done = next(i for i, m in enumerate(lines) if m.startswith("group first: analyses done"))
    later = [i for i, m in enumerate(lines) if m.startswith("later-")]
    # queued as soon as group "first" finished: before group "second"'s last run is done
    assert later and done < max(later), lines
    assert CALLS == ["first"]
    doc = io.read_json(out / "groups" / "first" / "analysis" / "run_count.json")
    assert doc["numbers"]["runs"] == 2
    assert doc["timing"]["wall_s"] > 0 and doc["timing"]["cpu_s"] >= 0

    lines = _run(f, out)  # nothing changed: kept, not recomputed
    assert CALLS == ["first"]
    assert any("unchanged since the last run: kept" in m for m in lines), lines

    # a member run whose summary changed is analysed again
    member = sorted((out / "runs").glob("lr=0.01-*"))[0]
    s = io.read_json(member / "summary.json")
    io.write_json(member / "summary.json", {**s, "note": "edited"})
    _run(f, out)
    assert CALLS == ["first", "first"]
    # and so is one whose result file is gone
    (out / "groups" / "first" / "analysis" / "run_count.json").unlink()
    _run(f, out)
    assert CALLS == ["first", "first", "first"]
