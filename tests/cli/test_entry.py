"""The entry point: every registered command loads, and ``knobwise --help`` imports none of them."""

from __future__ import annotations

import importlib
import subprocess
import sys

from knobwise.cli import COMMANDS, build_parser


def test_every_command_module_has_arguments_and_run() -> None:
    for name, (modname, text) in COMMANDS.items():
        mod = importlib.import_module(modname)
        assert callable(mod.add_arguments) and callable(mod.run), name
        assert text and not text.endswith("."), name
    parser = build_parser()
    assert parser.parse_args(["summary", "lenet5"]).command == "summary"


def _stdout(code: str) -> str:
    """What a fresh interpreter prints running ``code``."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_help_lists_every_command_without_importing_torch() -> None:
    code = (
        "import sys; from knobwise.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('torch', 'numpy', 'matplotlib', 'optuna', 'pydantic')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])"
    )
    out = _stdout(code)
    assert "LOADED []" in out
    for name in COMMANDS:
        assert name in out


def test_the_command_freezes_its_objects_before_the_process_ends_but_a_call_does_not() -> None:
    # The console script's process ends with the command: frozen objects spare the interpreter's
    # final garbage collections. main(argv) from Python (a test, a notebook) leaves the GC alone.
    code = (
        "import gc, sys\nfrom knobwise.cli import main\n"
        "assert main(['summary', 'mlp', '--input', '1x8x8']) == 0 and gc.get_freeze_count() == 0\n"
        "sys.argv = ['knobwise', 'summary', 'mlp', '--input', '1x8x8']\n"
        "code = main()\nprint('FROZEN', code, gc.get_freeze_count() > 1000)"
    )
    out = _stdout(code)
    assert "FROZEN 0 True" in out
