"""Run registered studies and save their results: ``analyze(run_dir, names)``.

Each study's result goes to ``RUN/analysis/<name>.json`` (schema
:data:`convscope.studies.base.SCHEMA`), written atomically after the study returned, so a
failing study leaves the previous result in place. Group-scope studies write under
``OUT/groups/<group>/``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convscope import io
from convscope.errors import ConfigError, ConvscopeError
from convscope.studies.base import (
    REGISTRY,
    GroupContext,
    RunContext,
    Study,
    make_options,
    resolve,
    result_doc,
)

log = logging.getLogger(__name__)


def run_scope_names(names: Sequence[str] | None = None) -> list[str]:
    """Registered run-scope study names (all of them when ``names`` is None), resolved."""
    from convscope.studies import load_builtin

    load_builtin()
    if names is None:
        return [n for n, c in REGISTRY.items() if c.scope == "run"]
    return [resolve(n).name for n in names]


@dataclass(frozen=True)
class Outcome:
    """How one study went: ``"ran"``, ``"refused"`` (a ConvscopeError: the model, data or
    options do not allow it, said in one line) or ``"failed"`` (any other error); its wall
    and CPU seconds (this process's CPU time, all threads)."""

    status: str
    message: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0


def result_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / "analysis" / f"{name}.json"


def analyze(
    run_dir: str | Path | RunContext,
    names: Sequence[str],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    label: str = "",
    device: str | None = None,
    progress: Callable[[str], None] | None = None,
    errors: dict[str, str] | None = None,
    outcomes: dict[str, Outcome] | None = None,
) -> dict[str, Path]:
    """Run the run-scope studies ``names`` (names or ``pkg.mod:Class``) on one run directory.

    Args:
        options: per study name, its options (checked against the study's ``Options``).
        errors: when given, a study that raises is recorded here (``name: message``) and the
            others still run; otherwise the first error propagates.
        outcomes: when given, every study's :class:`Outcome`, in order.

    Returns:
        ``{name: path of the JSON written}``.

    Raises:
        ConfigError: an unknown study, a bad option, or a group-scope study.
    """
    classes = [resolve(n) for n in names]
    opts = {}
    for cls in classes:
        if cls.scope != "run":
            raise ConfigError(
                f"analysis {cls.name!r} compares the runs of a group; name it in an experiment "
                "file's [[analysis]] and use `convscope run`"
            )
        opts[cls.name] = make_options(cls, (options or {}).get(cls.name), f"analysis {cls.name}")
    ctx = (  # a context given by the caller (the Python API) keeps its model and figures
        run_dir
        if isinstance(run_dir, RunContext)
        else RunContext(run_dir, label=label, device=device)
    )
    say = progress or (lambda m: log.info("%s", m))
    out: dict[str, Path] = {}
    for cls in classes:
        say(f"{cls.name}: {ctx.path}")
        study: Study = cls()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            result = study.run(ctx, opts[cls.name])
        except Exception as e:
            if errors is None:
                raise
            refused = isinstance(e, ConvscopeError)
            msg = str(e) if refused else f"{type(e).__name__}: {e}"
            errors[cls.name] = msg
            if outcomes is not None:
                outcomes[cls.name] = Outcome("refused" if refused else "failed", msg)
            log.error(
                "%s: analysis %s %s: %s",
                ctx.path,
                cls.name,
                "refused" if refused else "failed",
                msg,
            )
            continue
        timing = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        if outcomes is not None:
            outcomes[cls.name] = Outcome("ran", "", timing["wall_s"], timing["cpu_s"])
        doc = result_doc(cls, opts[cls.name], result, {"run": str(ctx.path), "group": None})
        doc["timing"] = timing
        path = result_path(ctx.path, cls.name)
        io.write_json(path, doc)
        out[cls.name] = path
    return out


def analyze_group(
    out_dir: str | Path,
    group: str,
    runs: Sequence[tuple[str | Path, str]],
    names: Sequence[str],
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Run group-scope studies over ``runs`` (``(run_dir, label)`` pairs) of ``group``."""
    ctx = GroupContext(Path(out_dir), group, [RunContext(d, label=lb) for d, lb in runs])
    written: dict[str, Path] = {}
    for n in names:
        cls = resolve(n)
        if cls.scope != "group":
            raise ConfigError(f"analysis {cls.name!r} is not a group analysis")
        opts = make_options(cls, (options or {}).get(cls.name), f"analysis {cls.name}")
        wall, cpu = time.perf_counter(), time.process_time()
        result = cls().run_group(ctx, opts)
        timing = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        doc = result_doc(cls, opts, result, {"run": None, "group": group})
        doc["timing"] = timing
        path = ctx.dir / "analysis" / f"{cls.name}.json"
        io.write_json(path, doc)
        written[cls.name] = path
    return written
