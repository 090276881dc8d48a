"""docker-compose.yml, validated by the real Compose tool (no engine needed for `config`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
        # Only the Debian base comes from a registry; every other image is built here.
        assert image == "debian:bookworm-slim" or image.startswith("pinterest-pipeline/"), image


def test_required_variables_fail_loudly() -> None:
    out = _config(_base_env())
    assert out.returncode != 0
    assert "see .env.example" in out.stderr


def test_services_and_ports_match_the_native_runtime() -> None:
    # The compose stack lands through the Kafka Connect connector: no Python sink service.
    settings = load_settings()
    doc = yaml.safe_load(_config({**_base_env(), **compose_env(settings)}).stdout)
    published: set[int] = set()
    for name, svc in doc["services"].items():
        for port in svc.get("ports", []):
            host_ip, host_port = _host_side(port)
            assert host_ip == "127.0.0.1", f"{name} publishes beyond loopback"
            published.add(host_port)
    for native in all_services(settings):
        assert native.name in doc["services"], f"compose lacks {native.name}"
        # Every client-facing port is published on the host 1:1 (the servers share the
        # `network` container's namespace, which publishes them); Kafka's controller and
        # SeaweedFS's internal ports stay inside.
        client_ports = native.ports if native.name == "rest-proxy" else native.ports[:1]
        for port in client_ports:
            assert port in published, (native.name, port)


def test_ports_follow_the_settings() -> None:
    """Another set of ports (as the docker-runtime test uses) moves every published port."""
    settings = load_settings(
        mysql_port=23306,
        kafka_bootstrap_servers="127.0.0.1:29092",
        kafka_connect_url="http://127.0.0.1:28083",
        s3_endpoint="http://127.0.0.1:29000",
        rest_proxy_url="http://127.0.0.1:28082",
        legacy_api_url="http://127.0.0.1:28000",
        kinesis_url="http://127.0.0.1:24567",
    )
    doc = yaml.safe_load(_config({**_base_env(), **compose_env(settings)}).stdout)
    published = {_host_side(p)[1] for svc in doc["services"].values() for p in svc.get("ports", [])}
    assert {23306, 29092, 28083, 29000, 28082, 28000, 24567} <= published
    assert not {3306, 9092, 8083, 9000, 8082, 8000, 4567} & published


def _host_side(port: object) -> tuple[str, int]:
    """Compose 1.x prints "ip:host:container"; Compose 2 prints a mapping."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), int(port["published"])
    ip, host, _container = str(port).rsplit(":", 2)
    return ip, int(host)


def test_dependencies_start_in_order_and_servers_restart() -> None:
    # Not `condition: service_healthy`: podman without systemd never runs healthchecks, so
    # the stack's readiness is the native runtime's probes (docker_runtime.up), and a server
    # that starts before its dependency answers retries or is restarted by the engine.
    doc = yaml.safe_load(_config({**_base_env(), **compose_env(load_settings())}).stdout)
    assert doc["services"]["connect"]["depends_on"]
    assert doc["services"]["rest-proxy"]["depends_on"]
    for name, svc in doc["services"].items():
        if "spark" not in name:
            assert svc.get("restart") == "unless-stopped", name


def test_a_failed_image_build_names_its_step_and_log(tmp_path: Path) -> None:
    from services.stack.docker_runtime import IMAGES, build_failure

    log = tmp_path / "docker-build-python.log"
    log.write_text(
        "STEP 1/9: FROM debian:bookworm-slim\n"
        "STEP 5/9: RUN pip install --no-cache-dir -r /tmp/requirements.txt\n"
        "ERROR: No matching distribution found for starlette==0.50.0\n"
    )
    message = build_failure(IMAGES["python"], log, 1)
    assert "at STEP 5/9: RUN pip install" in message
    assert "No matching distribution found" in message and str(log) in message
