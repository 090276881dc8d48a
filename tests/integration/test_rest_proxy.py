"""The REST proxy against the real broker: every status code and body of the issue.

One proxy process per module, on free ports, for a fresh namespace; a second one pointed
at a port where no broker listens proves the bounded 503.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from openapi_spec_validator import validate

from services.clients import clients_for
from services.rest_proxy.child import proxy_process, with_free_ports
from services.runner.child import free_port
from services.settings import Settings

pytestmark = pytest.mark.integration

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
V2 = "application/vnd.kafka.v2+json"
BODY_LIMIT = 64 * 1024
IDLE_S = 3.0


@pytest.fixture(scope="module")
def proxy(module_ns: Settings) -> Iterator[Settings]:
    settings = with_free_ports(module_ns).model_copy(
        update={"rest_proxy_max_body_bytes": BODY_LIMIT, "rest_proxy_consumer_idle_s": IDLE_S}
    )
    with proxy_process(settings):
        yield settings


def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record of partition 0, from the beginning to the current end."""
    consumer = clients_for(settings).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out: list[Any] = []
        deadline = time.monotonic() + 20
        while len(out) < high and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                assert msg.error() is None, msg.error()
                out.append((msg.key(), msg.value(), msg.offset()))
        return out
    finally:
        consumer.close()


def post(settings: Settings, path: str, body: Any, ctype: str = JSON_V2) -> requests.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return requests.post(
        f"{settings.rest_proxy_url}{path}", data=data, headers={"Content-Type": ctype}, timeout=30
    )


