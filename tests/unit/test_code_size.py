"""Every module fits a reader's head: no Python file over 400 lines, and in `services/` and
`shared/` no function over 60 (docstring included). Data (YAML, JSONL, Markdown) is not code."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def tracked_python(*folders: str) -> list[Path]:
    """The Python files git tracks under `folders` (the whole repository when none)."""
    patterns = [f"{folder}/*.py" for folder in folders] or ["*.py"]
    listed = subprocess.run(
        ["git", "ls-files", "--", *patterns],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def long_functions(path: Path, limit: int) -> list[str]:
    """`path:name (n lines)` for each function or method longer than `limit` lines."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append(f"{path.relative_to(REPO)}:{node.name} ({length} lines)")
    return found


def test_the_checks_see_the_code():
    # A broken file listing would make both checks pass on nothing.
    assert len(tracked_python("services", "shared")) > 50
    assert long_functions(Path(__file__), limit=5)  # this file has a function over 5 lines


def test_no_python_file_is_over_400_lines():
    too_long = [
        f"{path.relative_to(REPO)} ({n} lines)"
        for path in tracked_python()
        if (n := len(path.read_text().splitlines())) > MAX_FILE_LINES
    ]
    assert not too_long, "split these files: " + ", ".join(too_long)


@pytest.mark.parametrize("folder", ["services", "shared"])
def test_no_function_in_the_services_or_shared_is_over_60_lines(folder: str):
    too_long = [
        found
        for path in tracked_python(folder)
        for found in long_functions(path, MAX_FUNCTION_LINES)
    ]
    assert not too_long, "split these functions: " + ", ".join(too_long)
