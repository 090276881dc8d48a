"""The S3 sink: a Kafka Connect connector (connect/s3-sink), managed as on MSK Connect.

Every namespace lands through its own connector, `<id>-s3-sink`, in the stack's Connect
worker: `lifecycle.ensure_namespace` (what `make up`, the demo, the benchmarks and the tests'
fresh namespaces call) registers it through Connect's REST API (`ensure`: PUT only when the
stored config differs, so a second `make up` does not restart it), and
`bootstrap.drop_namespace` deletes it (`drop`). Its configuration is the one
`make export-aws` writes for MSK Connect, key for key; only the class and what a local
worker needs beside it differ (see `local_connector_config`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import KafkaException, TopicPartition
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from services.clients import clients_for
from services.runner.wait import NotReady, WaitTimeout, wait_until
from services.settings import Settings
from services.stack.errors import StackError
from services.stack.probes import S3_SINK_CONNECTOR_CLASS

BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
FILE_CONFIG_PROVIDER = "org.apache.kafka.common.config.provider.FileConfigProvider"
#: Connector keys whose values are secrets: the connector config holds a reference to them.
SECRET_KEYS = ("aws.access.key.id", "aws.secret.access.key")


def secrets_dir(settings: Settings) -> Path:
    return settings.data_dir / "connect" / "secrets"


def secrets_file(settings: Settings) -> Path:
    return secrets_dir(settings) / "s3.properties"


def worker_config_providers(settings: Settings) -> str:
    """The worker properties that resolve `${file:<path>:<key>}` in connector configs.

    A connector config is stored in Connect's config topic and returned by
    `GET /connectors/<name>/config`; with these, it holds a reference and the worker reads
    the value from a file only it (mode 0600) can read. `allowed.paths` keeps a connector
    config from reading any other file of the worker's. The worker refuses to start when
    that folder is missing, so it is made here.
    """
    secrets_dir(settings).mkdir(parents=True, exist_ok=True)
    secrets_dir(settings).chmod(0o700)
    return (
        "config.providers=file\n"
        f"config.providers.file.class={FILE_CONFIG_PROVIDER}\n"
        f"config.providers.file.param.allowed.paths={secrets_dir(settings)}\n"
    )


def _property_escape(value: str) -> str:
    """A value for java.util.Properties.load: its special characters escaped."""
    out = []
    for ch in value:
        if ch in "\\:=#! ":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not 0x20 <= ord(ch) < 0x7F:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else ch)
        else:
            out.append(ch)
    return "".join(out)


def write_secrets(settings: Settings) -> Path:
    """The S3 credentials in a 0600 properties file for the worker's FileConfigProvider.

    Written to a temporary name and renamed, so a worker resolving a reference meanwhile
    reads the old file or the new one, never half of one.
    """
    path = secrets_file(settings)
    if ":" in str(path) or "}" in str(path):
        raise StackError(
            f"the state folder {settings.state_dir} holds ':' or '}}', which a connector's "
            "${file:<path>:<key>} reference cannot carry: set STATE_DIR to a path without them"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    values = {
        "aws.access.key.id": settings.s3_access_key.get_secret_value(),
        "aws.secret.access.key": settings.s3_secret_key.get_secret_value(),
    }
    text = "".join(f"{k}={_property_escape(v)}\n" for k, v in values.items())
    if path.exists() and path.read_text(encoding="utf-8") == text:
        path.chmod(0o600)
        return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def secret_refs(settings: Settings) -> dict[str, str]:
    """The connector's credential keys as references into `secrets_file`, not the values."""
    path = secrets_file(settings)
    return {key: f"${{file:{path}:{key}}}" for key in SECRET_KEYS}


def local_connector_config(settings: Settings) -> tuple[str, dict[str, str]]:
    """(name, config) of this namespace's connector on the local worker."""
    from services.aws.export import connector_config
    from services.landing.connector import render_connector_config

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
            # References the worker resolves (write_secrets): the stored config and
            # GET .../config never show the key.
            **secret_refs(settings),
            # The local Kafka is one broker.
            "errors.deadletterqueue.topic.replication.factor": "1",
        }
    )
    return name, config


class ConnectorNotReady(StackError):
    pass


def register(settings: Settings, *, timeout: float = 90.0) -> str:
    """The namespace's connector registered (created, or updated in place if its config
    differs) and RUNNING: `ensure`."""
    return ensure(settings, timeout=timeout)


def ensure(settings: Settings, *, timeout: float = 90.0) -> str:
    """The namespace's connector registered and RUNNING; PUT only if its config differs.

    A PUT of the same config still restarts the connector's tasks (what they buffered is
    read again): an idempotent `make up` must not do that to a connector that is landing.
    """
    name, config = local_connector_config(settings)
    base = settings.kafka_connect_url.rstrip("/")
    try:
        resp = requests.get(f"{base}/connectors/{name}/config", timeout=30)
    except requests.RequestException as exc:
        raise StackError(f"Connect at {base} did not answer ({exc}); check `make status`") from None
    if resp.status_code == 200 and resp.json() == {**config, "name": name}:
        write_secrets(settings)  # the reference must resolve if the worker restarts
        wait_running(settings, name, timeout=timeout)
        return name
    return put_config(settings, name, config, timeout=timeout)


