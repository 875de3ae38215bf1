"""The registered group study ``across``: known-answer runs through the runner and the report."""

from __future__ import annotations

import json
from pathlib import Path

from convscope.report.document import Figure, Table
from convscope.report.sections.analysis import RenderView
from convscope.studies import resolve
from convscope.studies.runner import analyze_group


def _group(root: Path, across_run) -> list[tuple[Path, str]]:
    runs = []
    for label, dead in (("ref", (2, 3, 2)), ("killer", (7, 8, 7))):
        for seed, n in enumerate(dead):
            d = across_run(
                root / "runs",
                f"{label}-s{seed}",
                seed,
                n,
                1,
                {"conv1": 0.5, "fc1": 0.2, "fc2": 1.0},
            )
            runs.append((d, label))
    return runs


def test_group_study_writes_verdicts_figures_and_renders(tmp_path: Path, across_run) -> None:
    cls = resolve("across")
    assert cls.scope == "group"
    runs = _group(tmp_path, across_run)
    written = analyze_group(tmp_path, "optimizers", runs, ["across"], {"across": {"gabor": False}})
    path = written["across"]
    assert path == tmp_path / "groups" / "optimizers" / "analysis" / "across.json"
    doc = json.loads(path.read_text())
    assert doc["study"] == "across" and doc["group"] == "optimizers"
    n = doc["numbers"]
    assert n["configurations"] == ["ref", "killer"] and n["reference"] == "ref"
    assert n["quantities"]["dead_fraction"]["conv1"]["killer"]["values"] == [7 / 8, 1.0, 7 / 8]
    assert doc["verdicts"]["dead_fraction_differs"]["verdict"] == "supported"
    assert doc["verdicts"]["weight_change_differs"]["verdict"] == "not supported"
    assert any(
        "killer leaves 91.7 ± 7.2% of conv1 maps dead against 29.2 ± 7.2% under ref" in o
        for o in doc["observations"]
    )
    for f in doc["figures"]:
        assert (path.parent.parent / f["path"]).is_file()
    blocks = cls().render(doc, RenderView(tmp_path, path.parent.parent, "optimizers"))
    tables = [b for b in blocks if isinstance(b, Table)]
    assert tables[0].header == ["configuration", "conv1", "fc1"]
    assert tables[0].rows[1][:2] == ["killer", "91.7 ± 7.2% †"]
    figs = [b.src for b in blocks if isinstance(b, Figure)]
    assert "groups/optimizers/figures/across_dead_fraction.png" in figs
