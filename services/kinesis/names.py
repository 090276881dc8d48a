"""Kinesis identifiers from Kafka coordinates: pure functions, no I/O.

- stream = topic, `shardId-<12 digits>` = partition;
- sequence number = "49" + partition (10 digits) + offset (20 digits): a decimal string,
  ordered within a shard as Kinesis promises, and stable (the same record always has the
  same number, so AT/AFTER_SEQUENCE_NUMBER resume exactly);
- shard = the partition whose 128-bit hash key range holds MD5(partition key), as Kinesis
  routes records; an explicit hash key picks the range directly;
- shard iterator = an opaque base64 token of (stream, partition, next offset, issue time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from typing import NamedTuple

from services.kinesis.errors import ACCOUNT_ID, KinesisError, invalid, validation

_STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
_SHARD_ID = re.compile(r"^shardId-(\d{1,12})$")
_SEQ_PREFIX = "49"
_SEQ_LENGTH = len(_SEQ_PREFIX) + 10 + 20
HASH_SPACE = 2**128
#: Kinesis' limits, checked before anything reaches Kafka.
MAX_RECORD_BYTES = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256
MAX_PUT_RECORDS = 500
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
MAX_GET_RECORDS = 10_000
#: Kinesis' iterators expire five minutes after they were issued.
ITERATOR_TTL_S = 300.0


def check_stream_name(name: object) -> str:
    if not isinstance(name, str) or not _STREAM_NAME.match(name):
        raise validation(
            f"StreamName {name!r} is invalid: use 1-128 letters, digits, '_', '.' or '-' "
            "(the streaming topics are named streaming-<user_id>-pin|geo|user)."
        )
    return name


def stream_arn(region: str, stream: str) -> str:
    return f"arn:aws:kinesis:{region}:{ACCOUNT_ID}:stream/{stream}"


def stream_from_arn(arn: str) -> str:
    head, _, name = arn.rpartition(":stream/")
    if not head.startswith("arn:") or not name:
        raise validation(
            f"StreamARN {arn!r} is not a stream ARN (arn:aws:kinesis:...:stream/NAME)."
        )
    return check_stream_name(name)


def shard_id(partition: int) -> str:
    return f"shardId-{partition:012d}"


def partition_of_shard(shard: object, stream: str, shards: int) -> int:
    match = _SHARD_ID.match(shard) if isinstance(shard, str) else None
    if match is None or int(match.group(1)) >= shards:
        raise KinesisError(
            "ResourceNotFoundException",
            f"Shard {shard} in stream {stream} under account {ACCOUNT_ID} does not exist "
            f"(it has shards shardId-000000000000 to {shard_id(shards - 1)}).",
        )
    return int(match.group(1))


def sequence_number(partition: int, offset: int) -> str:
    return f"{_SEQ_PREFIX}{partition:010d}{offset:020d}"


def parse_sequence_number(value: object) -> tuple[int, int]:
    """`sequence_number`'s inverse: (partition, offset); InvalidArgument if not ours."""
    if (
        not isinstance(value, str)
        or len(value) != _SEQ_LENGTH
        or not value.isdigit()
        or not value.startswith(_SEQ_PREFIX)
    ):
        raise invalid(
            f"StartingSequenceNumber {value!r} is invalid: use a SequenceNumber this "
            "endpoint returned (PutRecord, PutRecords or GetRecords)."
        )
    return int(value[2:12]), int(value[12:])


def hash_key_range(partition: int, shards: int) -> tuple[int, int]:
    """The (start, end) of the shard's slice of the 128-bit hash key space, inclusive."""
    return partition * HASH_SPACE // shards, (partition + 1) * HASH_SPACE // shards - 1


def partition_for(partition_key: str, shards: int, explicit_hash_key: str | None = None) -> int:
    """The shard Kinesis would route the record to (MD5 of the key, or the explicit hash)."""
    if explicit_hash_key is not None:
        if not explicit_hash_key.isdigit() or int(explicit_hash_key) >= HASH_SPACE:
            raise validation(
                f"ExplicitHashKey {explicit_hash_key!r} must be a decimal in [0, 2^128)."
            )
        value = int(explicit_hash_key)
    else:
        if shards == 1:
            return 0
        value = int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")
    return value * shards // HASH_SPACE


def check_partition_key(key: object, where: str = "PartitionKey") -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_CHARS:
        raise validation(
            f"{where} must be a string of 1 to {MAX_PARTITION_KEY_CHARS} characters, not {key!r}."
        )
    return key


def check_record_size(size: int, where: str = "Data") -> None:
    if size > MAX_RECORD_BYTES:
        raise validation(
            f"{where} is {size} bytes: Kinesis' limit is {MAX_RECORD_BYTES} bytes (1 MiB) "
            "per record; split the payload across records."
        )


class Iterator(NamedTuple):
    stream: str
    partition: int
    offset: int
    issued_ms: int


def encode_iterator(stream: str, partition: int, offset: int, now: float | None = None) -> str:
    issued = int((time.time() if now is None else now) * 1000)
    raw = f"1|{stream}|{partition}|{offset}|{issued}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_iterator(token: object, now: float | None = None) -> Iterator:
    try:
        if not isinstance(token, str):
            raise ValueError
        version, stream, partition, offset, issued = (
            base64.urlsafe_b64decode(token.encode()).decode().split("|")
        )
        if version != "1":
            raise ValueError
        it = Iterator(check_stream_name(stream), int(partition), int(offset), int(issued))
    except (ValueError, binascii.Error, UnicodeDecodeError, KinesisError):
        raise invalid(
            "Invalid ShardIterator: use one returned by GetShardIterator or a previous "
            "GetRecords' NextShardIterator."
        ) from None
    age = (time.time() if now is None else now) - it.issued_ms / 1000
    if age > ITERATOR_TTL_S:
        raise KinesisError(
            "ExpiredIteratorException",
            f"Iterator expired: it was issued {age:.0f} s ago and lives "
            f"{ITERATOR_TTL_S:.0f} s; get a new one with GetShardIterator.",
        )
    return it
