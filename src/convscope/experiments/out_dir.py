"""Whether a folder is an output directory `convscope run` wrote: proved by content, not a name.

``OUT/.convscope-out`` is ``{"schema": OUT_SCHEMA, "id": ...}``, written when `convscope run`
first takes the folder. A folder that merely holds a file named ``experiment.json`` proves
nothing: `convscope run --out` refuses it when it holds anything, and `convscope report`
refuses to write its report there.
"""

from __future__ import annotations

from pathlib import Path

from convscope import io, paths
from convscope.errors import ConvscopeError

EXPERIMENT_JSON = "experiment.json"
__all__ = ["OUT_MARKER", "OUT_SCHEMA", "check_out", "owns_out"]

OUT_MARKER = ".convscope-out"  # {"schema": OUT_SCHEMA, "id": ...}: OUT was written by `run`
OUT_SCHEMA = "convscope.out/1"
_LAYOUT = {"groups": list, "entries": list, "status": dict}  # experiment_doc's, before markers


def owns_out(out: Path) -> bool:
    """Whether ``out`` is an output folder `convscope run` wrote, proved by content: its marker,
    or (an output written before markers existed) an ``experiment.json`` with the layout of
    :func:`experiment_doc`. A file merely named ``experiment.json`` proves nothing."""
    if paths.read_marker(out / OUT_MARKER, OUT_SCHEMA) is not None:
        return True
    ej = out / EXPERIMENT_JSON
    if not ej.is_file() or ej.is_symlink():
        return False
    try:
        doc = io.read_json(ej)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and all(isinstance(doc.get(k), t) for k, t in _LAYOUT.items())


def check_out(out: Path) -> None:
    """Refuse an OUT that is a file, or a non-empty folder that `convscope run` did not write."""
    if out.exists() and not out.is_dir():
        raise ConvscopeError(f"{out}: is a file, not a folder; expected an output directory")
    if not out.is_dir() or owns_out(out):
        return
    others = sorted(p.name for p in out.iterdir() if p.name != ".lock")
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ConvscopeError(
            f"{out}: not empty ({shown}) and not a convscope experiment output (no "
            f"{OUT_MARKER} marker; a file named {EXPERIMENT_JSON} proves nothing); "
            "choose an empty or new --out"
        )
