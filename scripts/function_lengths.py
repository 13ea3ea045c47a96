"""Fail when a function of the project (tests aside) is longer than a screen.

ruff counts statements and branches; this counts lines, docstring included, because what a
newcomer has to read is lines. Run by `make lint`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MAX_FUNCTION_LINES = 60


def long_functions(path: Path) -> list[tuple[int, str, int]]:
    """(line, name, length) of each function in `path` longer than MAX_FUNCTION_LINES."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.lineno, node.name, length))
    return found


def main() -> int:
    tracked = subprocess.run(["git", "ls-files", "*.py"], capture_output=True, text=True, check=True)
    paths = [Path(name) for name in tracked.stdout.split() if not name.startswith("tests/")]
    failures = [(path, *found) for path in paths if path.exists() for found in long_functions(path)]
    for path, line, name, length in failures:
        print(f"{path}:{line}: {name} is {length} lines (at most {MAX_FUNCTION_LINES})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
