"""The consumer buffer's rules (issue 13, path 1) without a broker: what a poll returns,
what stays for the next one, and what may be committed."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.rest_proxy.consumers import ConsumerInstance, ConsumerRegistry
from services.rest_proxy.errors import ProxyError

pytestmark = pytest.mark.unit


class FakeMessage:
    def __init__(self, offset: int, value: bytes | None, partition: int = 0) -> None:
        self._offset, self._value, self._partition = offset, value, partition

    def topic(self) -> str:
        return "t.pin"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return self._value


def _instance(fmt: str, values: list[bytes | None]) -> ConsumerInstance:
    instance = ConsumerInstance(group="g", name="c", format=fmt, consumer=None)
    instance.buffer.extend(FakeMessage(i, v) for i, v in enumerate(values))
    return instance


def _take(instance: ConsumerInstance, max_bytes: int | None = None) -> list[dict[str, Any]]:
    registry = ConsumerRegistry(clients=None, idle_s=60)  # type: ignore[arg-type]
    return registry._take(instance, max_bytes)


def test_max_bytes_cut_leaves_the_rest_buffered_and_uncommittable() -> None:
    instance = _instance("json", [b'{"a":1}'] * 5)  # 7 bytes each
    assert [r["offset"] for r in _take(instance, max_bytes=15)] == [0, 1]
    assert len(instance.buffer) == 3
    assert instance.returned == {("t.pin", 0): 2}
    assert [r["offset"] for r in _take(instance, max_bytes=15)] == [2, 3]
    assert [r["offset"] for r in _take(instance, max_bytes=15)] == [4]
    assert _take(instance, max_bytes=15) == [] and instance.returned == {("t.pin", 0): 5}


def test_one_record_larger_than_max_bytes_is_still_returned() -> None:
    instance = _instance("json", [b'"' + b"x" * 100 + b'"', b"1"])
    assert [r["offset"] for r in _take(instance, max_bytes=10)] == [0]
    assert [r["offset"] for r in _take(instance, max_bytes=10)] == [1]


def test_undecodable_record_comes_after_the_good_ones_and_stays_put() -> None:
    instance = _instance("json", [b"1", b"2", b"\xffnope", b"4"])
    assert [r["value"] for r in _take(instance)] == [1, 2]
    for _ in range(2):
        with pytest.raises(ProxyError) as info:
            _take(instance)
        assert info.value.status == 422
        assert "topic t.pin partition 0 offset 2" in info.value.message
        assert '"offset":3' in info.value.message and "format=binary" in info.value.message
    assert [m.offset() for m in instance.buffer] == [2, 3]
    assert instance.returned == {("t.pin", 0): 2}
    instance.forget({("t.pin", 0)})  # what a seek does before librdkafka refetches
    assert not instance.buffer


def test_binary_format_returns_any_bytes_and_null_stays_null() -> None:
    instance = _instance("binary", [b"\xff\x00", None])
    got = _take(instance)
    assert [r["value"] for r in got] == [base64.b64encode(b"\xff\x00").decode(), None]


class _Factory:
    """Records the configuration of every consumer the registry asks for."""

    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []

    def kafka_consumer(self, group: str, **overrides: Any) -> Any:
        self.configs.append({"group.id": group, **overrides})
        return object()


def test_consumer_instances_are_capped_with_429_and_their_prefetch_is_bounded() -> None:
    import asyncio

    from services.rest_proxy.errors import ProxyError

    factory = _Factory()
    registry = ConsumerRegistry(clients=factory, idle_s=60, max_instances=2)  # type: ignore[arg-type]

    async def scenario() -> ProxyError:
        await registry.create("g", {"name": "a"})
        await registry.create("g", {"name": "b"})
        try:
            await registry.create("g", {"name": "c"})
        except ProxyError as exc:
            return exc
        raise AssertionError("a third instance was created above the limit of 2")

    refused = asyncio.run(scenario())
    assert refused.status == 429 and "REST_PROXY_MAX_CONSUMERS=2" in refused.message
    assert len(registry) == 2 and len(factory.configs) == 2
    assert all(c["queued.max.messages.kbytes"] <= 4096 for c in factory.configs)
