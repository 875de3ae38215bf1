"""The study protocol: what one registered analysis declares, gets and returns.

A *study* is one analysis as the user names it (``convscope analyze --what NAME``, an
experiment's ``[[analysis]] what = [NAME]``). It chooses its inputs from a run directory (or
from every run of a group), calls the pure methods of :mod:`convscope.analysis`, decides its
observations and verdicts from its own numbers, draws its figures with :mod:`convscope.plots`
and returns a :class:`StudyResult`. The runner (:mod:`convscope.studies.runner`) writes that
result as ``analysis/<name>.json`` in the schema :data:`SCHEMA`; the report reads it back and
never re-derives a verdict.
"""

from __future__ import annotations

import dataclasses
import importlib
import io as _io
import logging
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from convscope import io
from convscope.errors import ConfigError, ConvscopeError
from convscope.paths import group_dir
from convscope.runs import RunDir
from convscope.typed_toml import SCALARS, coerce

log = logging.getLogger(__name__)

SCHEMA = "convscope.study/1"
VERDICTS = ("supported", "not supported", "not testable")
Scope = Literal["run", "group"]


@dataclass(frozen=True)
class Verdict:
    """A verdict drawn by the study that owns the numbers: one of :data:`VERDICTS`."""

    verdict: str
    evidence: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}: expected one of {', '.join(VERDICTS)}")


@dataclass(frozen=True)
class FigureRef:
    """A figure a study wrote: path relative to the run (or group) directory, and a caption."""

    path: str
    caption: str = ""


@dataclass
class StudyResult:
    """What a study returns; saved as its JSON (see :data:`SCHEMA`)."""

    numbers: dict[str, Any] = field(default_factory=dict)
    observations: list[str] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    figures: list[FigureRef] = field(default_factory=list)
    choices: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NoOptions:
    """A study without options."""


class RunContext:
    """One run directory, with its model and data loaded once and atomic output writers."""

    def __init__(
        self, run_dir: str | Path | RunDir, label: str = "", device: str | None = None
    ) -> None:
        self.rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self.rd.config()  # one line if this is not a run directory
        self.label = label or self.rd.path.name
        self._device = device
        self._data: Any = None
        self.cache: dict[
            str, Any
        ] = {}  # studies of one run share what they load (e.g. the ZF chain)

    @property
    def path(self) -> Path:
        return self.rd.path

    @property
    def device(self) -> str:
        """The device to analyse on: the run's ``device`` setting (``auto``: CUDA if present)."""
        if self._device is None:
            from convscope.hardware import device_kind

            self._device = device_kind(self.rd.config().train.device)
        return self._device

    def require_checkpoint(self) -> None:
        if not self.rd.checkpoint_steps() and not self.rd.last_checkpoint_path.is_file():
            raise ConvscopeError(f"{self.rd.checkpoint_dir}: no checkpoint; train the run first")

    def model(self, step: int | None = None) -> Any:
        """The model at snapshot ``step`` (default: the final one), in eval mode.

        Step 0 without a snapshot (runs keep only their final one unless asked) is rebuilt from
        the config as the loop builds it (``torch.manual_seed(train.seed)``)."""
        if step == 0:
            return self.rd.initial_model()[0]
        return self.rd.load_model(step)

    def data(self) -> tuple[Any, Any]:
        """``(Dataset, Normalize)`` of the run, loaded once."""
        if self._data is None:
            self._data = self.rd.load_data()
        return self._data

    def save_figure(self, fig: Any, name: str) -> str:
        """Write ``figures/<name>.png`` atomically; return its path relative to the run dir."""
        return save_figure(fig, self.rd.figures_dir / f"{name}.png", self.rd.path)

    def write_npz(self, name: str, **arrays: Any) -> Path:
        return self.rd.write_npz(f"analysis/{name}.npz", **arrays)


class GroupContext:
    """Every run of one experiment group, for a study with ``scope = "group"``.

    Outputs go to ``OUT/groups/<group>/`` (``analysis/`` and ``figures/``).
    """

    def __init__(self, out: Path, group: str, runs: list[RunContext]) -> None:
        self.out = Path(out)
        self.group = group
        self.runs = runs
        self.dir = group_dir(self.out, group)

    def save_figure(self, fig: Any, name: str) -> str:
        return save_figure(fig, self.dir / "figures" / f"{name}.png", self.dir)

    def write_npz(self, name: str, **arrays: Any) -> Path:
        path = self.dir / "analysis" / f"{name}.npz"
        io.write_npz(path, **arrays)
        return path


def save_figure(fig: Any, path: Path, root: Path) -> str:
    """Render ``fig`` to PNG in memory, write it atomically, close it; path relative to root."""
    from convscope.plots.save import STUDY_DPI, save_png

    buf = _io.BytesIO()
    save_png(fig, buf, dpi=STUDY_DPI)  # text readable where the report shows it
    io.atomic_write_bytes(path, buf.getvalue())
    try:  # matplotlib's pyplot keeps figures alive; ours are plain Figures, but be safe
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # pragma: no cover - closing is best effort
        pass
    return path.relative_to(root).as_posix()


