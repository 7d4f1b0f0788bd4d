"""Every ``bash`` block of README.md runs as written (with fast settings) and exits 0.

The blocks run in order, in one fresh folder that holds a copy of ``examples/``, through the
CLI's ``main`` in this process (no interpreter start per command). How the commands are made
fast is documented in the README's Train section; a block preceded by a
``<!-- readme-test: skip (reason) -->`` comment is not run, and every other command must be a
``knobwise`` command.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from knobwise.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b")
#: Commands that train and take ``--set``.
_TRAINING = ("train", "tune", "lr-find", "augment-preview")
#: Examples of the quickstart's digits (of 1,797) a README command trains on: the same subset for
#: every run, so runs/my-run, its label-issue file and the runs trained from it stay comparable.
DIGITS_LIMIT = 600


def shell_blocks(text: str) -> list[tuple[int, list[str], bool]]:
    """``(first line number, commands, skipped)`` for every ```` ```bash ```` block; a command
    continued with a trailing backslash is one entry."""
    out: list[tuple[int, list[str], bool]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i + 1
        prev = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        i += 1
        body: list[str] = []
        while i < len(lines) and not _FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        if lang not in ("bash", "sh", "shell"):
            continue
        commands: list[str] = []
        pending = ""
        for ln in body:
            if ln.rstrip().endswith("\\"):
                pending += ln.rstrip()[:-1] + " "
                continue
            cmd = (pending + ln).strip()
            pending = ""
            if cmd and not cmd.startswith("#"):
                commands.append(cmd)
        out.append((start + 1, commands, bool(_SKIP.search(prev))))
    return out


def _on_digits(argv: list[str]) -> bool:
    """The command trains on the quickstart's digits: no config given, or the quickstart's."""
    config = next((a for a in argv[2:3] if not a.startswith("-")), None)
    return config is None or Path(config).name == "quickstart.yaml"


def fast(argv: list[str]) -> list[str]:
    """``argv`` with the fast settings the README documents appended."""
    command = argv[1] if len(argv) > 1 else ""
    out = list(argv)
    if command in _TRAINING and "--resume" not in argv:
        out += ["--set", "train.epochs=1"]
        if any("mnist" in a for a in argv):
            out += ["--set", "data.limit=300", "--set", "data.test_limit=100"]
        elif _on_digits(argv):
            out += ["--set", f"data.limit={DIGITS_LIMIT}"]
    if command == "train" and "--population" in out:
        out[out.index("--population") + 1] = "2"
    if command == "tune" and "--resume" not in argv and "--ensemble" not in argv:
        out += ["--trials", "2"]
        if "--refine" in out:
            out[out.index("--refine") + 1] = "2"
    if command == "lr-find":
        out += ["--steps", "20"]
    if command == "errors" and "--label-issues" in argv:
        out += ["--folds", "2", "--epochs", "1"]
    return out


def test_shell_blocks_parse() -> None:
    blocks = shell_blocks(README.read_text())
    run = [c for _, cmds, skipped in blocks if not skipped for c in cmds]
    assert len(run) >= 30
    assert all(c.startswith("knobwise") for c in run), [c for c in run if not c.startswith("knobwise")]
    assert fast(["knobwise", "tune", "c.yaml", "--refine", "3"]) == [
        "knobwise", "tune", "c.yaml", "--refine", "2", "--set", "train.epochs=1", "--trials", "2",
    ]  # fmt: skip
    assert fast(["knobwise", "train", "--resume", "runs/r"]) == ["knobwise", "train", "--resume", "runs/r"]
    assert fast(["knobwise", "train", "examples/quickstart.yaml", "--population", "5"]) == [
        "knobwise", "train", "examples/quickstart.yaml", "--population", "2",
        "--set", "train.epochs=1", "--set", f"data.limit={DIGITS_LIMIT}",
    ]  # fmt: skip
    assert fast(["knobwise", "train"])[-1] == f"data.limit={DIGITS_LIMIT}"
    assert fast(["knobwise", "train", "examples/breast_cancer_mlp.yaml"])[-1] == "train.epochs=1"


def test_every_readme_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # lr-find writes next to its config
    monkeypatch.chdir(tmp_path)
    failures = []
    for line, commands, skipped in shell_blocks(README.read_text()):
        if skipped:
            continue
        for cmd in commands:
            argv = shlex.split(cmd, comments=True)
            code = main(fast(argv)[1:])
            if code != 0:
                failures.append(f"README.md block at line {line}: {cmd!r} exited {code}")
    assert not failures, "\n".join(failures)
