"""Whether a run folder's model code may be imported: never code the user did not choose.

A run whose model is a user's factory (``file.py:factory`` or ``package.module:factory``) names
Python code, and rebuilding its model (``convscope analyze``, ``explore``, the analyses of
``convscope run``) imports that code. Like ``torch.hub.load(trust_repo=...)``, convscope imports
it only when the run folder proves it is the code the run was trained with:

* ``config.json``'s ``hash`` matches the config it holds (the file was not edited), and
* the factory's source file has the sha256 recorded at training time (``model_code`` in
  ``config.json``), and does not lie inside the run folder or its experiment output (code that
  travels with a folder someone sent you).

Otherwise the run is refused in one line (exit 2), unless the user passes
``--trust-model-code`` (``CONVSCOPE_TRUST_MODEL_CODE=1``; the CLI sets it for the command and its
worker processes). Runs you trained yourself keep working without a flag.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from convscope.errors import ConfigError

TRUST_ENV = "CONVSCOPE_TRUST_MODEL_CODE"


def trusted_by_user() -> bool:
    return os.environ.get(TRUST_ENV, "") not in ("", "0")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_file(model: str) -> Path | None:
    """The ``.py`` file a factory name points at, found as an import would, without importing
    anything; None when no file is found."""
    module_name = model.rpartition(":")[0]
    if module_name.endswith(".py"):
        p = Path(module_name).expanduser().resolve()
        return p if p.is_file() else None
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None):
        return Path(loaded.__file__).resolve()  # type: ignore[arg-type]
    parts = module_name.split(".")
    for d in [*sys.path, str(Path.cwd())]:
        base = Path(d or ".").joinpath(*parts)
        for cand in (base.with_suffix(".py"), base / "__init__.py"):
            if cand.is_file():
                return cand.resolve()
    return None


def record(model: str) -> dict[str, str] | None:
    """What training records of a user's factory: its file and that file's sha256."""
    from convscope.models import REGISTRY

    if model in REGISTRY:
        return None
    f = source_file(model)
    return None if f is None else {"file": str(f), "sha256": sha256(f)}


def check(run_dir: Path, stored: dict[str, Any], model: str, config_hash: str) -> None:
    """Refuse to import the code of ``model`` for the run in ``run_dir`` unless it is proved to
    be what the run was trained with (see the module docstring) or the user trusts it.

    Args:
        run_dir: the run folder.
        stored: ``config.json`` as read.
        model: the config's ``model``.
        config_hash: the hash of the config ``config.json`` holds, computed now.
    """
    from convscope.models import REGISTRY

    if model in REGISTRY or trusted_by_user():
        return
    why = _why_untrusted(run_dir, stored, model, config_hash)
    if why is not None:
        raise ConfigError(
            f"{run_dir / 'config.json'}: refused to import the code of model {model!r}: {why}; "
            "pass --trust-model-code if you trust this run folder"
        )


def _why_untrusted(run_dir: Path, stored: dict[str, Any], model: str, h: str) -> str | None:
    if stored.get("hash") != h:
        return "config.json was edited after training (its hash does not match its content)"
    rec = stored.get("model_code")
    if not isinstance(rec, dict) or not isinstance(rec.get("sha256"), str):
        return "the run has no record of the model file it was trained with"
    f = source_file(model)
    if f is None:
        return "its model file is not found from here"
    folders = [run_dir.resolve()]
    if run_dir.resolve().parent.name == "runs":
        folders.append(run_dir.resolve().parent.parent)  # the experiment output holding it
    if any(f.is_relative_to(d) for d in folders):
        return f"{f} lies inside the folder being opened"
    if sha256(f) != rec["sha256"]:
        return f"{f} is not the file the run was trained with (its sha256 differs)"
    return None
