"""The docker runtime's Connect worker runs the native worker's properties: one source
(configs.connect_worker_text), mounted into the container, never retyped in its entrypoint."""

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


def test_the_entrypoint_runs_the_mounted_properties_and_writes_none(tmp_path: Path) -> None:
    script = ENTRYPOINT.read_text()
    connect = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"][
        "connect"
    ]
    target = ":/etc/kafka/connect.properties:ro"
    (mount,) = [v for v in connect["volumes"] if v.endswith(target)]
    assert mount.startswith("${CONNECT_PROPERTIES_FILE:?")
    assert "conf=/etc/kafka/connect.properties" in script
    # A worker property typed into the script would be a second copy that can drift.
    for key in ("group.id=", "plugin.path=", "config.providers=", "rest.advertised.port="):
        assert key not in script, key
    settings = load_settings(state_dir=tmp_path)
    env = docker_runtime.compose_env(settings)
    assert Path(env["CONNECT_PROPERTIES_FILE"]).parent == docker_runtime.secrets_dir(settings)
