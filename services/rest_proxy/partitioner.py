"""Choose partitions in the proxy, the way Confluent's (Java) proxy would.

The proxy decides every record's partition before producing, so it knows the order of
the delivery reports within each partition (librdkafka reports a partition's messages
in the order they were produced) and can match reports to records without a Python
callback object per record.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's default partitioner hash), as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end = length & ~3
    for i in range(0, end, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra == 3:
        h ^= data[end + 2] << 16
    if extra >= 2:
        h ^= data[end + 1] << 8
    if extra >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def key_partition(key: bytes, partitions: int) -> int:
    # Java: Utils.toPositive(Utils.murmur2(key)) % numPartitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def assign(
    keys: Sequence[bytes | None], explicit: Sequence[int | None], partitions: int
) -> list[int]:
    """The partition of each record: explicit, else by key hash, else one sticky random
    partition for the request's unkeyed records (Kafka's sticky partitioner batches the
    same way)."""
    if partitions == 1:
        return [0] * len(keys)
    sticky = random.randrange(partitions)
    return [
        p if p is not None else (sticky if k is None else key_partition(k, partitions))
        for k, p in zip(keys, explicit, strict=True)
    ]
