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


def imported_modules(path: Path, package: str = "") -> list[tuple[int, str]]:
    """Every module `path` imports, relative imports resolved against `package` (the
    dotted package the file is in, e.g. tests.integration)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
            # `from tests import x` names the module x
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).parent.parts)


def test_tests_import_only_tests_support() -> None:
    wrong = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in imported_modules(path, package_of(path))
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


def test_the_check_resolves_relative_imports(tmp_path: Path) -> None:
    sample = tmp_path / "test_y.py"
    sample.write_text("from . import conftest\nfrom ..e2e.test_pipeline import x\n")
    modules = [m for _, m in imported_modules(sample, "tests.integration")]
    assert "tests.integration.conftest" in modules
    assert "tests.e2e.test_pipeline" in modules
