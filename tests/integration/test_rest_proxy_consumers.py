"""The v2 consumer API loses nothing (issue 13, path 1), against the real broker.

A poison record: the good records before it, then an error naming it, then a seek past
it. A `max_bytes` cut: every record over successive polls. Auto-commit off: only an
explicit commit moves the group, and a new instance starts after it.
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

from services.rest_proxy.child import proxy_process, with_free_ports
from services.settings import Settings

pytestmark = pytest.mark.integration

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
V2 = "application/vnd.kafka.v2+json"


@pytest.fixture(scope="module")
def proxy(module_ns: Settings) -> Iterator[Settings]:
    settings = with_free_ports(module_ns)
    with proxy_process(settings):
        yield settings


def call(method: str, url: str, body: Any = None, accept: str | None = None) -> requests.Response:
    headers = {"Content-Type": V2}
    if accept:
        headers["Accept"] = accept
    data = None if body is None else orjson.dumps(body)
    return requests.request(method, url, data=data, headers=headers, timeout=30)


def produce(settings: Settings, topic: str, values: list[Any], fmt: str = JSON_V2) -> list[int]:
    response = requests.post(
        f"{settings.rest_proxy_url}/topics/{topic}",
        data=orjson.dumps({"records": [{"value": v} for v in values]}),
        headers={"Content-Type": fmt},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [o["offset"] for o in response.json()["offsets"]]


def consumer(settings: Settings, group: str, topic: str, **config: str) -> str:
    body = {"format": "json", "auto.offset.reset": "earliest", **config}
    created = call("POST", f"{settings.rest_proxy_url}/consumers/{group}", body)
    assert created.status_code == 200, created.text
    base = str(created.json()["base_uri"])
    sub = call("POST", f"{base}/subscription", {"topics": [topic]})
    assert sub.status_code == 204, sub.text
    return base


def poll(base: str, max_bytes: int | None = None) -> requests.Response:
    query = "timeout=1000" + (f"&max_bytes={max_bytes}" if max_bytes is not None else "")
    return call("GET", f"{base}/records?{query}", accept=JSON_V2)


def poll_until(base: str, want: int, max_bytes: int | None = None) -> list[list[dict[str, Any]]]:
    """Successive non-empty answers until `want` records came (or 30 s passed)."""
    answers: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + 30
    while sum(map(len, answers)) < want and time.monotonic() < deadline:
        response = poll(base, max_bytes)
        assert response.status_code == 200, response.text
        if response.json():
            answers.append(response.json())
    return answers


def test_poison_record_returns_the_good_ones_then_names_it_then_seek_past(
    proxy: Settings,
) -> None:
    topic = proxy.topic("pin")
    good = [{"index": i} for i in range(3)]
    first = produce(proxy, topic, good)
    (poison,) = produce(proxy, topic, [base64.b64encode(b"\xff\x00not json").decode()], BINARY_V2)
    after = produce(proxy, topic, [{"index": 10}, {"index": 11}])
    assert poison == first[-1] + 1
    group = f"g-{uuid.uuid4().hex[:8]}"
    base = consumer(proxy, group, topic, **{"auto.commit.enable": "false"})

    records = [r for answer in poll_until(base, 3) for r in answer]
    assert [r["value"] for r in records] == good
    assert [r["offset"] for r in records] == first

    for _ in range(2):  # the error stays: the position does not move past the record
        response = poll(base)
        assert response.status_code == 422, response.text
        message = response.json()["message"]
        assert f"topic {topic} partition 0 offset {poison}" in message
        assert "format=binary" in message and "/positions" in message

    # Nothing returned past the poison can be committed.
    too_far = call(
        "POST", f"{base}/offsets", {"offsets": [{"topic": topic, "partition": 0, "offset": poison}]}
    )
    assert too_far.status_code == 422, too_far.text

    seek = call(
        "POST",
        f"{base}/positions",
        {"offsets": [{"topic": topic, "partition": 0, "offset": poison + 1}]},
    )
    assert seek.status_code == 204, seek.text
    rest = [r for answer in poll_until(base, 2) for r in answer]
    assert [(r["offset"], r["value"]) for r in rest] == list(
        zip(after, [{"index": 10}, {"index": 11}], strict=True)
    )

    # A binary consumer of another group reads the poison record as it is.
    other = consumer(proxy, f"g-{uuid.uuid4().hex[:8]}", topic, format="binary")
    raw: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(raw) < poison + 1 and time.monotonic() < deadline:
        response = call("GET", f"{other}/records?timeout=1000", accept=BINARY_V2)
        assert response.status_code == 200, response.text
        raw.extend(response.json())
    assert base64.b64decode(raw[poison]["value"]) == b"\xff\x00not json"
    for url in (base, other):
        assert call("DELETE", url).status_code == 204


def test_max_bytes_cut_returns_every_record_over_successive_polls(proxy: Settings) -> None:
    topic = proxy.topic("geo")
    values = [{"ind": i, "country": "Chad" * 10} for i in range(60)]
    offsets = produce(proxy, topic, values)
    one = len(orjson.dumps(values[0]))
    base = consumer(proxy, f"g-{uuid.uuid4().hex[:8]}", topic)
    answers = poll_until(base, len(values), max_bytes=3 * one)
    got = [r for answer in answers for r in answer]
    # Every record exactly once, in order, although one fetch from Kafka held them all.
    assert [r["offset"] for r in got] == offsets
    assert [r["value"] for r in got] == values
    assert len(answers) >= len(values) // 3
    assert all(sum(len(orjson.dumps(r["value"])) for r in a) <= 3 * one for a in answers)
    assert call("DELETE", base).status_code == 204


def test_auto_commit_off_explicit_commit_and_a_new_instance_starts_after_it(
    proxy: Settings,
) -> None:
    topic = proxy.topic("user")
    offsets = produce(proxy, topic, [{"ind": i} for i in range(10)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}

    first = consumer(proxy, group, topic, name="a", **{"auto.commit.enable": "false"})
    got = [r for answer in poll_until(first, 10) for r in answer]
    assert [r["offset"] for r in got] == offsets
    assignments = call("GET", f"{first}/assignments")
    assert assignments.json() == partitions

    # Nothing committed by reading (auto-commit off), even after a while.
    committed = call("GET", f"{first}/offsets", partitions)
    assert committed.status_code == 200, committed.text
    assert committed.json()["offsets"][0]["offset"] == -1

    # Commit up to the 5th record read (offset 4): Kafka stores the next one, 5.
    commit = {"offsets": [{"topic": topic, "partition": 0, "offset": offsets[4]}]}
    assert call("POST", f"{first}/offsets", commit).status_code == 200
    assert call("GET", f"{first}/offsets", partitions).json()["offsets"][0]["offset"] == offsets[5]

    # Seeking back and to the end moves the position, not the commit.
    assert call("POST", f"{first}/positions/beginning", partitions).status_code == 204
    again = [r for answer in poll_until(first, 1) for r in answer]
    assert again[0]["offset"] == offsets[0]
    assert call("POST", f"{first}/positions/end", partitions).status_code == 204
    assert poll(first).json() == []
    assert call("DELETE", first).status_code == 204  # closing commits nothing either

    second = consumer(proxy, group, topic, name="b", **{"auto.commit.enable": "false"})
    rest = [r for answer in poll_until(second, 5) for r in answer]
    assert [r["offset"] for r in rest] == offsets[5:]
    # An empty body commits what this instance returned: up to the last record.
    assert call("POST", f"{second}/offsets").status_code == 200
    final = call("GET", f"{second}/offsets", partitions).json()["offsets"][0]
    assert final["offset"] == offsets[-1] + 1
    assert call("DELETE", second).status_code == 204


def test_consumer_api_bad_bodies_are_422(proxy: Settings) -> None:
    topic = proxy.topic("pin")
    base = consumer(proxy, f"g-{uuid.uuid4().hex[:8]}", topic)
    for path, body in [
        ("positions", {"offsets": [{"topic": topic, "partition": 0}]}),
        ("positions", {}),
        ("positions/beginning", {"partitions": [{"topic": topic, "partition": -1}]}),
        ("offsets", {"offsets": "all"}),
    ]:
        response = call("POST", f"{base}/{path}", body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["message"]
    # Seeking a partition the group has not assigned to this instance says what to do.
    response = call(
        "POST", f"{base}/positions", {"offsets": [{"topic": "nope", "partition": 0, "offset": 0}]}
    )
    assert response.status_code == 409 and "poll" in response.json()["message"]
    bad = call("POST", f"{proxy.rest_proxy_url}/consumers/g", {"auto.commit.enable": "maybe"})
    assert bad.status_code == 422
    assert call("DELETE", base).status_code == 204


def test_consumer_instances_above_the_limit_get_429_with_retry_after(module_ns: Settings) -> None:
    settings = with_free_ports(module_ns).model_copy(update={"rest_proxy_max_consumers": 2})
    with proxy_process(settings):
        base = f"{settings.rest_proxy_url}/consumers/cap-{uuid.uuid4().hex[:8]}"
        made = [call("POST", base, {"name": f"c{i}", "format": "json"}) for i in range(2)]
        assert [m.status_code for m in made] == [200, 200], [m.text for m in made]
        refused = call("POST", base, {"name": "c2", "format": "json"})
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == str(settings.rest_proxy_retry_after_s)
        assert "REST_PROXY_MAX_CONSUMERS" in refused.json()["message"]
        # Deleting one makes room again.
        assert call("DELETE", f"{made[0].json()['base_uri']}").status_code == 204
        again = call("POST", base, {"name": "c2", "format": "json"})
        assert again.status_code == 200, again.text
        for name in ("c1", "c2"):
            call("DELETE", f"{base}/instances/{name}")


def test_subscribing_to_internal_topics_is_403_and_nothing_is_read(proxy: Settings) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    created = call(
        "POST",
        f"{proxy.rest_proxy_url}/consumers/{group}",
        {"format": "binary", "auto.offset.reset": "earliest"},
    )
    assert created.status_code == 200, created.text
    base = str(created.json()["base_uri"])
    try:
        for topics in (["_connect-configs"], [proxy.topic("pin"), "__consumer_offsets"]):
            refused = call("POST", f"{base}/subscription", {"topics": topics})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error_code"] == 40301
            assert "Not authorized to access topics" in refused.json()["message"]
        # A regex (librdkafka reads '^...' as one) could reach them too: refused.
        regex = call("POST", f"{base}/subscription", {"topics": ["^_connect.*"]})
        assert regex.status_code == 422, regex.text
        assert call("GET", f"{base}/subscription").json() == {"topics": []}
        polled = call("GET", f"{base}/records?timeout=500", accept=BINARY_V2)
        assert polled.status_code == 200 and polled.json() == []
    finally:
        call("DELETE", base)