def error(response: requests.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


# --- produce ---------------------------------------------------------------------------


def test_produce_json_acknowledges_each_record_in_order(proxy: Settings) -> None:
    topic = proxy.topic("pin")
    records = [{"value": {"index": i, "follower_count": "51k"}} for i in range(5)]
    records[1]["key"] = {"k": 1}
    response = post(proxy, f"/topics/{topic}", {"records": records})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(V2)
    body = response.json()
    assert body["key_schema_id"] is None and body["value_schema_id"] is None
    offsets = body["offsets"]
    assert [set(o) for o in offsets] == [{"partition", "offset", "error_code", "error"}] * 5
    assert [(o["error_code"], o["error"], o["partition"]) for o in offsets] == [(None, None, 0)] * 5
    first = offsets[0]["offset"]
    assert [o["offset"] for o in offsets] == list(range(first, first + 5))
    stored = {off: (k, v) for k, v, off in read_topic(proxy, topic)}
    for i, o in enumerate(offsets):
        key, value = stored[o["offset"]]
        assert orjson.loads(value) == {"index": i, "follower_count": "51k"}
        assert key == (b'{"k":1}' if i == 1 else None)


def test_produce_binary_decodes_base64(proxy: Settings) -> None:
    topic = proxy.topic("geo")
    record = {
        "key": base64.b64encode(b"k\x00").decode(),
        "value": base64.b64encode(b"\xffraw").decode(),
    }
    response = post(proxy, f"/topics/{topic}", {"records": [record]}, BINARY_V2)
    assert response.status_code == 200, response.text
    (entry,) = response.json()["offsets"]
    stored = {off: (k, v) for k, v, off in read_topic(proxy, topic)}
    assert stored[entry["offset"]] == (b"k\x00", b"\xffraw")


def test_unknown_topic_is_404_at_once_and_not_created(proxy: Settings) -> None:
    missing = f"{proxy.pipeline_user_id}.missing"
    started = time.monotonic()
    response = post(proxy, f"/topics/{missing}", {"records": [{"value": 1}]})
    assert time.monotonic() - started < 3
    assert error(response, 404, 40401) == "Topic not found."
    topics = requests.get(f"{proxy.rest_proxy_url}/topics", timeout=10).json()
    assert missing not in topics


def test_unknown_partition_is_40402(proxy: Settings) -> None:
    response = post(
        proxy, f"/topics/{proxy.topic('pin')}", {"records": [{"value": 1, "partition": 7}]}
    )
    error(response, 404, 40402)


def test_bad_requests(proxy: Settings) -> None:
    path = f"/topics/{proxy.topic('pin')}"
    error(post(proxy, path, {"records": [{"value": 1}]}, "text/plain"), 415, 415)
    error(post(proxy, path, {"records": [{"value": 1}]}, "application/json"), 415, 415)
    error(post(proxy, path, b'{"records": [{"value": '), 400, 400)
    error(post(proxy, path, {"value": 1}), 422, 422)
    error(post(proxy, path, {"records": []}), 422, 422)
    error(post(proxy, path, {"records": ["x"]}), 422, 422)
    error(post(proxy, path, {"records": [{"value": 1, "partition": "0"}]}), 422, 422)
    big = {"records": [{"value": "x" * BODY_LIMIT}]}
    assert "REST_PROXY_MAX_BODY_BYTES" in error(post(proxy, path, big), 413, 413)
    # Chunked (no Content-Length): the limit holds while reading.
    chunks = iter([orjson.dumps(big)])
    response = requests.post(
        f"{proxy.rest_proxy_url}{path}", data=chunks, headers={"Content-Type": JSON_V2}, timeout=30
    )
    error(response, 413, 413)
    # None of those wrote anything.
    assert all(
        orjson.loads(v) != "x" * BODY_LIMIT for _k, v, _o in read_topic(proxy, proxy.topic("pin"))
    )


def test_unknown_route_and_method_are_json(proxy: Settings) -> None:
    error(requests.get(f"{proxy.rest_proxy_url}/nowhere", timeout=10), 404, 404)
    error(requests.delete(f"{proxy.rest_proxy_url}/topics", timeout=10), 405, 405)


# --- metadata --------------------------------------------------------------------------


def test_list_topics_hides_internal_topics(proxy: Settings) -> None:
    response = requests.get(f"{proxy.rest_proxy_url}/topics", timeout=10)
    assert response.status_code == 200
    topics = response.json()
    assert set(proxy.topics) <= set(topics)
    assert set(proxy.streaming_topics) <= set(topics)
    assert not [t for t in topics if t.startswith("_")]
    assert topics == sorted(topics)


def test_get_topic_describes_configs_and_partitions(proxy: Settings) -> None:
    topic = proxy.topic("user")
    response = requests.get(f"{proxy.rest_proxy_url}/topics/{topic}", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"name", "configs", "partitions"}
    assert body["name"] == topic
    assert body["configs"]["cleanup.policy"] == "delete"
    assert len(body["partitions"]) == proxy.kafka_topic_partitions
    part = body["partitions"][0]
    assert set(part) == {"partition", "leader", "replicas"}
    assert part["partition"] == 0
    assert part["replicas"] == [{"broker": part["leader"], "leader": True, "in_sync": True}]
    missing = requests.get(f"{proxy.rest_proxy_url}/topics/{topic}.nope", timeout=10)
    assert error(missing, 404, 40401) == "Topic not found."


def test_root_health_and_openapi(proxy: Settings) -> None:
    assert requests.get(f"{proxy.rest_proxy_url}/", timeout=10).json() == {}
    assert requests.get(f"{proxy.rest_proxy_url}/health", timeout=10).json()["status"] == "ok"
    for base, path in [(proxy.rest_proxy_url, "/topics/{topic}"), (proxy.legacy_api_url, "/pin/")]:
        spec = requests.get(f"{base}/openapi.json", timeout=10).json()
        validate(spec)
        assert path in spec["paths"]
        assert spec["servers"][0]["url"] == base


# --- consumers -------------------------------------------------------------------------


def _fetch_until(url: str, want: int, accept: str = JSON_V2) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        response = requests.get(
            f"{url}/records?timeout=1000", headers={"Accept": accept}, timeout=10
        )
        assert response.status_code == 200, response.text
        got.extend(response.json())
    return got


def test_consumer_lifecycle(proxy: Settings) -> None:
    topic = proxy.streaming_topic("pin")
    group = f"g-{uuid.uuid4().hex[:8]}"
    body = {"name": "c1", "format": "json", "auto.offset.reset": "earliest"}
    created = post(proxy, f"/consumers/{group}", body, V2)
    assert created.status_code == 200, created.text
    instance = created.json()
    assert instance == {
        "instance_id": "c1",
        "base_uri": f"{proxy.rest_proxy_url}/consumers/{group}/instances/c1",
    }
    error(post(proxy, f"/consumers/{group}", body, V2), 409, 40902)
    error(post(proxy, f"/consumers/{group}", {"name": "c2", "format": "avro"}, V2), 422, 42204)
    base = instance["base_uri"]
    sub = requests.post(
        f"{base}/subscription",
        data=orjson.dumps({"topics": [topic]}),
        headers={"Content-Type": V2},
        timeout=10,
    )
    assert sub.status_code == 204 and sub.content == b""
    assert requests.get(f"{base}/subscription", timeout=10).json() == {"topics": [topic]}
    values = [{"index": i, "country": "Chad"} for i in range(3)]
    assert (
        post(proxy, f"/topics/{topic}", {"records": [{"value": v} for v in values]}).status_code
        == 200
    )
    records = _fetch_until(base, 3)
    assert [r["value"] for r in records] == values
    assert [set(r) for r in records] == [{"topic", "key", "value", "partition", "offset"}] * 3
    assert [r["offset"] for r in records] == [0, 1, 2]
    assert {r["topic"] for r in records} == {topic}
    mismatch = requests.get(f"{base}/records", headers={"Accept": BINARY_V2}, timeout=10)
    error(mismatch, 406, 40601)
    commit = requests.post(f"{base}/offsets", timeout=10)
    assert commit.status_code == 200
    gone = requests.delete(base, timeout=10)
    assert gone.status_code == 204
    error(requests.delete(base, timeout=10), 404, 40403)
    error(requests.get(f"{base}/records", headers={"Accept": JSON_V2}, timeout=10), 404, 40403)


def test_idle_consumers_expire(proxy: Settings) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    created = post(proxy, f"/consumers/{group}", {"name": "idle", "format": "binary"}, V2)
    assert created.status_code == 200, created.text
    health = f"{proxy.rest_proxy_url}/health"
    before = requests.get(health, timeout=10).json()["consumer_instances"]
    assert before >= 1
    deadline = time.monotonic() + IDLE_S + 10
    while requests.get(health, timeout=10).json()["consumer_instances"] >= before:
        assert time.monotonic() < deadline, "the idle consumer instance was never expired"
        time.sleep(0.2)
    base = created.json()["base_uri"]
    error(requests.get(f"{base}/subscription", timeout=10), 404, 40403)


# --- legacy API (port 8000) ------------------------------------------------------------


def test_legacy_posts_one_event_per_table(proxy: Settings) -> None:
    for table in ("pin", "geo", "user"):
        event = {"ind": 42, "table": table}
        response = requests.post(f"{proxy.legacy_api_url}/{table}/", json=event, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["topic"] == proxy.topic(table)
        stored = {off: v for _k, v, off in read_topic(proxy, proxy.topic(table))}
        assert orjson.loads(stored[body["offset"]]) == event


def test_legacy_bad_requests(proxy: Settings) -> None:
    base = proxy.legacy_api_url
    error(
        requests.post(
            f"{base}/pin/", data=b"{}", headers={"Content-Type": "text/plain"}, timeout=10
        ),
        415,
        415,
    )
    error(
        requests.post(
            f"{base}/pin/", data=b"{oops", headers={"Content-Type": "application/json"}, timeout=10
        ),
        400,
        400,
    )
    error(requests.post(f"{base}/pin/", json=[1], timeout=10), 422, 422)
    error(requests.post(f"{base}/comments/", json={"a": 1}, timeout=10), 404, 404)
    # The legacy port does not speak v2, and v2 does not speak legacy.
    error(post(proxy, "/pin/", {"a": 1}, "application/json"), 404, 404)
    legacy_v2 = requests.post(
        f"{base}/topics/{proxy.topic('pin')}", json={"records": []}, timeout=10
    )
    assert legacy_v2.status_code == 404


# --- broker down -----------------------------------------------------------------------


def test_broker_unavailable_is_503_within_bounds(module_ns: Settings) -> None:
    dead = with_free_ports(module_ns).model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "rest_proxy_produce_timeout_s": 2.0,
        }
    )
    with proxy_process(dead):
        started = time.monotonic()
        response = post(dead, f"/topics/{dead.topic('pin')}", {"records": [{"value": 1}]})
        elapsed = time.monotonic() - started
        assert "unavailable" in error(response, 503, 50003)
        assert elapsed < 8, f"503 took {elapsed:.1f} s"
        error(requests.get(f"{dead.rest_proxy_url}/topics", timeout=30), 503, 50003)
        legacy = requests.post(f"{dead.legacy_api_url}/pin/", json={"a": 1}, timeout=30)
        error(legacy, 503, 50003)


