"""The suite's layout: test modules share code through tests/support/ only.

A test module that imports another test module (or a conftest) runs that module's fixtures
and module-level code in a second place, and moving one test breaks another; the shared
helpers live in tests/support/, which imports no test module either.
"""

from __future__ import annotations

import ast
from pathlib import Path

from services.settings import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from tests import x` names the module x
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def test_tests_import_only_tests_support() -> None:
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("tests.")
        and not module.startswith("tests.support")
        # `from tests import support` is the package itself
        and module != "tests.support"
    ]
    assert wrong == [], "move what they share into tests/support/:\n" + "\n".join(wrong)


def test_the_check_sees_a_cross_test_import(tmp_path: Path) -> None:
    sample = tmp_path / "test_x.py"
    sample.write_text(
        "from tests.integration.test_streaming import run_once\n"
        "from tests import conftest\n"
        "from tests.support import png\n"
    )
    modules = [m for _, m in imported_modules(sample)]
    assert "tests.integration.test_streaming" in modules
    assert "tests.conftest" in modules
    assert "tests.support.png" in modules
