"""Every command's ``--help`` in one style: each option has help text (lower-case start, no full
stop), a meaningful metavar, its choices, and its default as ``(default: VALUE)``."""

from __future__ import annotations

import argparse
import re

import pytest

from knobwise.cli import COMMANDS, build_parser, main, shows_default

_SKIP_ACTIONS = (argparse._HelpAction, argparse._VersionAction)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()  # every command module, through the COMMANDS table
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _style_problems(text: str) -> list[str]:
    problems = []
    if re.match(r"[A-Z][a-z]", text):
        problems.append("starts with a capital letter")
    if text.rstrip().endswith("."):
        problems.append("ends with a full stop")
    # A default is stated one way: "(default: ...)" at the end, never "(default 3)" or "default dev".
    for m in re.finditer(r"\(?\bdefault\b:?", text):
        if m.group() != "(default:":
            problems.append(f"states a default as {m.group()!r}, not '(default: ...)'")
    if ") (default:" in text:
        problems.append("two parentheses in a row")
    return problems


def test_command_list_is_one_style() -> None:
    for name, (_, text) in COMMANDS.items():
        assert not _style_problems(text), (name, text)
        assert len(text) <= 58, f"{name}: the help of `knobwise --help` fits one line at 80 columns"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help_in_one_style(command: str) -> None:
    parser = _subparsers()[command]
    formatter = parser._get_formatter()
    wrong = []
    for action in parser._actions:
        if isinstance(action, _SKIP_ACTIONS) or action.help == argparse.SUPPRESS:
            continue
        name = "/".join(action.option_strings) or action.dest
        shown = formatter._expand_help(action) if action.help else ""
        if not shown:
            wrong.append(f"{name}: no help text")
            continue
        wrong += [f"{name}: {p}: {shown!r}" for p in _style_problems(shown)]
        if shows_default(action) and f"(default: {action.default})" not in shown:
            wrong.append(f"{name}: default {action.default!r} not stated: {shown!r}")
        takes_value = action.nargs != 0
        if takes_value and action.metavar is None and action.choices is None:
            wrong.append(f"{name}: no metavar (argparse would show {action.dest.upper()!r})")
        if not action.option_strings and not str(action.metavar).isupper():
            wrong.append(f"{name}: positional metavar {action.metavar!r} is not upper-case")
    assert not wrong, "\n".join(wrong)


def test_help_shows_defaults_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tune", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--workers N worker processes on this machine (default: 1)" in out
    assert "--sampler NAME cmaes | gp | grid | nsga2 | qmc | random | tpe (default: tpe)" in out
    assert "--resume continue the study after an interruption " in out  # a flag: no default shown
    with pytest.raises(SystemExit):
        main(["errors", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--split {train,train_dev,dev,test} which split to analyze (default: dev)" in out
