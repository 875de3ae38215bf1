"""Claims an experiment makes, and the small engine that tests them.

An experiment file declares its claims (``[[claims]]``: the quote, the report section, the
group, and a rule). A rule is either ``<study>.<verdict>``, the verdict that analysis saved in
its JSON (computed once, by the analysis that owns the numbers; the report only reads it), or
a rule on the group's training curves from the experiment's own plugin, named by import path
as a study is: ``claim_rules = "file.py:RULES"`` (a file beside the experiment file) or
``"package.module:RULES"``, a ``dict`` of :class:`ClaimRule` (the assignment's:
``experiments/assignment2_claims.py``). A report shows a claims table only when its experiment
declares claims.

The plugin is Python code, so it runs only when the user chose it: ``convscope run`` of the
experiment file that names it, or, for ``convscope report`` of an output, the same file still
at the path ``experiment.json`` records with the sha256 recorded there and outside the output
(code that travels with a folder someone sent you is never imported), unless
``--trust-model-code``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convscope.errors import ConfigError
from convscope.report.document import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, Claim
from convscope.report.observations import ConfigStats

Rules = dict[str, "ClaimRule"]


@dataclass
class GroupInput:
    """What a rule sees: the group's per-configuration numbers and its analyses' saved JSON."""

    stats: list[ConfigStats]
    horizon: int
    threshold: float
    dataset: str
    studies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def recurrent(self) -> list[ConfigStats]:
        return [c for c in self.stats if c.is_recurrent] or self.stats


@dataclass(frozen=True)
class ClaimRule:
    name: str
    text: str  # how the claim is tested, printed in the report
    test: Callable[[GroupInput], Claim]


class RuleSet:
    """``rule = RuleSet(RULES)``; ``rule(name, text)(test)`` registers a curve rule in RULES."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def __call__(
        self, name: str, text: str
    ) -> Callable[[Callable[[GroupInput], Claim]], Callable[[GroupInput], Claim]]:
        def deco(fn: Callable[[GroupInput], Claim]) -> Callable[[GroupInput], Claim]:
            if name in self.rules:
                raise ValueError(f"claim rule {name!r} is registered twice")
            self.rules[name] = ClaimRule(name, text, fn)
            return fn

        return deco


@dataclass(frozen=True)
class RulesRef:
    """Where an experiment's claim rules come from: ``ref`` as written, the file it names (or
    the module's file) and that file's sha256, as ``experiment.json`` records them."""

    ref: str = ""
    file: str = ""
    sha256: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"ref": self.ref, "file": self.file, "sha256": self.sha256}


def locate_rules(ref: str, base: Path, where: str) -> RulesRef:
    """The file ``ref`` (``file.py:NAME`` relative to ``base``, or ``package.module:NAME``)
    names, without importing anything."""
    from convscope.models import trust

    module, _, attr = ref.rpartition(":")
    if not module or not attr:
        raise ConfigError(
            f"{where}: key 'claim_rules': expected 'file.py:NAME' or 'package.module:NAME', "
            f"got {ref!r}"
        )
    if module.endswith(".py"):
        file = (base / module).resolve()
        if not file.is_file():
            raise ConfigError(f"{where}: key 'claim_rules': no file {str(base / module)!r}")
    else:
        found = trust.source_file(ref)
        if found is None:
            raise ConfigError(f"{where}: key 'claim_rules': cannot find module {module!r}")
        file = found
    return RulesRef(ref, str(file), trust.sha256(file))


def import_rules(loc: RulesRef, where: str) -> Rules:
    """Import the plugin ``loc`` names and return its rules (ConfigError naming the key)."""
    from convscope import models

    module_name, _, attr = loc.ref.rpartition(":")
    if module_name.endswith(".py"):
        module = models._import_file(Path(loc.file), f"{where}: key 'claim_rules'")
    else:
        try:
            module = models._import_module(module_name)
        except ImportError as e:
            raise ConfigError(
                f"{where}: key 'claim_rules': cannot import {module_name!r}: {e}"
            ) from None
        except Exception as e:  # noqa: BLE001 - the user's module: say what it raised
            raise ConfigError(
                f"{where}: key 'claim_rules': importing {module_name!r} failed: "
                f"{type(e).__name__}: {e}"
            ) from None
    rules = getattr(module, attr, None)
    if not isinstance(rules, dict) or not all(isinstance(v, ClaimRule) for v in rules.values()):
        raise ConfigError(
            f"{where}: key 'claim_rules': {loc.ref!r} is not a dict of ClaimRule "
            "(convscope.report.claims)"
        )
    return rules


