"""Fail on a test function that cannot fail: one with no `assert`, no `pytest.raises`/`warns`,
and no call of a helper that asserts.

A helper "asserts" when it is a function (in the same module, or imported from `tests.`) whose
own body asserts, raises, or calls such a helper in turn. `make lint` runs this, so CI does.

    python -m tests.support.check_asserts [paths...]   (default: tests/)
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAISES = {"raises", "warns", "deprecated_call", "fail"}  # pytest.<name>(...)


@dataclass
class Module:
    path: Path
    tree: ast.Module
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (module, name)
    modules: dict[str, str] = field(default_factory=dict)  # `import a.b as c`: c -> a.b


def _callee(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _shown(path: Path) -> Path:
    resolved = path.resolve()
    return resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else path


class Checker:
    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}
        self._memo: dict[tuple[str, str], bool] = {}

    def load(self, path: Path) -> Module:
        name = str(path.resolve())
        if name not in self.modules:
            tree = ast.parse(path.read_text(), str(path))
            mod = Module(path, tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    mod.functions.setdefault(node.name, node)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname:
                            mod.modules[alias.asname] = alias.name
                elif isinstance(node, ast.ImportFrom) and node.module:
                    for alias in node.names:
                        mod.imported[alias.asname or alias.name] = (node.module, alias.name)
            self.modules[name] = mod
        return self.modules[name]

    def _resolve(self, mod: Module, name: str) -> tuple[Module, str] | None:
        if name in mod.functions:
            return mod, name
        if name in mod.imported:
            source, real = mod.imported[name]
            if source.startswith("tests."):
                path = ROOT.joinpath(*source.split(".")).with_suffix(".py")
                if path.exists():
                    return self.load(path), real
        return None

    def _resolve_in_module(self, mod: Module, alias: str, name: str) -> tuple[Module, str] | None:
        """`checks.helper(...)` where `checks` is a module of the tests package."""
        dotted = mod.modules.get(alias)
        if dotted is None and alias in mod.imported:
            dotted = ".".join(mod.imported[alias])
        if dotted is None or not dotted.startswith("tests."):
            return None
        path = ROOT.joinpath(*dotted.split(".")).with_suffix(".py")
        if not path.exists():
            return None
        target = self.load(path)
        return (target, name) if name in target.functions else None

    def asserts(self, mod: Module, name: str, depth: int = 0) -> bool:
        key = (str(mod.path), name)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = False  # recursion guard
        found = self._body_asserts(mod, mod.functions[name], depth)
        self._memo[key] = found
        return found

    def _body_asserts(
        self, mod: Module, fn: ast.FunctionDef | ast.AsyncFunctionDef, depth: int
    ) -> bool:
        for node in ast.walk(fn):
            if isinstance(node, ast.Assert | ast.Raise):
                return True
            if isinstance(node, ast.Call):
                callee = _callee(node)
                if callee is None:
                    continue
                f = node.func
                if (
                    isinstance(f, ast.Attribute)
                    and isinstance(f.value, ast.Name)
                    and f.value.id == "pytest"
                    and callee in RAISES
                ):
                    return True
                if depth >= 5:
                    continue
                target = None
                if isinstance(f, ast.Name):
                    target = self._resolve(mod, callee)
                elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                    target = self._resolve_in_module(mod, f.value.id, callee)
                if target and self.asserts(*target, depth + 1):
                    return True
        return False

    def problems(self, path: Path) -> list[str]:
        mod = self.load(path)
        out = []
        for node in mod.tree.body:
            candidates: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                candidates = [node]
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                candidates = [
                    n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
            for fn in candidates:
                if fn.name.startswith("test") and not self._body_asserts(mod, fn, 0):
                    rel = _shown(path)
                    out.append(
                        f"{rel}:{fn.lineno}: {fn.name} asserts nothing, so it cannot fail; "
                        "add an `assert` on what its name claims (or `pytest.raises`)"
                    )
        return out


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    roots = [Path(a) for a in args] or [ROOT / "tests"]
    files = sorted(p for r in roots for p in ([r] if r.is_file() else r.rglob("test_*.py")))
    checker = Checker()
    problems = [line for f in files for line in checker.problems(f)]
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{len(problems)} test(s) without an assertion", file=sys.stderr)
        return 1
    print(f"every test asserts something ({len(files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
