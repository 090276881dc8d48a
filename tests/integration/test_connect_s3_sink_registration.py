"""One S3 sink connector per namespace, registered through Connect's REST API.

Every namespace made through `lifecycle.ensure_namespace` (`make up`, the demo, the tests'
fresh namespaces) gets its connector `<id>-s3-sink`; `bootstrap.drop_namespace` deletes it
with its consumer group and dead-letter topic. `make status` reads it back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from tenacity import Retrying, stop_after_delay, wait_fixed

from services.clients import clients_for
from services.settings import PROJECT_ROOT, Settings
from services.stack import connectors, lifecycle
from tests.support.namespaces import drop_namespace
from tests.support.stack_state import SESSION

pytestmark = pytest.mark.integration


def config_records(settings: Settings, name: str) -> int:
    """How many configs of `name` Connect has stored in its config topic (one per PUT)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{settings.pipeline_user_id}-configs-reader",
            "enable.auto.commit": False,
        }
    )
    topic, count, position = "_connect-configs", 0, 0
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        while position < high:
            msg = consumer.poll(5)
            assert msg is not None, f"{topic} stopped at {position} of {high}"
            assert msg.error() is None, msg.error()
            position = msg.offset() + 1
            count += (msg.key() or b"").decode() == f"connector-{name}"
    finally:
        consumer.close()
    return count


def test_a_namespace_gets_its_connector_running_and_a_second_ensure_leaves_it(
    ns: Settings,
) -> None:
    name, expected = connectors.local_connector_config(ns)
    base = ns.kafka_connect_url.rstrip("/")
    assert name == f"{ns.pipeline_user_id}-s3-sink"
    assert requests.get(f"{base}/connectors", timeout=10).json().count(name) == 1
    stored = requests.get(f"{base}/connectors/{name}/config", timeout=10).json()
    assert stored == {**expected, "name": name}
    puts = config_records(ns, name)
    assert puts >= 1
    # Idempotent without a PUT: a PUT, even of the same config, would restart the tasks.
    lifecycle.ensure_namespace(ns)
    assert connectors.ensure(ns) == name
    assert config_records(ns, name) == puts
    # A changed setting is a changed config: that one is PUT (and the tasks restart).
    faster = ns.model_copy(update={"sink_flush_seconds": 1.0})
    connectors.ensure(faster)
    assert config_records(ns, name) == puts + 1
    stored = requests.get(f"{base}/connectors/{name}/config", timeout=10).json()
    assert stored["rotate.schedule.interval.ms"] == "1000"


def test_status_shows_the_connector_and_its_tasks_and_no_python_sink(ns: Settings) -> None:
    name, _ = connectors.local_connector_config(ns)
    dlq = f"dlq-{ns.pipeline_user_id}"
    expected_detail = f"connector RUNNING, tasks 0:RUNNING, dead-letter queue {dlq}: 0 records"
    # Other connectors coming and going rebalance the worker's group: the state may read
    # UNASSIGNED for a moment before RUNNING again.
    row = None
    for attempt in Retrying(stop=stop_after_delay(60), wait=wait_fixed(1), reraise=True):
        with attempt:
            rows = {r.name: r for r in lifecycle.status(ns)}
            assert "s3-sink" not in rows  # the retired Python sink is no service
            row = rows[f"connector {name}"]
            assert row.up and row.detail == expected_detail, row.detail
    assert row is not None and row.detail == expected_detail


def test_drop_namespace_deletes_the_connector_its_group_and_dead_letter_topic(
    ns: Settings,
) -> None:
    name, _ = connectors.local_connector_config(ns)
    base = ns.kafka_connect_url.rstrip("/")
    admin = clients_for(ns).kafka_admin()
    assert requests.get(f"{base}/connectors/{name}", timeout=10).status_code == 200
    drop_namespace(ns)
    assert requests.get(f"{base}/connectors/{name}", timeout=10).status_code == 404
    groups = {g.group_id for g in admin.list_consumer_groups().result().valid}
    assert f"connect-{name}" not in groups
    assert f"dlq-{ns.pipeline_user_id}" not in admin.list_topics(timeout=10).topics


def test_make_up_with_another_user_id_adds_its_connector_beside_the_others(
    stack: Settings,
) -> None:
    other = stack.model_copy(update={"pipeline_user_id": f"t{uuid.uuid4().hex[:10]}"})
    SESSION.user_ids.add(other.pipeline_user_id)
    own, _ = connectors.local_connector_config(stack)
    name, _ = connectors.local_connector_config(other)
    try:
        up = subprocess.run(
            [sys.executable, "-m", "services.stack", "up"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PIPELINE_USER_ID": other.pipeline_user_id},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        assert f"connector   {name} RUNNING" in up.stdout, up.stdout[-2000:]
        states = {s.name: s for s in connectors.all_states(stack)}
        assert states[name].running, states[name].summary()
        # Beside, not instead: the stack's own namespace keeps its connector.
        assert own in states, sorted(states)
    finally:
        drop_namespace(other)
    assert name not in {s.name for s in connectors.all_states(stack)}
