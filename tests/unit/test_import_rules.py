"""The import contracts in pyproject.toml (`lint-imports`) catch the imports they forbid.

Each case copies the packages and pyproject.toml into a temporary tree, adds one forbidden
import there, and runs `lint-imports` on the copy: it must exit non-zero naming exactly the
contracts that import breaks. The unmodified copy must pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "finerag")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}


def copy_project(tmp_path: Path) -> Path:
    """The packages and pyproject.toml, without bytecode, under `tmp_path/project`."""
    tree = tmp_path / "project"
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy2(REPO / "pyproject.toml", tree / "pyproject.toml")
    return tree


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` run in `tree`, importing only what is in it."""
    assert LINT_IMPORTS.is_file(), f"{LINT_IMPORTS} missing: install the dev extra"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def broken(output: str) -> set[str]:
    """The ids of the contracts the report marks BROKEN."""
    return {id_ for id_, name in CONTRACTS.items() if f"{name} BROKEN" in output}


def test_the_contracts_hold_on_the_code_as_it_is(tmp_path: Path):
    result = lint_imports(copy_project(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "expected"),
    [
        # The other services and the evaluation import shared.contracts.names: through it they
        # now import the gateway (or the command).
        (
            "shared/contracts/names.py",
            "import services.gateway",
            {"shared-is-a-leaf", "services-independent", "evaluation-imports-no-service"},
        ),
        (
            "shared/contracts/names.py",
            "import finerag.cli",
            {"shared-is-a-leaf", "evaluation-imports-no-service"},
        ),
        ("services/retrieval/core/index.py", "import services.trainer", {"services-independent"}),
        ("services/gateway/core/rag.py", "import services.gateway.api.deps", {"api-above-core"}),
        # In shared, contracts import neither infrastructure nor models.
        (
            "shared/contracts/prompts.py",
            "import shared.infrastructure.settings",
            {"shared-rooms"},
        ),
        ("shared/infrastructure/logs.py", "import shared.models.loading", {"shared-rooms"}),
        # The evaluation is called by the trainer, never the other way round.
        (
            "services/evaluation/gate.py",
            "import services.trainer.recipe",
            {"evaluation-imports-no-service"},
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, forbidden: str, expected: set[str]
):
    tree = copy_project(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{forbidden}  # added by the test\n")

    result = lint_imports(tree)

    assert result.returncode != 0, result.stdout
    assert broken(result.stdout) == expected, result.stdout
    assert forbidden.removeprefix("import ") in result.stdout  # the report names the import
