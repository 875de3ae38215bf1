"""An experiment's claim rules are a plugin named by import path; the report imports it only
while it is the code the user ran (issue 24 with the trust rules of issue 22)."""

from __future__ import annotations

import textwrap

import pytest

from convscope.errors import ConfigError
from convscope.models.trust import TRUST_ENV
from convscope.report.claims import (
    ClaimRule,
    RulesRef,
    import_rules,
    locate_rules,
    trusted_rules,
)

PLUGIN = textwrap.dedent(
    """
    from convscope.report.claims import RuleSet
    from convscope.report.document import SUPPORTED, Claim

    RULES = {}
    rule = RuleSet(RULES)
    rule("always", "always holds.")(lambda g: Claim("1", "q", SUPPORTED, "by hand"))
    """
)


def _plugin(tmp_path, name="rules_x.py"):
    d = tmp_path / "exp"
    d.mkdir(exist_ok=True)
    (d / name).write_text(PLUGIN)
    return d


def test_a_plugin_beside_the_experiment_file_loads_and_is_recorded(tmp_path):
    d = _plugin(tmp_path)
    loc = locate_rules("rules_x.py:RULES", d, "exp.toml")
    assert loc.file == str((d / "rules_x.py").resolve()) and len(loc.sha256) == 64
    rules = import_rules(loc, "exp.toml")
    assert list(rules) == ["always"] and isinstance(rules["always"], ClaimRule)
    out = tmp_path / "out"
    out.mkdir()
    got, why = trusted_rules(loc, out)
    assert list(got) == ["always"] and why == ""


@pytest.mark.parametrize(
    "ref, match",
    [("nope.py:RULES", "no file"), ("rules_x.py", "expected 'file.py:NAME'"), ("rules_x.py:X", "")],
)
def test_bad_references_are_one_line_naming_the_key(tmp_path, ref, match):
    d = _plugin(tmp_path)
    with pytest.raises(ConfigError, match="claim_rules") as e:
        import_rules(locate_rules(ref, d, "exp.toml"), "exp.toml")
    assert match in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "body, match",
    [
        ('RULES = ["not", "rules"]\n', "is not a dict of ClaimRule"),
        ('raise RuntimeError("boom")\n', "importing .* failed: RuntimeError: boom"),
    ],
)
def test_a_broken_plugin_is_one_line_naming_claim_rules(tmp_path, body, match):
    """Tried by hand as a new user: a plugin that raises at import was reported as
    "config key 'model'" (the model importer's wording)."""
    d = tmp_path / "exp"
    d.mkdir()
    (d / "broken_rules.py").write_text(body)
    with pytest.raises(ConfigError, match=match) as e:
        import_rules(locate_rules("broken_rules.py:RULES", d, "exp.toml"), "exp.toml")
    msg = str(e.value)
    assert msg.startswith("exp.toml: key 'claim_rules'") and "model" not in msg and "\n" not in msg


def test_the_report_refuses_changed_or_travelling_rules_unless_trusted(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    d = _plugin(tmp_path)
    loc = locate_rules("rules_x.py:RULES", d, "exp.toml")
    out = tmp_path / "out"
    out.mkdir()
    changed = RulesRef(loc.ref, loc.file, "0" * 64)
    rules, why = trusted_rules(changed, out)
    assert rules == {} and "changed since the experiment ran" in why
    inside = _plugin(out, "rules_in.py")  # code that travels with the output folder
    loc_in = locate_rules("rules_in.py:RULES", inside, "exp.toml")
    rules, why = trusted_rules(loc_in, out)
    assert rules == {} and "inside the output folder" in why
    monkeypatch.setenv(TRUST_ENV, "1")
    assert list(trusted_rules(changed, out)[0]) == ["always"]