# --- several partitions ------------------------------------------------------------------


def test_partitions_match_the_java_client(proxy: Settings) -> None:
    """Keyed records land where librdkafka's murmur2 (= Java's default) puts them; an
    explicit partition is honoured; per-record offsets match the log. The topic is created
    after the proxy started, so this also covers the metadata refresh on a cache miss."""
    from confluent_kafka.admin import NewTopic

    topic, mirror = f"{proxy.pipeline_user_id}.multi", f"{proxy.pipeline_user_id}.mirror"
    admin = clients_for(proxy).kafka_admin()
    for future in admin.create_topics([NewTopic(t, 4, 1) for t in (topic, mirror)]).values():
        future.result(30)
    try:
        _check_partitions(proxy, topic, mirror)
    finally:  # not namespace topics (<id>.pin|geo|user): dropping the namespace misses them
        for future in admin.delete_topics([topic, mirror]).values():
            future.result(30)


def _check_partitions(proxy: Settings, topic: str, mirror: str) -> None:
    keys = [f"user-{i}" for i in range(40)]
    records: list[dict[str, Any]] = [{"key": k, "value": {"i": i}} for i, k in enumerate(keys)]
    records.append({"value": {"explicit": True}, "partition": 3})
    response = post(proxy, f"/topics/{topic}", {"records": records})
    assert response.status_code == 200, response.text
    offsets = response.json()["offsets"]
    assert all(o["error_code"] is None for o in offsets)
    assert offsets[-1]["partition"] == 3

    reference = clients_for(proxy).kafka_producer(partitioner="murmur2_random")
    expected: dict[str, int] = {}
    for k in keys:
        reference.produce(
            mirror,
            b"x",
            orjson.dumps(k),
            on_delivery=lambda e, m: expected.setdefault(m.key().decode(), m.partition()),
        )
    reference.flush(30)
    assert [o["partition"] for o in offsets[:-1]] == [
        expected[orjson.dumps(k).decode()] for k in keys
    ]
    assert len({o["partition"] for o in offsets}) > 1

    consumer = clients_for(proxy).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(4)])
        stored: dict[tuple[int, int], Any] = {}
        deadline = time.monotonic() + 20
        while len(stored) < len(records) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                stored[(msg.partition(), msg.offset())] = orjson.loads(msg.value())
    finally:
        consumer.close()
    for record, o in zip(records, offsets, strict=True):
        assert stored[(o["partition"], o["offset"])] == record["value"]
