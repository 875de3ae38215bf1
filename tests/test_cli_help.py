"""``convscope ... --help``: every option described, with its choices and its real default."""

from __future__ import annotations

import dataclasses
import re

import pytest

from convscope.cli import build_parser
from convscope.cli_help import FIELD_HELP
from convscope.config import SECTIONS
from convscope.models import REGISTRY


def test_every_config_key_has_a_placeholder_and_a_description() -> None:
    keys = [f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)]
    missing = [k for k in keys if k not in FIELD_HELP]
    assert not missing, f"add these keys to convscope.cli_help.FIELD_HELP: {missing}"
    for key, (metavar, text) in FIELD_HELP.items():
        assert metavar.isupper() and not metavar.startswith("CFG"), key
        assert text and "\n" not in text, key


def _options(parser_help: str) -> dict[str, str]:
    """``{--flag: its help text}`` from argparse's help, joined over wrapped lines."""
    out: dict[str, str] = {}
    flag = None
    for line in parser_help.splitlines():
        m = re.match(r"^  (-\w, )?(--[\w-]+)(?: \S+)?\s*(.*)$", line)
        if m:
            flag = m.group(2)
            out[flag] = m.group(3)
        elif flag and line.startswith("    "):
            out[flag] += " " + line.strip()
        else:
            flag = None
    return out


def train_help(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    return capsys.readouterr().out


def test_train_help_describes_every_option(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = train_help(capsys, monkeypatch)
    assert "CFG_" not in text and "default: None" not in text
    opts = _options(text)
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            assert flag in opts, flag
            assert len(opts[flag].split()) >= 3, f"{flag}: {opts[flag]!r}"
            assert "default" in opts[flag], f"{flag}: {opts[flag]!r}"
    # choices: the model registry's names and a Literal's values
    assert f"one of {', '.join(REGISTRY)}" in opts["--model"]
    assert "one of sgd, adam, rmsprop" in opts["--optimizer"]
    # the real default budget, not "None"
    assert "1 epoch" in opts["--epochs"] and "1 epoch" in opts["--iterations"]
    assert "(default: 50)" in opts["--batch-size"]


def test_analyze_help_never_splits_an_analysis_name(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convscope.studies import load_builtin

    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "--help"])
    text = capsys.readouterr().out
    glued = re.sub(r"\n\s+", "", text)  # a word broken across lines would join up here
    for name in [*load_builtin(), "occlusion"]:
        assert glued.count(name) == text.count(name), f"{name!r} is split across lines"
