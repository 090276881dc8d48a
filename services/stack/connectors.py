"""The S3 sink as a Kafka Connect connector (connect/s3-sink), managed as on MSK Connect.

With LANDING_SINK=connect, `make up` registers one connector per namespace through Connect's
REST API (`PUT /connectors/<name>/config`, idempotent) instead of running the Python sink.
Its configuration is the one `make export-aws` writes for MSK Connect, key for key; only the
class and what a local worker needs beside it differ (see `local_connector_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from services.settings import Settings
from services.stack.errors import StackError
from services.stack.probes import S3_SINK_CONNECTOR_CLASS

BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"


def local_connector_config(settings: Settings) -> tuple[str, dict[str, str]]:
    """(name, config) of this namespace's connector on the local worker."""
    from services.aws.export import connector_config
    from services.s3_sink.config import render_connector_config

    name = str(render_connector_config(settings)["name"])
    config = connector_config(settings)
    config.update(
        {
            "connector.class": S3_SINK_CONNECTOR_CLASS,
            # JsonConverter would parse each value and write it back re-encoded; the raw
            # bytes keep every landed value byte-identical to what was produced.
            "value.converter": BYTE_ARRAY_CONVERTER,
            # What export-aws leaves out because MSK reaches real S3 with the worker's IAM role.
            "store.url": settings.s3_endpoint,
            "s3.path.style.access.enabled": "true",
            "aws.access.key.id": settings.s3_access_key.get_secret_value(),
            "aws.secret.access.key": settings.s3_secret_key.get_secret_value(),
            # The local Kafka is one broker.
            "errors.deadletterqueue.topic.replication.factor": "1",
        }
    )
    return name, config


class ConnectorNotReady(StackError):
    pass


def register(settings: Settings, *, timeout: float = 90.0) -> str:
    """PUT the namespace's connector (created or updated in place), wait until it RUNs."""
    name, config = local_connector_config(settings)
    base = settings.kafka_connect_url.rstrip("/")
    try:
        resp = requests.put(f"{base}/connectors/{name}/config", json=config, timeout=60)
    except requests.RequestException as exc:
        raise StackError(f"Connect at {base} did not answer ({exc}); check `make status`") from None
    if resp.status_code not in (200, 201):
        raise StackError(
            f"Connect refused connector {name} (HTTP {resp.status_code}): {resp.text[:500]}. "
            "If it names the class, the plugin is missing: `make up` builds it (see "
            ".local/logs/install.log)."
        )
    for attempt in Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.5),
        retry=retry_if_exception_type(ConnectorNotReady),
        reraise=True,
    ):
        with attempt:
            state = connector_state(settings, name)
            if state.failed:
                raise StackError(f"connector {name} failed: {state.summary()}\n{state.trace}")
            if not state.running:
                raise ConnectorNotReady(f"connector {name} not running: {state.summary()}")
    return name


@dataclass(frozen=True)
class ConnectorState:
    name: str
    connector: str
    tasks: tuple[tuple[int, str], ...]
    trace: str = ""

    @property
    def running(self) -> bool:
        return (
            self.connector == "RUNNING"
            and bool(self.tasks)
            and all(s == "RUNNING" for _, s in self.tasks)
        )

    @property
    def failed(self) -> bool:
        return self.connector == "FAILED" or any(s == "FAILED" for _, s in self.tasks)

    def summary(self) -> str:
        tasks = ", ".join(f"{i}:{s}" for i, s in self.tasks) or "none yet"
        return f"connector {self.connector}, tasks {tasks}"


def parse_status(body: dict[str, Any]) -> ConnectorState:
    """Connect's `GET /connectors/<name>/status` answer."""
    tasks = tuple(
        sorted((int(t.get("id", -1)), str(t.get("state", "?"))) for t in body.get("tasks", []))
    )
    traces = [str(t["trace"]) for t in body.get("tasks", []) if t.get("trace")]
    if body.get("connector", {}).get("trace"):
        traces.insert(0, str(body["connector"]["trace"]))
    return ConnectorState(
        name=str(body.get("name", "?")),
        connector=str(body.get("connector", {}).get("state", "?")),
        tasks=tasks,
        trace=traces[0][:2000] if traces else "",
    )


def connector_state(settings: Settings, name: str) -> ConnectorState:
    base = settings.kafka_connect_url.rstrip("/")
    try:
        resp = requests.get(f"{base}/connectors/{name}/status", timeout=10)
    except requests.RequestException as exc:
        raise ConnectorNotReady(f"Connect at {base} did not answer: {exc}") from None
    if resp.status_code == 404:
        raise ConnectorNotReady(f"connector {name} is not registered yet")
    if resp.status_code != 200:
        raise ConnectorNotReady(f"status of {name}: HTTP {resp.status_code}")
    return parse_status(resp.json())


def all_states(settings: Settings) -> list[ConnectorState]:
    """Every connector on the worker with its task states (for `make status`)."""
    base = settings.kafka_connect_url.rstrip("/")
    resp = requests.get(f"{base}/connectors", params={"expand": "status"}, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    return [parse_status(v["status"]) for _, v in sorted(body.items()) if "status" in v]