def trusted_rules(loc: RulesRef, out: Path) -> tuple[Rules, str]:
    """The rules an output's ``experiment.json`` records, imported only when they are the code
    the user ran (same sha256, outside the output) or the user trusts code; else no rules and
    why (its claims are then not testable)."""
    from convscope.models import trust

    if not loc.ref:
        return {}, ""
    file = Path(loc.file)
    why = ""
    if not file.is_file():
        why = f"its claim rules {loc.ref!r} are no longer at {loc.file}"
    elif file.resolve().is_relative_to(out.resolve()):
        why = f"its claim rules {loc.ref!r} lie inside the output folder"
    elif trust.sha256(file) != loc.sha256:
        why = f"its claim rules {loc.ref!r} changed since the experiment ran ({loc.file})"
    if why and not trust.trusted_by_user():
        return {}, why + " (--trust-model-code imports them anyway)"
    try:
        return import_rules(loc, "experiment.json"), ""
    except ConfigError as e:
        return {}, str(e)


def _study_rule(name: str) -> tuple[str, str] | None:
    study, dot, key = name.partition(".")
    return (study, key) if dot and study and key else None


def check_rule(name: str, where: str, rules: Rules) -> None:
    """Raise ConfigError unless ``name`` is a registered rule or ``<study>.<verdict>``."""
    if name in rules:
        return
    sv = _study_rule(name)
    if sv is None:
        known = f"one of {', '.join(rules)} (its claim_rules) or " if rules else ""
        raise ConfigError(
            f"{where}: key 'rule': unknown rule {name!r}; expected {known}<analysis>.<verdict> "
            "(a verdict an analysis saves; curve rules come from the experiment's claim_rules)"
        )


def _rule_matches(pattern: str, key: str) -> bool:
    """``pattern`` names ``key``: equal, or equal but for parts in angle brackets
    (``<method>.labels`` names ``saliency.labels``)."""
    if pattern == key:
        return True
    want, got = pattern.split("."), key.split(".")
    return len(want) == len(got) and all(
        w == g or (w.startswith("<") and w.endswith(">")) for w, g in zip(want, got)
    )


def saved_rule(docs: Sequence[dict[str, Any]], key: str) -> str:
    """The text of verdict ``key``'s rule as the analysis saved it in its JSON (``docs``:
    its saved results), or "" when none records it."""
    for doc in docs:
        saved = doc.get("verdict_rules")
        if not isinstance(saved, dict):
            continue
        for pattern in sorted(saved, key=lambda p: p != key):  # the exact key first
            if _rule_matches(str(pattern), key) and saved[pattern]:
                return str(saved[pattern])
    return ""


def rule_text(
    name: str, rules: Rules, studies: Mapping[str, Sequence[dict[str, Any]]] | None = None
) -> str:
    """How rule ``name`` tests a claim: a curve rule's text, or for ``<study>.<verdict>`` the
    rule the analysis saved with its result (``studies``: the group's saved results by
    analysis name, as :attr:`GroupInput.studies` holds them)."""
    if name in rules:
        return rules[name].text
    sv = _study_rule(name)
    if sv is None:
        return "(unknown rule)"
    study, key = sv
    docs = (studies or {}).get(study, [])
    what = f"the `{key}` verdict that the `{study}` analysis saved"
    if not docs:
        return f"{what}; it has saved no result yet, so its rule is not shown."
    how = saved_rule(docs, key)
    return what + (f": {how}" if how else " (its saved result does not record the rule).")


def evaluate(spec: Any, g: GroupInput | None, rules: Rules, missing: str = "") -> Claim:
    """The verdict of one declared claim (``spec``: quote, section, group, rule)."""

    def out(verdict: str, evidence: str) -> Claim:
        return Claim(spec.section, spec.quote, verdict, evidence)  # type: ignore[arg-type]

    if spec.rule in rules:
        if g is None or not g.stats:
            return out(NOT_TESTABLE, f"no run of group `{spec.group}` has recorded metrics.")
        c = rules[spec.rule].test(g)
        return out(c.verdict, c.evidence)
    sv = _study_rule(spec.rule)
    if sv is None:
        return out(
            NOT_TESTABLE, f"unknown rule `{spec.rule}`" + (f": {missing}." if missing else ".")
        )
    study, key = sv
    for doc in g.studies.get(study, []) if g else []:
        v = (doc.get("verdicts") or {}).get(key)
        if isinstance(v, dict) and v.get("verdict") in (SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE):
            return out(str(v["verdict"]), str(v.get("evidence", "")))
    return out(
        NOT_TESTABLE,
        f"the `{study}` analysis has not saved a `{key}` verdict for group `{spec.group}` "
        "(run it, then rerun the report).",
    )