class Study:
    """Base class of a registered analysis; subclass it and decorate with :func:`register`.

    Class attributes:
        name: what ``--what`` and ``[[analysis]] what`` name.
        title: the report's heading.
        paper_section: the paper section and figure it follows (may be empty).
        description: one paragraph the report prints under the heading.
        scope: ``"run"`` (once per analysed run) or ``"group"`` (once over a group's runs).
        reads: what it reads (documentation, shown by ``analyze --list``).
        Options: a dataclass with defaults; its values are recorded in the JSON.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    paper_section: ClassVar[str] = ""
    description: ClassVar[str] = ""
    scope: ClassVar[Scope] = "run"
    order: ClassVar[int] = 100  # where it sits in ``--list`` and "all" (lower first)
    reads: ClassVar[tuple[str, ...]] = ("checkpoints", "data")
    Options: ClassVar[type] = NoOptions
    # verdict key -> the rule, as the report prints it (saved in every result's JSON; a key
    # may name a part of the verdict key in angle brackets, "<method>.labels")
    verdict_rules: ClassVar[dict[str, str]] = {}

    def run(self, ctx: RunContext, opts: Any) -> StudyResult:
        raise NotImplementedError(f"{self.name}: scope 'run' needs run()")

    def run_group(self, ctx: GroupContext, opts: Any) -> StudyResult:
        raise NotImplementedError(f"{self.name}: scope 'group' needs run_group()")

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        """Report blocks for a saved result; ``None``: the report's default rendering."""
        return None


REGISTRY: dict[str, type[Study]] = {}


def register(cls: type[Study]) -> type[Study]:
    """Class decorator: add ``cls`` to :data:`REGISTRY` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__}: a study needs a name")
    if cls.scope not in ("run", "group"):
        raise ValueError(f"{cls.name}: scope must be 'run' or 'group', got {cls.scope!r}")
    if not dataclasses.is_dataclass(cls.Options):
        raise ValueError(f"{cls.name}: Options must be a dataclass")
    old = REGISTRY.get(cls.name)
    if old is not None and old is not cls and old.__qualname__ != cls.__qualname__:
        raise ValueError(f"study name {cls.name!r} is taken by {old.__module__}.{old.__qualname__}")
    REGISTRY[cls.name] = cls
    return cls


def resolve(name: str) -> type[Study]:
    """A registered name, or ``pkg.module:Class`` (imported, then registered).

    Raises:
        ConfigError: unknown name, unimportable module or not a Study.
    """
    from convscope.studies import load_builtin

    load_builtin()
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" not in name:
        raise ConfigError(
            f"unknown analysis {name!r}; expected one of {', '.join(REGISTRY)} "
            "or an import path pkg.module:Class"
        )
    mod_name, _, attr = name.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ConfigError(f"analysis {name!r}: cannot import {mod_name!r} ({e})") from None
    cls = getattr(mod, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Study)):
        raise ConfigError(f"analysis {name!r}: {mod_name}.{attr} is not a convscope Study class")
    register(cls)
    return cls


def study_name(spec: str) -> str:
    """The registered name behind a name or an import path."""
    return resolve(spec).name


def make_options(cls: type[Study], raw: dict[str, Any] | None, where: str) -> Any:
    """``cls.Options`` from a mapping, checking keys and simple types."""
    raw = dict(raw or {})
    fields = {f.name: f for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        expected = ", ".join(fields) or "none"
        raise ConfigError(
            f"{where}: analysis {cls.name!r} has no option {unknown[0]!r}; expected {expected}"
        )
    hints = typing.get_type_hints(cls.Options)
    for k, v in raw.items():
        want = hints.get(k)
        if want in SCALARS:
            try:
                coerce(k, v, want, strict=True)
            except ConfigError:
                raise ConfigError(
                    f"{where}: option {cls.name}.{k}: expected {want.__name__}, got {v!r}"
                ) from None
        if isinstance(v, list):
            raw[k] = tuple(v)
    try:
        return cls.Options(**raw)
    except ValueError as e:  # an Options class's own check of its values (__post_init__)
        raise ConfigError(f"{where}: analysis {cls.name!r}: {e}") from None


def options_dict(opts: Any) -> dict[str, Any]:
    return {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}


def result_doc(
    cls: type[Study], opts: Any, result: StudyResult, where: dict[str, Any]
) -> dict[str, Any]:
    """The JSON document of one study's result (schema :data:`SCHEMA`); it carries the
    study's description and ``verdict_rules`` texts, so the report can read them from saved
    results alone."""
    return {
        "schema": SCHEMA,
        "study": cls.name,
        "title": cls.title,
        "paper_section": cls.paper_section,
        "description": cls.description,
        "scope": cls.scope,
        "verdict_rules": dict(cls.verdict_rules),
        **where,
        "options": options_dict(opts),
        "observations": list(result.observations),
        "verdicts": {k: dataclasses.asdict(v) for k, v in result.verdicts.items()},
        "figures": [dataclasses.asdict(f) for f in result.figures],
        "choices": result.choices,
        "numbers": result.numbers,
    }


Describe = Callable[[type[Study]], str]


def describe(cls: type[Study]) -> str:
    """One line for ``convscope analyze --list``."""
    ref = f" ({cls.paper_section})" if cls.paper_section else ""
    scope = " [group]" if cls.scope == "group" else ""
    return f"{cls.name:<15} {cls.title}{ref}{scope}"
