"""The import rules of docs/architecture.md that import-linter cannot check.

A function-local import exists only to keep a heavy or optional third-party dependency lazy:
it never imports a knobwise module (a cycle between knobwise modules is fixed by moving code,
not hidden inside a function) — except in ``api.py``, the top layer, which imports ``tune``
(and with it optuna) only when a study or a selection is asked for — and a ``#`` comment line
directly above it (or above the first of a run of consecutive imports) says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import knobwise

PACKAGE = Path(knobwise.__file__).parent

#: The top layer: it may defer a knobwise package that imports a heavy dependency (with a comment).
TOP_LAYER = {"api.py"}


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return ["." * node.level + (node.module or "")]
    return [alias.name for alias in node.names]


def _is_knobwise(name: str) -> bool:
    return name.startswith(".") or name == "knobwise" or name.startswith("knobwise.")


def _function_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: dict[int, ast.Import | ast.ImportFrom] = {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found[id(node)] = node
    return sorted(found.values(), key=lambda n: n.lineno)


def _has_comment_above(node: ast.stmt, lines: list[str], import_lines: set[int]) -> bool:
    """A ``#`` line directly above ``node``, or above the run of imports that ends with it."""
    row = node.lineno - 1  # 1-based line number of the line above
    while row in import_lines:
        row -= 1
    return row >= 1 and lines[row - 1].strip().startswith("#")


def offenders(root: Path = PACKAGE) -> list[str]:
    """``path:line: why`` for every function-local import that breaks the rule."""
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        nodes = _function_imports(ast.parse(text, filename=str(path)))
        # Every line an import statement occupies (a parenthesized import spans several).
        import_lines = {row for n in nodes for row in range(n.lineno, (n.end_lineno or n.lineno) + 1)}
        for node in nodes:
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            names = _imported(node)
            inner = [n for n in names if _is_knobwise(n)]
            if inner and path.name not in TOP_LAYER:
                out.append(f"{where}: imports {', '.join(inner)} inside a function (import it at the top)")
            elif not _has_comment_above(node, lines, import_lines):
                out.append(f"{where}: lazy import of {', '.join(names)} has no comment line above it")
    return out


def test_function_local_imports_are_lazy_third_party_with_a_reason() -> None:
    bad = offenders()
    assert not bad, "function-local imports break the rule:\n" + "\n".join(bad)


def test_the_check_catches_both_kinds_of_offence(tmp_path: Path) -> None:
    pkg = tmp_path / "knobwise"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "def f():\n"
        "    from knobwise.data import prepare_data\n"
        "    from . import sibling\n"
        "\n"
        "def g():\n"
        "    x = 1\n"
        "    import optuna\n"
        "\n"
        "def h():\n"
        "    # lazy: matplotlib is slow to import\n"
        "    import matplotlib\n"
        "    import matplotlib.pyplot as plt\n",
        encoding="utf-8",
    )
    assert offenders(pkg) == [
        "knobwise/m.py:2: imports knobwise.data inside a function (import it at the top)",
        "knobwise/m.py:3: imports . inside a function (import it at the top)",
        "knobwise/m.py:7: lazy import of optuna has no comment line above it",
    ]
