"""Every path convscope writes, built in one place.

A user's name (a group, a layer, a figure) becomes a file-name part through :func:`slug`, and
every relative path is joined to its root through :func:`under`, which refuses an absolute
path, a ``..`` part, a NUL, an over-long part, and a result that leads out of the root through a
symlink. Names are checked where they enter (:func:`check_name`, when an experiment is loaded),
so a bad one stops convscope before any training.

Ownership is proved by content: :func:`write_marker` writes a small JSON file with a ``schema``
and an ``id`` (and, where convscope may later delete, the files it wrote); :func:`read_marker`
accepts only such a file. A file's name proves nothing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from convscope import io
from convscope.errors import ConfigError, ConvscopeError

MAX_NAME = 100  # characters in a name (a group, a label) given by the user
MAX_PART = 200  # bytes in one path part convscope writes (file systems allow 255)
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


class PathRefused(ConvscopeError):
    """A name or relative path that would write outside its root (exit 2)."""


def check_name(name: object, where: str, what: str = "name", limit: int = MAX_NAME) -> str:
    """``name`` if it is usable as a name; else :class:`ConfigError` naming ``where`` (exit 2).

    Refused: not a string, empty, over ``limit`` characters, or holding a NUL or any
    other control or bidirectional-override character (which a terminal or a page shows
    differently from what it is).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: {what} {name!r} is empty; expected a non-empty string")
    if len(name) > limit:
        raise ConfigError(
            f"{where}: {what} {name[:40]!r}... has {len(name)} characters; expected at most {limit}"
        )
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is not None:
        raise ConfigError(
            f"{where}: {what} {ascii(name)} holds the control character U+{ord(bad):04X}; "
            "expected printable characters"
        )
    return name


def slug(name: str) -> str:
    """``name`` as one readable, safe file-name part.

    Letters, digits and ``._=-`` stay; a name that is already safe is returned as it is. Any
    other name has its other characters replaced by ``_`` and a short hash of the whole name
    appended, so two different names never share a file (``a/b`` and ``a_b`` differ).
    """
    s = _UNSAFE.sub("_", name).strip("._")[:80]
    if s == name and s not in ("", ".", ".."):
        return s
    return f"{s or 'x'}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def _check_rel(rel: str) -> PurePosixPath:
    if "\0" in rel:
        raise ValueError("it holds a NUL")
    p = PurePosixPath(rel)
    if p.is_absolute():
        raise ValueError("it is absolute")
    if not p.parts:
        raise ValueError("it is empty")
    for part in p.parts:
        if part == "..":
            raise ValueError("it holds '..'")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_PART:
            raise ValueError(f"a part is longer than {MAX_PART} bytes")
    return p


def under(root: str | Path, *parts: str) -> Path:
    """``root / parts...``, refused unless it stays inside ``root``.

    Each part is a relative path (``/``-separated). Raises :class:`PathRefused` for an absolute
    part, ``..``, a NUL, a part over :data:`MAX_PART` bytes, or a path that resolves (through a
    symlink that exists) outside ``root``.
    """
    base = Path(root).resolve()
    rel = "/".join(str(p) for p in parts)
    try:
        p = _check_rel(rel)
    except ValueError as e:
        raise PathRefused(f"{root}: refused to use {rel!r} ({e}); expected a path inside") from None
    target = base.joinpath(*p.parts)
    if not target.resolve().is_relative_to(base):
        raise PathRefused(
            f"{target}: leads outside {base} through a symlink; convscope writes only inside "
            "its own folders"
        )
    return target


def group_dir(out: str | Path, group: str) -> Path:
    """``OUT/groups/<slug of group>``: where a group's analyses write."""
    return under(out, "groups", slug(group))


# --- ownership -------------------------------------------------------------------------------
def write_marker(path: Path, schema: str, files: Iterable[str] | None = None, **extra: Any) -> str:
    """Write an ownership marker (``schema``, a fresh ``id``, and ``files`` when given); return
    the id."""
    mid = uuid.uuid4().hex
    doc: dict[str, Any] = {"schema": schema, "id": mid, **extra}
    if files is not None:
        doc["files"] = list(files)
    io.write_json(path, doc)
    return mid


def read_marker(path: Path, schema: str) -> dict[str, Any] | None:
    """The marker at ``path`` if it is one of ``schema`` (a JSON object with that schema and a
    string id); None otherwise (absent, unreadable, or anything else)."""
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = io.read_json(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        return None
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        return None
    files = doc.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return doc


def listed_files(root: Path, marker: dict[str, Any]) -> list[Path]:
    """The files a marker lists that are regular files inside ``root`` (others are skipped: a
    marker someone edited never makes convscope touch a file outside its folder)."""
    found = []
    for rel in marker.get("files", []):
        try:
            p = under(root, rel)
        except PathRefused:
            continue
        if p.is_file() and not p.is_symlink():
            found.append(p)
    return found
