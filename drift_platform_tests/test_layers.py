"""The package's layers, as README's Layout states them: core/ is Dagster-free and imports nothing of the wiring,
resources/ imports core only, the package root holds only `__init__.py`, `definitions.py` and folders, and
functions stay short enough to read."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "drift_platform"
MAX_FUNCTION_LINES = 60


def modules_under(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_loads_no_dagster_in_a_fresh_interpreter() -> None:
    """Every module under core/ imported in a new process: no `dagster` module (nor the wiring) gets loaded."""
    modules = modules_under(PACKAGE / "core")
    assert len(modules) >= 15, modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_aws', "
        "'dagster_slack', 'dagster_postgres') or m.startswith(('drift_platform.lib', 'drift_platform.resources')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("core", ("dagster", "dagster_aws", "dagster_slack", "drift_platform.lib", "drift_platform.resources",
                  "drift_platform.definitions")),
        ("resources", ("drift_platform.lib", "drift_platform.definitions")),
        ("lib", ("drift_platform.definitions",)),
        ("instance", ("drift_platform.core", "drift_platform.lib", "drift_platform.resources",
                      "drift_platform.definitions")),
    ],
)
def test_imports_run_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    """Arrows run wiring → core, never back (inside functions too, where lazy imports hide)."""
    wrong = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / folder).rglob("*.py")
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    }
    assert not wrong, sorted(wrong)


def test_package_root_holds_only_the_entry_points_and_folders() -> None:
    files = {p.name for p in PACKAGE.iterdir() if p.is_file()}
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert files == {"__init__.py", "definitions.py"}
    assert {"core", "lib", "resources", "defs", "instance"} <= folders


def test_no_function_is_longer_than_sixty_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, sorted(long)


@pytest.mark.parametrize("folder", ["benchmarks", "loopback"])
def test_benchmarks_and_servers_import_neither_pytest_nor_the_tests(folder: str) -> None:
    root = PACKAGE.parent / folder
    wrong = {
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in root.rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in ("pytest", "drift_platform_tests")
    }
    assert list(root.rglob("*.py")) and not wrong, sorted(wrong)
