"""The Python API: ``import convscope`` is cheap; a module in memory is imported, analysed
(numbers, sentences, verdicts, matplotlib figures) and explored; errors are convscope's own."""

from __future__ import annotations

import subprocess
import sys
import warnings

import import_helpers as h
import pytest
import torch
from matplotlib.figure import Figure

import convscope
from convscope.studies.runner import run_scope_names


def test_import_convscope_is_cheap() -> None:
    code = "import convscope, sys; print(sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "import_model" in dir(convscope) and "open_run" in convscope.__all__


def test_module_in_memory(tmp_path, rgb_data, user_model) -> None:
    run = convscope.import_model(user_model, rgb_data, tmp_path / "run", normalize=(h.MEAN, h.STD))
    x, y = h.read_split(rgb_data, "Test")
    assert run.accuracy == h.accuracy(user_model, x, y)
    assert run.imported["in_memory"] and run.steps == [1]
    assert set(convscope.analyses()) == set(run_scope_names())
    a = run.analyze("occlusion", size=8, stride=4)
    assert a.numbers and a.sentences and a.verdicts is not None
    assert a.choices and a.path.is_file()
    assert a.figures and all(isinstance(f.figure, Figure) for f in a.figures)
    assert a.figures[0]._repr_png_().startswith(b"\x89PNG")
    html = a._repr_html_()
    assert "data:image/png;base64," in html and a.sentences[0][:20] in html.replace("&#x27;", "'")
    saved = run.result("occlusion")
    assert saved.numbers == a.numbers and saved.figures[0].figure is None
    site = run.explore(layers=["conv1"])
    assert site.index.is_file() and site.units == 8
    assert torch.equal(run.model().conv1.weight, user_model.conv1.weight)
    with pytest.raises(convscope.ConvscopeError, match="module in memory"):
        convscope.open_run(run.path).model()
    again = convscope.open_run(run.path, model=h.small_cnn())
    assert torch.equal(again.model().fc2.weight, user_model.fc2.weight)


def test_errors_and_warnings_are_convscopes(tmp_path, rgb_data, user_model) -> None:
    torch.save(user_model, tmp_path / "full.pt")
    with pytest.raises(convscope.WeightsError, match="torch.save\\(model.state_dict"):
        convscope.import_model(
            h.small_cnn(), rgb_data, tmp_path / "a", weights=tmp_path / "full.pt"
        )
    with pytest.raises(convscope.ConfigError, match="unknown analysis"):
        convscope.import_model(user_model, rgb_data, tmp_path / "b").analyze("nope")
    with pytest.raises(convscope.ConfigError, match="no option"):
        convscope.open_run(tmp_path / "b", model=user_model).analyze("occlusion", sise=3)
    with pytest.raises(convscope.ConfigError, match="--normalize"):
        convscope.import_model(user_model, rgb_data, tmp_path / "c", normalize=((125,), (60,)))
    with pytest.raises(convscope.ConvscopeError, match="not a run directory"):
        convscope.open_run(tmp_path)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        convscope.import_model(h.small_cnn(), rgb_data, tmp_path / "d")
    assert [type(w.message) for w in got] == [convscope.ConvscopeWarning]
    assert "chance level" in str(got[0].message)


def test_factory_and_snapshots_from_python(tmp_path, rgb_data, user_model) -> None:
    torch.save(h.small_cnn().state_dict(), tmp_path / "0.pt")
    torch.save({"model": user_model.state_dict()}, tmp_path / "9.pt")
    run = convscope.import_model(
        f"{h.HERE}:small_cnn",
        rgb_data,
        tmp_path / "run",
        weights={0: tmp_path / "0.pt", 9: tmp_path / "9.pt"},
        normalize="0.45,0.5,0.4/0.3,0.25,0.35",
    )
    assert run.steps == [0, 9] and not run.imported["in_memory"]
    evo = convscope.open_run(run.path).analyze("evolution")
    assert evo.numbers and evo.figures


@pytest.mark.slow
def test_train_run_returns_the_run(tmp_path) -> None:
    run = convscope.train_run(
        tmp_path / "run", data="digits", iterations=10, threads=1, device="cpu", progress=False
    )
    assert run.summary["status"] == "completed" and run.accuracy is not None
    assert run.imported is None and run.steps
