"""The docker runtime's broker and Connect worker run the native runtime's properties: one
source each (configs.kafka_broker_text, connect_worker_text), mounted into the container,
never retyped in its entrypoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.settings import PROJECT_ROOT, load_settings
from services.stack import configs, connectors, docker_runtime

pytestmark = pytest.mark.unit

ENTRYPOINT = PROJECT_ROOT / "compose" / "kafka" / "entrypoint.sh"


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_docker_worker_differs_from_native_only_in_bind_address_and_plugin_folder(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_connect_url="http://127.0.0.1:28083")
    native = _props(configs.connect_properties(settings).read_text())
    docker = _props(
        configs.connect_worker_text(
            settings, docker_runtime.CONNECT_PLUGINS_IN_CONTAINER, bind_host="0.0.0.0"
        )
    )
    differ = {key for key in native.keys() | docker.keys() if native.get(key) != docker.get(key)}
    assert differ == {"listeners", "plugin.path"}
    assert docker["listeners"] == "http://0.0.0.0:28083"
    assert docker["plugin.path"] == "/opt/connect/plugins"
    # The S3 keys are mounted at the host's path, so a connector's ${file:...} reference
    # means the same file under both runtimes.
    assert docker["config.providers.file.param.allowed.paths"] == str(
        connectors.secrets_dir(settings)
    )


def test_docker_broker_differs_from_native_only_in_bind_address_and_data_folder(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        state_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:29092", kafka_controller_port=29093
    )
    native = _props(configs.kafka_properties(settings).read_text())
    docker = _props(
        configs.kafka_broker_text(
            settings, docker_runtime.KAFKA_DATA_IN_CONTAINER, bind_host="0.0.0.0"
        )
    )
    differ = {key for key in native.keys() | docker.keys() if native.get(key) != docker.get(key)}
    assert differ == {"listeners", "log.dirs"}
    assert docker["listeners"] == "PLAINTEXT://0.0.0.0:29092,CONTROLLER://127.0.0.1:29093"
    assert docker["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert docker["log.dirs"] == "/var/lib/kafka/data"


def test_the_entrypoint_runs_the_mounted_properties_and_writes_none(tmp_path: Path) -> None:
    script = ENTRYPOINT.read_text()
    services = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]
    for service, target, variable in (
        ("connect", "/etc/kafka/connect.properties", "CONNECT_PROPERTIES_FILE"),
        ("kafka", "/etc/kafka/server.properties", "KAFKA_PROPERTIES_FILE"),
    ):
        volumes = services[service]["volumes"]
        (mount,) = [v for v in volumes if v.endswith(f":{target}:ro")]
        assert mount.startswith("${" + variable + ":?"), mount
        assert f"conf={target}" in script
    # A property typed into the script would be a second copy that can drift.
    for key in ("group.id=", "plugin.path=", "config.providers=", "process.roles=", "log.dirs="):
        assert key not in script, key
    settings = load_settings(state_dir=tmp_path)
    env = docker_runtime.compose_env(settings)
    for variable in ("CONNECT_PROPERTIES_FILE", "KAFKA_PROPERTIES_FILE"):
        assert Path(env[variable]).parent == docker_runtime.secrets_dir(settings)
