"""A user's own experiment (not the assignment): its report has exactly its own sections, in
file order, its analyses under their group, and no claims table or "not testable" line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convscope.experiments.executors import InlineExecutor
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.report import write_report

EXPERIMENT = """
name = "my-digits"
seeds = [0, 1]

[defaults]
data = "digits"
resize = 12
train_per_class = 20
test_per_class = 6
model = "lenet5"
iterations = 8
eval_every = 4
checkpoint_every = 4
train_eval_size = 60
threads = 1

[groups.momentum]
title = "SGD momentum grid"
optimizer = "sgd"
lr = 0.05
batch_size = 20
label = "momentum={momentum}"
[groups.momentum.grid]
momentum = [0.0, 0.9]

[groups.batches]
title = "Batch-size grid"
label = "bs={batch_size}"
[groups.batches.grid]
batch_size = [10, 40]

[[analysis]]
group = "momentum"
what = ["filters", "occlusion"]
options = { occlusion = { per_class = 1, show = 2, stride = 4 } }
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    d = tmp_path_factory.mktemp("user")
    (d / "exp.toml").write_text(EXPERIMENT)
    exp = load_experiment(d / "exp.toml", None, None)
    out = d / "out"
    result = run_experiment(exp, out, InlineExecutor(threads=1))  # type: ignore[arg-type]
    assert not result.failed
    _, md = write_report(out)
    return md.read_text(), out


def headings(md: str) -> list[tuple[int, str]]:
    return [
        (len(m[1]), m[2]) for m in re.finditer(r"^(#{2,6}) (.+?)(?: <a id=[^>]*></a>)?$", md, re.M)
    ]


@pytest.mark.slow
def test_sections_are_the_experiments_groups_in_file_order(report: tuple[str, Path]) -> None:
    md, _ = report
    top = [t for level, t in headings(md) if level == 2]
    assert top == [
        "SGD momentum grid",
        "Batch-size grid",
        "All runs",
        "How the numbers are computed",
    ]
    sub = [t for level, t in headings(md) if level == 3]
    # the analyses, under their group (before the next group's heading)
    first, second = md.index("## SGD momentum grid"), md.index("## Batch-size grid")
    for title in ("First convolutional layer weights", "Occlusion sensitivity"):
        (h,) = [t for t in sub if t.startswith(title)]
        assert first < md.index(f"### {h}") < second
    for absent in ("claims at a glance", "not testable", "Problem 1", "Other groups", "cnn"):
        assert absent not in md, absent
    assert "This output has no" not in md and "section is empty" not in md


@pytest.mark.slow
def test_group_text_describes_the_whole_group(report: tuple[str, Path]) -> None:
    md, _ = report
    batches = md[md.index("## Batch-size grid") : md.index("## All runs")]
    assert "batch sizes 10, 40" in batches  # not the first run's batch size
    momentum = md[md.index("## SGD momentum grid") : md.index("## Batch-size grid")]
    assert "batch size 20" in momentum and "2 seeds per configuration" in momentum
    assert "| momentum |" in momentum  # the varied key is a column of the table


@pytest.mark.slow
def test_analysis_figures_and_options_come_from_the_saved_json(report: tuple[str, Path]) -> None:
    md, out = report
    momentum = md[md.index("## SGD momentum grid") : md.index("## Batch-size grid")]
    from urllib.parse import unquote

    for rel in re.findall(r"\]\((runs/[^)]+\.png)\)", momentum):
        assert (out / unquote(rel)).is_file(), rel
    assert len(re.findall(r"\(runs/[^)]*zf_occlusion\.png\)", momentum)) == 2  # one per config
    assert "option stride = 4" in momentum
