"""Partition choice: Kafka's murmur2 (Java client vectors), explicit and sticky partitions."""

from __future__ import annotations

import pytest

from services.rest_proxy.partitioner import assign, key_partition, murmur2

pytestmark = pytest.mark.unit


def _signed(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # The vectors of Kafka's own UtilsTest.testMurmur2.
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_client(key: str, expected: int) -> None:
    assert _signed(murmur2(key.encode())) == expected


def test_key_partition_is_stable_and_in_range() -> None:
    parts = [key_partition(f"k{i}".encode(), 6) for i in range(200)]
    assert all(0 <= p < 6 for p in parts)
    assert len(set(parts)) == 6
    assert parts == [key_partition(f"k{i}".encode(), 6) for i in range(200)]


def test_assign() -> None:
    assert assign([b"a", None], [None, None], 1) == [0, 0]
    keys: list[bytes | None] = [None, b"user-1", None, None]
    out = assign(keys, [None, None, 2, None], 4)
    assert out[1] == key_partition(b"user-1", 4)
    assert out[2] == 2
    # Unkeyed records of one request share one (random) partition, like Kafka's sticky
    # partitioner: one batch, one delivery-report stream.
    assert out[0] == out[3]
