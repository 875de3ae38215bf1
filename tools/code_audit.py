"""Readable units and import direction of ``src/convscope``: a table for a newcomer's review.

    python tools/code_audit.py [SRC] [--json PATH]

Prints the modules over 400 lines, the functions over 80 lines (a ``# long: why`` comment on
the ``def`` line or the line above marks a deliberate exception, listed apart), and every
import that runs back up the floors below (a lower floor importing a higher one, at module
level or inside a function). It also counts, for each built-in study, the files under ``src/``
outside its own package that import it: what else its code is tied to.

Floors, lowest first (a module may import its own floor and those below):
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

MODULE_LINES = 400
FUNCTION_LINES = 80

# lowest first; a module's floor is that of its first matching prefix (longest prefix wins)
FLOORS: list[tuple[str, ...]] = [
    ("errors", "io", "paths", "hardware", "allocator", "progress", "formatting", "escape"),
    ("typed_toml",),
    ("config", "config_model_args", "data", "models"),
    ("train", "runs", "weights"),
    # shared methods, and the document model (blocks, numbers, words) that both the studies'
    # report rendering and the report assembly use
    ("analysis", "plots", "report.document", "report.stats", "report.wording"),
    ("studies",),
    ("experiments", "report", "explore", "importer", "importing_args", "callbacks"),
    (
        "api",
        "cli",
        "cli_help",
        "cli_train",
        "cli_analyze",
        "cli_options",
        "import_cli",
        "experiments.cli",
        "explore.cli",
    ),
    ("__main__", "__init__"),
]
__doc__ += "\n".join(f"    {i}: {', '.join(f)}" for i, f in enumerate(FLOORS)) + "\n"


def floor_of(mod: str) -> int | None:
    """``mod`` is dotted below convscope, e.g. ``analysis.zf.graph``."""
    best: tuple[int, int] | None = None
    for i, names in enumerate(FLOORS):
        for n in names:
            hit = mod == n or mod.startswith(n + ".")
            if hit and (best is None or len(n) > best[1]):
                best = (i, len(n))
    return None if best is None else best[0]


def module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src / "convscope").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(tree: ast.AST, mod: str, is_pkg: bool) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("convscope."):
                    out.append((a.name[len("convscope.") :], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative
                base = mod.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                out.append((target, node.lineno))
            elif node.module and node.module.startswith("convscope."):
                out.append((node.module[len("convscope.") :], node.lineno))
            elif node.module == "convscope":
                for a in node.names:
                    out.append((a.name, node.lineno))
    return out


def long_functions(tree: ast.AST, lines: list[str]) -> list[tuple[str, int, int, bool]]:
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                n = child.end_lineno - start + 1
                name = f"{prefix}{child.name}"
                if n > FUNCTION_LINES:
                    above = lines[start - 2] if start >= 2 else ""
                    marked = "# long:" in lines[child.lineno - 1] or "# long:" in above
                    out.append((name, start, n, marked))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def study_mentions(src: Path, files: list[Path]) -> dict[str, list[str]]:
    """Per built-in study package ``studies/<name>/``, the modules outside it that import it:
    what else a study's code is tied to. (Its registered name is found by ``pkgutil``; no list
    names it.)"""
    root = src / "convscope" / "studies"
    if not root.is_dir():
        return {}
    names = sorted(d.name for d in root.iterdir() if (d / "__init__.py").is_file())
    found: dict[str, list[str]] = {n: [] for n in names}
    for p in files:
        tree = ast.parse(p.read_text(encoding="utf-8"))
        mod = module_name(p, src)
        targets = {t for t, _ in imports_of(tree, mod, p.name == "__init__.py")}
        for n in names:
            if p.is_relative_to(root / n):
                continue
            if any(t == f"studies.{n}" or t.startswith(f"studies.{n}.") for t in targets):
                found[n].append(str(p.relative_to(src)))
    return found


def audit(src: Path) -> dict:
    modules, functions, back = [], [], []
    files = sorted((src / "convscope").rglob("*.py"))
    texts = {}
    for p in files:
        text = p.read_text(encoding="utf-8")
        texts[p] = text
        lines = text.splitlines()
        mod = module_name(p, src)
        rel = str(p.relative_to(src))
        if len(lines) > MODULE_LINES:
            marked = any("# long module:" in ln for ln in lines[:40])
            modules.append({"module": rel, "lines": len(lines), "marked": marked})
        tree = ast.parse(text)
        for name, start, n, marked in long_functions(tree, lines):
            functions.append(
                {"function": f"{rel}:{name}", "line": start, "lines": n, "marked": marked}
            )
        fl = floor_of(mod)
        for target, lineno in imports_of(tree, mod, p.name == "__init__.py"):
            tf = floor_of(target)
            if fl is not None and tf is not None and tf > fl:
                back.append({"from": mod, "to": target, "line": lineno, "file": rel})
    return {
        "study_mentions": study_mentions(src, files),
        "modules_over": sorted(modules, key=lambda m: -m["lines"]),
        "functions_over": sorted(functions, key=lambda f: -f["lines"]),
        "imports_back_up": back,
        "n_modules": len(files),
        "n_lines": sum(len(t.splitlines()) for t in texts.values()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("src", nargs="?", default="src", type=Path)
    ap.add_argument("--json", type=Path, help="also write the audit as JSON here")
    a = ap.parse_args(argv)
    r = audit(a.src)
    print(f"{r['n_modules']} modules, {r['n_lines']} lines under {a.src}/convscope")
    unmarked = [m for m in r["modules_over"] if not m["marked"]]
    print(
        f"\nmodules over {MODULE_LINES} lines: {len(unmarked)} (+{len(r['modules_over']) - len(unmarked)} with a reason)"
    )
    for m in r["modules_over"]:
        print(f"  {m['lines']:5d}  {m['module']}{'  (reason given)' if m['marked'] else ''}")
    unmarked = [f for f in r["functions_over"] if not f["marked"]]
    print(
        f"\nfunctions over {FUNCTION_LINES} lines: {len(unmarked)} (+{len(r['functions_over']) - len(unmarked)} with a reason)"
    )
    for f in r["functions_over"]:
        print(f"  {f['lines']:5d}  {f['function']}{'  (reason given)' if f['marked'] else ''}")
    print(f"\nimports running back up: {len(r['imports_back_up'])}")
    for b in r["imports_back_up"]:
        print(f"  {b['from']} -> {b['to']}  ({b['file']}:{b['line']})")
    print("\nbuilt-in studies: modules outside the study's package that import it")
    for n, where in r["study_mentions"].items():
        print(f"  {n:16s} {len(where)}  {', '.join(where)}")
    if a.json:
        a.json.write_text(json.dumps(r, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
