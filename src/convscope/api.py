"""The Python API for notebooks: a thin facade over run directories and the study registry.

Everything here is also reachable from the command line; a notebook gets the same run
directories, the same analyses (:data:`convscope.studies.REGISTRY`) and the same one-line
errors, raised as :class:`~convscope.errors.ConvscopeError` (and its subclasses) instead of
printed. Results display inline in Jupyter (``_repr_html_`` / ``_repr_png_``).

>>> import convscope
>>> run = convscope.import_model(net, data="data/shapes", out="runs/mine",
...                              normalize=((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))  # doctest: +SKIP
>>> run.accuracy                                                              # doctest: +SKIP
0.93
>>> run.analyze("filters")          # sentences, verdicts and figures, inline  # doctest: +SKIP
>>> run.explore().index                                                       # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convscope.errors import ConvscopeError
from convscope.runs import RunDir
from convscope.studies.base import RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure
    from torch import nn

    from convscope.studies.base import Verdict

Normalization = tuple[Sequence[float], Sequence[float]] | str | None
WeightsArg = str | Path | Mapping[int, str | Path] | None


class ConvscopeWarning(UserWarning):
    """Something the user should check (e.g. an import at chance-level accuracy)."""


@dataclass
class AnalysisFigure:
    """One figure an analysis drew: its PNG on disk, its caption, and the matplotlib Figure.

    Displays inline in Jupyter (``_repr_png_``).
    """

    path: Path
    caption: str
    figure: MplFigure | None = None

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.path.read_bytes()).decode()
        cap = html.escape(self.caption)
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{cap}">'
            f"<figcaption>{cap}</figcaption></figure>"
        )


@dataclass
class Analysis:
    """One analysis of one run: what ``analysis/<name>.json`` holds, and its figures.

    Attributes:
        name, title: the registered name and its title.
        numbers: every number the analysis computed (as in its JSON).
        sentences: its observations, in words.
        verdicts: ``{key: Verdict(verdict, evidence)}``; ``verdict`` is one of
            ``"supported"``, ``"not supported"``, ``"not testable"``.
        figures: :class:`AnalysisFigure` list (display one, or the whole analysis, inline).
        choices: what the analysis chose where its source leaves it open.
        path: the JSON file.
    """

    name: str
    title: str
    numbers: dict[str, Any]
    sentences: list[str]
    verdicts: dict[str, Verdict]
    figures: list[AnalysisFigure]
    choices: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def _repr_html_(self) -> str:
        e = html.escape
        parts = [f"<h3>{e(self.title or self.name)}</h3>"]
        parts += [f"<p>{e(s)}</p>" for s in self.sentences]
        if self.verdicts:
            items = "".join(
                f"<li><b>{e(k)}</b>: {e(v.verdict)} ({e(v.evidence)})</li>"
                for k, v in self.verdicts.items()
            )
            parts.append(f"<ul>{items}</ul>")
        parts += [f._repr_html_() for f in self.figures]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return f"Analysis({self.name!r}: {' '.join(self.sentences)[:200]})"


@dataclass
class Explorer:
    """The unit explorer site of a run (open ``index`` in a browser)."""

    out: Path
    index: Path
    layers: list[str]
    units: int

    def _repr_html_(self) -> str:
        where = html.escape(str(self.index))
        return (
            f"<p>explorer: {self.units} units of {html.escape(', '.join(self.layers))}: "
            f'<a href="{where}" target="_blank">{where}</a></p>'
        )


class _KeepingContext(RunContext):
    """A run context that keeps the matplotlib figures the studies save (for the notebook)."""

    def __init__(self, rd: RunDir, device: str | None) -> None:
        super().__init__(rd, device=device)
        self.kept: dict[str, Any] = {}

    def save_figure(self, fig: Any, name: str) -> str:
        rel = super().save_figure(fig, name)
        self.kept[rel] = fig
        return rel


class Run:
    """A run directory (trained by convscope or imported), to analyse and explore.

    Args:
        path: the run directory.
        model: for a run imported from a module in memory: that module (its architecture;
            the weights come from the run's snapshots).
        device: ``"cpu"``, ``"cuda"``; default: the run's device setting.

    Raises:
        ConvscopeError: ``path`` is not a run directory.
    """

    def __init__(
        self, path: str | Path, model: nn.Module | None = None, device: str | None = None
    ) -> None:
        architecture = None
        if model is not None:
            import copy

            template = copy.deepcopy(model).cpu()
            architecture = lambda: copy.deepcopy(template)  # noqa: E731
        self.rd = RunDir(path, architecture=architecture)
        self.rd.config()  # one line if it is not a run directory
        self.device = device
        self._ctx: _KeepingContext | None = None

    @property
    def path(self) -> Path:
        return self.rd.path

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json``: status, accuracies, warnings."""
        return self.rd.summary() or {}

    @property
    def accuracy(self) -> float | None:
        """The final test accuracy."""
        return self.summary.get("final_test_accuracy")

    @property
    def imported(self) -> dict[str, Any] | None:
        """What ``convscope import`` recorded (files and sha256, factory, normalisation)."""
        return self.rd.imported()

    @property
    def steps(self) -> list[int]:
        """Steps with a weights snapshot."""
        return self.rd.checkpoint_steps()

    def model(self, step: int | None = None) -> nn.Module:
        """The model with the weights of ``step`` (default: the final ones), in eval mode."""
        return self.rd.load_model(step)

    def analyze(self, name: str, **options: Any) -> Analysis:
        """Run one registered analysis (see :func:`analyses`) with its options.

        >>> run.analyze("occlusion", size=8, stride=4)  # doctest: +SKIP

        Raises:
            ConfigError: an unknown analysis or option.
        """
        from convscope.studies.runner import analyze

        if self._ctx is None:
            self._ctx = _KeepingContext(self.rd, self.device)
        self._ctx.kept = {}
        done = analyze(self._ctx, [name], {name: options} if options else None)
        ((study, path),) = done.items()
        return _read_analysis(self.path, study, path, self._ctx.kept)

    def analyze_all(self, names: Sequence[str] | None = None) -> dict[str, Analysis]:
        """Every registered run analysis (or ``names``), with default options."""
        from convscope.studies.runner import run_scope_names

        return {n: self.analyze(n) for n in run_scope_names(names)}

    def result(self, name: str) -> Analysis:
        """A saved result (``analysis/<name>.json``), without recomputing it."""
        from convscope.studies.runner import result_path

        path = result_path(self.path, name)
        if not path.is_file():
            raise ConvscopeError(f"{path}: no saved result; run run.analyze({name!r}) first")
        return _read_analysis(self.path, name, path, {})

    def explore(
        self,
        out: str | Path | None = None,
        layers: Sequence[str] | None = None,
        progress: bool = False,
    ) -> Explorer:
        """Write the unit explorer site (default ``RUN/explore``) and return where it is."""
        from convscope.explore.build import build_site
        from convscope.progress import TqdmProgress

        bar = TqdmProgress(notebook=True, unit="unit") if progress else None
        res = build_site(self.rd, out, layers=layers, device=self.device, progress=bar)
        return Explorer(Path(res["out"]), Path(res["index"]), list(res["layers"]), res["units"])

    def __repr__(self) -> str:
        acc = self.accuracy
        shown = "n/a" if acc is None else f"{acc:.4f}"
        kind = "imported" if self.imported else str(self.summary.get("status"))
        return f"Run({str(self.path)!r}, {kind}, test accuracy {shown})"


def _read_analysis(root: Path, name: str, path: Path, kept: dict[str, Any]) -> Analysis:
    from convscope import io
    from convscope.studies.base import Verdict

    doc = io.read_json(path)
    figures = [
        AnalysisFigure(root / f["path"], f.get("caption", ""), kept.get(f["path"]))
        for f in doc.get("figures", [])
    ]
    return Analysis(
        name=name,
        title=doc.get("title", name),
        numbers=doc.get("numbers", {}),
        sentences=[str(s) for s in doc.get("observations", []) if s],
        verdicts={k: Verdict(**v) for k, v in doc.get("verdicts", {}).items()},
        figures=figures,
        choices=doc.get("choices", {}),
        path=path,
    )


def open_run(path: str | Path, model: nn.Module | None = None) -> Run:
    """Open a run directory (``model``: for a run imported from a module in memory).

    >>> run = convscope.open_run("runs/cifar-lenet5")  # doctest: +SKIP
    """
    return Run(path, model=model)


def analyses() -> dict[str, str]:
    """The registered analyses a run can have: ``{name: title}``."""
    from convscope.studies import load_builtin

    return {n: c.title for n, c in load_builtin().items() if c.scope == "run"}


def _normalization(normalize: Normalization) -> tuple[list[float], list[float]] | None:
    from convscope.importing_args import parse_normalize

    if normalize is None or isinstance(normalize, str):
        return parse_normalize(normalize)
    mean, std = normalize
    text = ",".join(map(str, mean)) + "/" + ",".join(map(str, std))
    return parse_normalize(text)  # the same checks as --normalize


def import_model(
    model: nn.Module | str,
    data: str | Path,
    out: str | Path,
    *,
    weights: WeightsArg = None,
    normalize: Normalization = None,
    class_names: Sequence[str] = (),
    model_args: Mapping[str, Any] | None = None,
    grayscale: bool = False,
    resize: int | None = None,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
) -> Run:
    """Import a model trained elsewhere with a data set; the run directory ``out``.

    Args:
        model: an ``nn.Module`` (its architecture, and its weights unless ``weights`` is
            given), or ``"FILE.py:factory"`` as ``convscope import --model`` takes it.
        data: a data source as ``--data`` takes it (image folders ``{Train,Test}/<class>``...).
        weights: a weights file, or ``{step: file}`` snapshots of your own training.
        normalize: ``(mean, std)`` per channel on the [0, 1] scale that the model was trained
            with, ``"none"``/None (pixels / 255 only), or the ``--normalize`` text.
        class_names, grayscale, resize, train_per_class, test_per_class: as the data options
            of ``convscope train`` (a per-class subset makes the analyses quicker).

    Returns:
        the :class:`Run`, with the test accuracy in ``run.accuracy``. An accuracy at chance
        level warns (:class:`ConvscopeWarning`).

    Raises:
        WeightsError, DataError, ConfigError: the same one-line messages as the CLI.

    >>> run = convscope.import_model(net, "data/shapes", "runs/net",
    ...                              normalize=((0.5,) * 3, (0.25,) * 3))  # doctest: +SKIP
    """
    from convscope.importer import ImportSpec, run_import

    if weights is None:
        pairs: list[tuple[int | None, Path]] = []
    elif isinstance(weights, Mapping):
        pairs = [(int(s), Path(p)) for s, p in weights.items()]
    else:
        pairs = [(None, Path(weights))]
    spec = ImportSpec(
        model=model,
        data=str(data),
        weights=pairs,
        normalize=_normalization(normalize),
        class_names=list(class_names),
        model_args=dict(model_args or {}),
        grayscale=grayscale,
        resize=resize,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
    )
    summary = run_import(spec, out)
    for w in summary.get("warnings", []):
        warnings.warn(w, ConvscopeWarning, stacklevel=2)
    return Run(out, model=model if not isinstance(model, str) else None)


def train_run(
    out: str | Path | None = None,
    *,
    config: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> Run:
    """Train a run as ``convscope train`` does, with a notebook progress bar (``tqdm.auto``).

    Args:
        out: the run directory (default ``runs/<model>-<config hash>``).
        config: a TOML or JSON config file (``options`` win over it).
        options: config keys as ``convscope train`` takes them (``model="lenet5"``,
            ``data="digits"``, ``iterations=300``, ...).

    >>> run = convscope.train_run("runs/digits", data="digits", iterations=200)  # doctest: +SKIP
    """
    from convscope.callbacks import config_callbacks
    from convscope.config import from_flat, load_config_file
    from convscope.data import load_dataset
    from convscope.progress import TqdmProgress
    from convscope.train.loop import train
    from convscope.train.precision import run_hash

    flat = dict(load_config_file(config)) if config is not None else {}
    flat.update(options)
    cfg = from_flat(flat)
    dataset = load_dataset(cfg.data)
    if out is None:
        out = Path("runs") / f"{Path(cfg.model.model).name.replace(':', '-')}-{run_hash(cfg)}"
    bar = TqdmProgress(notebook=True) if progress else None
    train(cfg, out, dataset=dataset, callbacks=config_callbacks(cfg), progress=bar)
    return Run(out)
