"""LANDING_SINK=connect: one connector per namespace, registered through Connect's REST API.

`make up` itself is not run with LANDING_SINK=connect here: it would take the Python sink out
of the shared stack. The test registers a fresh namespace's connector the way `make up` does
(services.stack.connectors.register) and reads it back as `make status` does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
import requests
from confluent_kafka import KafkaException
from tenacity import Retrying, stop_after_delay, wait_fixed

from services.clients import clients_for
from services.settings import Settings
from services.stack import connectors, lifecycle

pytestmark = pytest.mark.integration


@pytest.fixture
def connect_ns(ns: Settings) -> Iterator[Settings]:
    settings = ns.model_copy(update={"landing_sink": "connect"})
    name, _ = connectors.local_connector_config(settings)
    base = settings.kafka_connect_url.rstrip("/")
    try:
        yield settings
    finally:
        requests.delete(f"{base}/connectors/{name}", timeout=30)
        admin = clients_for(settings).kafka_admin()
        group = f"connect-{name}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            existing = {g.group_id for g in admin.list_consumer_groups().result().valid}
            if group not in existing:
                break
            # Its members may still be leaving: the next round tries again.
            with contextlib.suppress(KafkaException):
                admin.delete_consumer_groups([group])[group].result(10)
            time.sleep(0.5)
        # Connect creates the dead-letter topic when a task starts.
        dlq = f"dlq-{settings.pipeline_user_id}"
        if dlq in admin.list_topics(timeout=10).topics:
            admin.delete_topics([dlq])[dlq].result(30)


def test_register_is_idempotent_runs_and_shows_in_status(connect_ns: Settings) -> None:
    name = connectors.register(connect_ns)
    assert connectors.register(connect_ns) == name  # a second PUT updates in place
    base = connect_ns.kafka_connect_url.rstrip("/")
    assert requests.get(f"{base}/connectors", timeout=10).json().count(name) == 1
    stored = requests.get(f"{base}/connectors/{name}/config", timeout=10).json()
    _, expected = connectors.local_connector_config(connect_ns)
    assert stored == {**expected, "name": name}
    # The second PUT restarts the connector, and other connectors coming and going rebalance
    # the worker's group: the state may read UNASSIGNED for a moment before RUNNING again.
    dlq = f"dlq-{connect_ns.pipeline_user_id}"
    expected_detail = f"connector RUNNING, tasks 0:RUNNING, dead-letter queue {dlq}: 0 records"
    row = None
    for attempt in Retrying(stop=stop_after_delay(60), wait=wait_fixed(1), reraise=True):
        with attempt:
            state = connectors.connector_state(connect_ns, name)
            assert state.running, state.summary()
            rows = {r.name: r for r in lifecycle.status(connect_ns)}
            assert "s3-sink" not in rows  # with LANDING_SINK=connect the Python sink is no service
            row = rows[f"connector {name}"]
            assert row.up and row.detail == expected_detail, row.detail
    assert row is not None and row.detail == expected_detail
