from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.aws.export import connector_config
from services.settings import Settings
from services.stack import configs
from services.stack.connectors import (
    BYTE_ARRAY_CONVERTER,
    _property_escape,
    local_connector_config,
    parse_status,
    secrets_file,
    write_secrets,
)
from services.stack.definitions import all_services
from services.stack.probes import S3_SINK_CONNECTOR_CLASS

pytestmark = pytest.mark.unit


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)


def test_local_config_has_every_key_msk_connect_gets_with_the_same_values() -> None:
    s = settings(pipeline_user_id="0a1b", sink_flush_records=500, sink_flush_seconds=2.5)
    name, local = local_connector_config(s)
    msk = connector_config(s)
    assert name == "0a1b-s3-sink"
    assert set(msk) <= set(local)
    differing = {k for k in msk if msk[k] != local[k]}
    # The class is this project's; the values arrive as raw bytes so they land byte-identical.
    assert differing == {"connector.class", "value.converter"}
    assert local["connector.class"] == S3_SINK_CONNECTOR_CLASS
    assert local["value.converter"] == BYTE_ARRAY_CONVERTER
    assert local["flush.size"] == "500"
    assert local["rotate.schedule.interval.ms"] == "2500"
    assert local["s3.bucket.name"] == "user-0a1b-bucket"
    assert local["store.url"] == s.s3_endpoint
    assert local["s3.path.style.access.enabled"] == "true"


def test_status_parsing_running_failed_and_waiting() -> None:
    running = parse_status(
        {
            "name": "x-s3-sink",
            "connector": {"state": "RUNNING"},
            "tasks": [{"id": 1, "state": "RUNNING"}, {"id": 0, "state": "RUNNING"}],
        }
    )
    assert running.running and not running.failed
    assert running.summary() == "connector RUNNING, tasks 0:RUNNING, 1:RUNNING"
    failed = parse_status(
        {
            "name": "x",
            "connector": {"state": "RUNNING"},
            "tasks": [{"id": 0, "state": "FAILED", "trace": "boom"}],
        }
    )
    assert failed.failed and not failed.running and failed.trace == "boom"
    # With a dead-letter queue the line counts what is in it.
    assert (
        replace(running, dlq="d", dead_lettered=1)
        .summary()
        .endswith(", dead-letter queue d: 1 record")
    )
    assert replace(running, dlq="d", dead_lettered=3).summary().endswith(": 3 records")
    assert replace(running, dlq="d").summary().endswith("dead-letter queue d: count unknown")
    # A connector whose tasks are not assigned yet is not running.
    assert not parse_status({"name": "x", "connector": {"state": "RUNNING"}, "tasks": []}).running


def test_the_stack_lands_through_connect_alone(tmp_path: Path) -> None:
    # A private state folder: building the services writes their configuration files.
    names = [svc.name for svc in all_services(settings(state_dir=tmp_path))]
    assert names == ["mysql", "kafka", "connect", "s3", "rest-proxy"]
    # The retired switch is no setting any more (an old .env naming it is ignored).
    assert not hasattr(settings(), "landing_sink")


def test_the_config_references_the_credentials_and_holds_neither(tmp_path: Path) -> None:
    s = settings(state_dir=tmp_path, s3_secret_key="s3cr3t-Value", s3_access_key="AKIDLOCAL")
    _, local = local_connector_config(s)
    text = repr(local)
    assert "s3cr3t-Value" not in text and "AKIDLOCAL" not in text
    path = secrets_file(s)
    assert local["aws.secret.access.key"] == f"${{file:{path}:aws.secret.access.key}}"
    assert local["aws.access.key.id"] == f"${{file:{path}:aws.access.key.id}}"
    # The worker resolves them with its FileConfigProvider, limited to the secrets folder.
    props = configs.connect_properties(s).read_text().splitlines()
    assert "config.providers=file" in props
    assert (
        "config.providers.file.class="
        "org.apache.kafka.common.config.provider.FileConfigProvider" in props
    )
    assert f"config.providers.file.param.allowed.paths={path.parent}" in props


def test_secrets_file_is_private_and_holds_the_credentials(tmp_path: Path) -> None:
    s = settings(state_dir=tmp_path, s3_secret_key="s3cr3t-Value", s3_access_key="AKIDLOCAL")
    path = write_secrets(s)
    assert path == secrets_file(s)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0
    lines = path.read_text().splitlines()
    assert lines == ["aws.access.key.id=AKIDLOCAL", "aws.secret.access.key=s3cr3t-Value"]
    path.chmod(0o644)  # loosened by hand: the next write makes it private again
    write_secrets(s)
    assert path.stat().st_mode & 0o777 == 0o600


def test_secret_values_are_escaped_for_java_properties() -> None:
    assert _property_escape("a=b:c d\\e#f!") == "a\\=b\\:c\\ d\\\\e\\#f\\!"
    assert _property_escape("caf\u00e9\n") == "caf\\u00e9\\n"
