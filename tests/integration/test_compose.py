"""docker-compose.yml, validated by the real Compose tool (no engine needed for `config`)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from services.settings import PROJECT_ROOT, load_settings
from services.stack.definitions import all_services
from services.stack.docker_runtime import compose_env

pytestmark = pytest.mark.integration

COMPOSE = shutil.which("docker-compose")


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert COMPOSE, "docker-compose is installed by `make test` (services.stack install-test-tools)"
    return subprocess.run(
        [COMPOSE, "-f", str(PROJECT_ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=60,
    )


def _base_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}


def test_compose_file_is_valid_with_the_settings_env() -> None:
    out = _config({**_base_env(), **compose_env(load_settings())})
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    for name, svc in doc["services"].items():
        assert "healthcheck" in svc, f"{name} has no healthcheck"
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image ({image})"


def test_required_variables_fail_loudly() -> None:
    out = _config(_base_env())
    assert out.returncode != 0
    assert "see .env.example" in out.stderr


def test_services_and_ports_match_the_native_runtime() -> None:
    settings = load_settings()
    doc = yaml.safe_load(_config({**_base_env(), **compose_env(settings)}).stdout)
    published: dict[str, set[int]] = {}
    for name, svc in doc["services"].items():
        for port in svc.get("ports", []):
            host_ip, host_port = _host_side(port)
            assert host_ip == "127.0.0.1", f"{name} publishes beyond loopback"
            published.setdefault(name, set()).add(host_port)
    for native in all_services(settings):
        assert native.name in doc["services"], f"compose lacks {native.name}"
        # The main port of each native service is published by its compose twin.
        assert native.ports[0] in published[native.name], native.name


def _host_side(port: object) -> tuple[str, int]:
    """Compose 1.x prints "ip:host:container"; Compose 2 prints a mapping."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), int(port["published"])
    ip, host, _container = str(port).rsplit(":", 2)
    return ip, int(host)


def test_dependencies_wait_for_health() -> None:
    doc = yaml.safe_load(_config({**_base_env(), **compose_env(load_settings())}).stdout)
    for name, svc in doc["services"].items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
