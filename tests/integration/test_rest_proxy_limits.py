"""The proxy's limits against the real broker (issue 12) and bad bodies over HTTP (13).

Records per request -> 422; internal topics -> 403 and nothing written; overload ->
429 with Retry-After, no 500s, bounded memory; the three inputs the S3 sink cannot land
-> 400/422 and nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from confluent_kafka import TopicPartition

from services.clients import clients_for
from services.rest_proxy.child import proxy_process, with_free_ports
from services.rest_proxy.overload import run as overload
from services.rest_proxy.records import MAX_JSON_DEPTH
from services.settings import Settings

pytestmark = pytest.mark.integration

JSON_V2 = "application/vnd.kafka.json.v2+json"
MAX_RECORDS = 50
INTERNAL = [
    "__consumer_offsets",
    "__transaction_state",
    "_connect-configs",
    "_connect-offsets",
    "_connect-status",
    "_schemas",
]


@pytest.fixture(scope="module")
def proxy(module_ns: Settings) -> Iterator[Settings]:
    settings = with_free_ports(module_ns).model_copy(
        update={"rest_proxy_max_records_per_request": MAX_RECORDS}
    )
    with proxy_process(settings):
        yield settings


def post(settings: Settings, topic: str, body: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return requests.post(
        f"{settings.rest_proxy_url}/topics/{topic}",
        data=data,
        headers={"Content-Type": JSON_V2},
        timeout=30,
    )


def error(response: requests.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code
    return str(body["message"])


def end_offsets(settings: Settings, topic: str) -> list[int]:
    """The high watermark of each partition (0 if the topic does not exist)."""
    consumer = clients_for(settings).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in sorted(meta.partitions)
        ]
    finally:
        consumer.close()


def test_records_per_request_above_the_cap_is_422(proxy: Settings) -> None:
    topic = proxy.topic("pin")
    before = end_offsets(proxy, topic)
    too_many = {"records": [{"value": {"i": i}} for i in range(MAX_RECORDS + 1)]}
    message = error(post(proxy, topic, too_many), 422, 422)
    assert "REST_PROXY_MAX_RECORDS_PER_REQUEST" in message and str(MAX_RECORDS) in message
    assert end_offsets(proxy, topic) == before
    at_cap = {"records": [{"value": {"i": i}} for i in range(MAX_RECORDS)]}
    response = post(proxy, topic, at_cap)
    assert response.status_code == 200, response.text
    assert len(response.json()["offsets"]) == MAX_RECORDS


def test_internal_topics_are_403_and_untouched(proxy: Settings) -> None:
    from confluent_kafka.admin import NewTopic

    for topic in INTERNAL:
        message = error(post(proxy, topic, {"records": [{"value": {"evil": 1}}]}), 403, 40301)
        assert f"Not authorized to access topics: [{topic}]" in message
    # Kafka's and Connect's topics move on their own; a `_` topic of this test's that
    # exists and is writable shows that the refusal writes nothing.
    mine = f"_{proxy.pipeline_user_id}.internal"
    admin = clients_for(proxy).kafka_admin()
    try:
        admin.create_topics([NewTopic(mine, 1, 1)])[mine].result(30)
        error(post(proxy, mine, {"records": [{"value": {"evil": 1}}]}), 403, 40301)
        assert end_offsets(proxy, mine) == [0]
    finally:
        admin.delete_topics([mine])[mine].result(30)
    # Binary format and the legacy port cannot reach them either.
    response = requests.post(
        f"{proxy.rest_proxy_url}/topics/__consumer_offsets",
        data=b'{"records": [{"value": "AA=="}]}',
        headers={"Content-Type": "application/vnd.kafka.binary.v2+json"},
        timeout=30,
    )
    error(response, 403, 40301)


@pytest.mark.parametrize(
    ("value", "status", "says"),
    [
        (b'{"title": "caf\xe9"}', 400, "UTF-8"),
        (b'{"follower_count": 1e400}', 422, "finite"),
        (b"[" * 2000 + b"]" * 2000, 422, "deeper than 1024"),
    ],
)
def test_values_the_sink_cannot_land_are_refused_over_http(
    proxy: Settings, value: bytes, status: int, says: str
) -> None:
    topic = proxy.topic("geo")
    before = end_offsets(proxy, topic)
    good = b'{"value": {"ok": true}}'
    body = b'{"records": [' + good + b', {"value": ' + value + b"}]}"
    message = error(post(proxy, topic, body), status, status)
    assert says in message and "records[1].value" in message
    # All or nothing: the good record before it was not written either.
    assert end_offsets(proxy, topic) == before


def test_a_null_value_is_refused_on_the_sinks_topics_and_a_tombstone_elsewhere(
    proxy: Settings,
) -> None:
    # Whatever the proxy acknowledges, the S3 sink lands: it cannot write a tombstone.
    topic = proxy.topic("user")
    before = end_offsets(proxy, topic)
    body = {"records": [{"value": {"ind": 1}}, {"value": None}]}
    message = error(post(proxy, topic, body), 422, 422)
    assert "records[1].value" in message and "tombstone and would not land in S3" in message
    assert end_offsets(proxy, topic) == before  # the good record was not written either
    # A topic the sink does not land keeps Confluent's behaviour: a tombstone.
    stream = proxy.streaming_topic("user")
    answer = post(proxy, stream, {"records": [{"key": "k", "value": None}]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["offsets"][0]["error_code"] is None


def test_the_deepest_allowed_value_is_acknowledged_by_the_running_proxy(proxy: Settings) -> None:
    # The depth limit needs recursion headroom, set by the proxy's entry point (not by an
    # import): a value exactly MAX_JSON_DEPTH deep is acknowledged, one level more is not.
    topic = proxy.topic("geo")
    deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    ok = post(proxy, topic, b'{"records": [{"value": ' + deep + b"}]}")
    assert ok.status_code == 200, ok.text[:300]
    assert ok.json()["offsets"][0]["error_code"] is None
    deeper = b"[" + deep + b"]"
    error(post(proxy, topic, b'{"records": [{"value": ' + deeper + b"}]}"), 422, 422)


def test_overload_is_answered_429_with_retry_after_and_bounded_memory(
    module_ns: Settings,
) -> None:
    figures = overload(
        module_ns,
        requests=3000,
        connections=64,
        records=100,
        max_inflight_requests=8,
        max_inflight_bytes=2 * 1024 * 1024,
        deadline_s=90,
    )
    summary = figures.summary()
    print(f"\noverload figures: {orjson.dumps(summary).decode()}")
    assert summary["offered"] == 3000
    answered = sum(figures.statuses.values())
    assert answered + figures.connection_errors == 3000
    assert figures.connection_errors == 0
    # Some got through, many were refused at once, every refusal said when to retry.
    assert figures.statuses[200] > 0
    assert summary["refused_429_or_503"] > 0
    assert figures.retry_after_on_refusals == summary["refused_429_or_503"]
    assert set(figures.statuses) <= {200, 429, 503}, figures.statuses
    # Bounded memory: 8 requests of ~40 KB in flight at most; 64 MiB is generous headroom
    # for the interpreter, librdkafka's buffers and the answers being written.
    assert figures.max_rss_mib - figures.baseline_rss_mib < 64, summary