def drop(settings: Settings) -> None:
    """The namespace's connector deleted (with its consumer group) and its dead-letter topic."""
    name, config = local_connector_config(settings)
    base = settings.kafka_connect_url.rstrip("/")
    try:
        registered = requests.get(f"{base}/connectors/{name}", timeout=10).status_code == 200
    except requests.RequestException:
        return  # no worker (the stack is down or aws): nothing of it to drop
    if registered:
        unregister(settings, name)
    dlq = config["errors.deadletterqueue.topic.name"]
    admin = clients_for(settings).kafka_admin()
    if dlq in admin.list_topics(timeout=10).topics:
        admin.delete_topics([dlq], operation_timeout=15)[dlq].result(timeout=20)


def put_config(
    settings: Settings, name: str, config: dict[str, str], *, timeout: float = 90.0
) -> str:
    """PUT one connector's config (created or updated in place), wait until it RUNs."""
    write_secrets(settings)
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
    wait_running(settings, name, timeout=timeout)
    return name


def wait_running(settings: Settings, name: str, *, timeout: float = 90.0) -> ConnectorState:
    """Until the connector and every task RUN; raises at once if one FAILED."""
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
    return state


def unregister(settings: Settings, name: str, *, timeout: float = 60.0) -> None:
    """DELETE the connector, wait until the worker forgot it, then drop its consumer group.

    What lands stays in S3; a connector registered again under the same name resumes from
    its objects (the task seeks after the highest landed offset), not from the group.
    """
    base = settings.kafka_connect_url.rstrip("/")
    resp = requests.delete(f"{base}/connectors/{name}", timeout=30)
    if resp.status_code not in (204, 404):
        raise StackError(f"Connect did not delete connector {name}: HTTP {resp.status_code}")
    started = time.monotonic()

    def forgotten() -> str:
        if requests.get(f"{base}/connectors/{name}", timeout=10).status_code != 404:
            raise NotReady(f"connector {name} still listed")
        return "forgotten"

    try:
        wait_until(forgotten, timeout=timeout, what=f"connector {name}")
    except WaitTimeout:
        raise StackError(f"connector {name} still listed {timeout:.0f} s after DELETE") from None
    group = f"connect-{name}"
    admin = clients_for(settings).kafka_admin()

    def group_deleted() -> str:
        existing = {g.group_id for g in admin.list_consumer_groups().result().valid}
        if group in existing:
            try:
                admin.delete_consumer_groups([group])[group].result(10)
            except KafkaException as exc:
                # Its task's consumer is still leaving the group: try again, bounded.
                raise NotReady(f"consumer group {group}: {exc}") from exc
        return "deleted"

    try:
        wait_until(
            group_deleted,
            timeout=max(1.0, timeout - (time.monotonic() - started)),
            what=f"consumer group {group}",
            interval=0.5,
        )
    except WaitTimeout:
        raise StackError(
            f"consumer group {group} still has members {timeout:.0f} s after its "
            "connector was deleted"
        ) from None


@dataclass(frozen=True)
class ConnectorState:
    name: str
    connector: str
    tasks: tuple[tuple[int, str], ...]
    trace: str = ""
    #: Its dead-letter topic (errors.deadletterqueue.topic.name), "" when it has none.
    dlq: str = ""
    #: Records in that topic; None when Kafka could not tell.
    dead_lettered: int | None = None

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
        text = f"connector {self.connector}, tasks {tasks}"
        if self.dlq:
            n = self.dead_lettered
            count = "count unknown" if n is None else f"{n} record{'' if n == 1 else 's'}"
            text += f", dead-letter queue {self.dlq}: {count}"
        return text


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
    """Every connector on the worker with its task states and dead-letter count (`make status`)."""
    base = settings.kafka_connect_url.rstrip("/")
    params = {"expand": ["status", "info"]}
    resp = requests.get(f"{base}/connectors", params=params, timeout=10)
    resp.raise_for_status()
    states = []
    for _, v in sorted(resp.json().items()):
        if "status" not in v:
            continue
        config = v.get("info", {}).get("config", {})
        dlq = str(config.get("errors.deadletterqueue.topic.name", ""))
        states.append(replace(parse_status(v["status"]), dlq=dlq))
    counts = dead_letter_counts(settings, {s.dlq for s in states if s.dlq})
    return [replace(s, dead_lettered=counts.get(s.dlq)) if s.dlq else s for s in states]


def dead_letter_counts(settings: Settings, topics: set[str]) -> dict[str, int]:
    """Records in each dead-letter topic: the sum over its partitions of end minus start offset.

    The task counts what it sends there only in its log; the topic is what a user can check
    and what survives a restart. A topic Connect has not created yet holds 0; one Kafka does
    not answer for is left out (the caller shows "count unknown").
    """
    if not topics:
        return {}
    factory = clients_for(settings)
    try:
        metadata = factory.kafka_admin().list_topics(timeout=10)
    except Exception:  # a status line must not fail on a slow broker
        return {}
    consumer = factory.kafka_consumer("pipeline-status-dlq-count")
    counts: dict[str, int] = {}
    try:
        for topic in sorted(topics):
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                counts[topic] = 0
                continue
            total = 0
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                total += high - low
            counts[topic] = total
    except Exception:
        pass  # what was counted stands; the rest shows "count unknown"
    finally:
        consumer.close()
    return counts
