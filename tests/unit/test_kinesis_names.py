"""Kinesis identifiers from Kafka coordinates: sequence numbers, shards, iterators."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from services.kinesis import names
from services.kinesis.errors import KinesisError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("partition,offset", [(0, 0), (0, 1), (3, 12345), (999, 2**63 - 1)])
def test_sequence_number_round_trips(partition: int, offset: int) -> None:
    seq = names.sequence_number(partition, offset)
    assert seq.isdigit() and not seq.startswith("0")
    assert names.parse_sequence_number(seq) == (partition, offset)


def test_sequence_numbers_order_like_offsets_within_a_shard() -> None:
    offsets = [0, 1, 9, 10, 99, 100, 10**6, 10**12]
    seqs = [names.sequence_number(2, o) for o in offsets]
    # Kinesis clients compare sequence numbers as big integers (and some as strings).
    assert sorted(seqs, key=int) == seqs
    assert sorted(seqs) == seqs


@pytest.mark.parametrize("bad", [None, 5, "", "0", "12ab", "48" + "0" * 30, "49" + "0" * 31])
def test_foreign_sequence_numbers_are_invalid_arguments(bad: object) -> None:
    with pytest.raises(KinesisError) as exc:
        names.parse_sequence_number(bad)
    assert exc.value.error_type == "InvalidArgumentException"


def test_shard_ids_and_their_partitions() -> None:
    assert names.shard_id(0) == "shardId-000000000000"
    assert names.partition_of_shard("shardId-000000000002", "s", 3) == 2
    for bad in ("shardId-000000000003", "shard-1", None):
        with pytest.raises(KinesisError) as exc:
            names.partition_of_shard(bad, "s", 3)
        assert exc.value.error_type == "ResourceNotFoundException"


def test_hash_key_ranges_tile_the_128_bit_space() -> None:
    ranges = [names.hash_key_range(p, 3) for p in range(3)]
    assert ranges[0][0] == 0 and ranges[-1][1] == names.HASH_SPACE - 1
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start == end + 1


def test_records_go_to_the_shard_whose_range_holds_md5_of_the_key() -> None:
    for key in ("a", "pin", "user-42", "ünïcode"):
        digest = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        p = names.partition_for(key, 4)
        start, end = names.hash_key_range(p, 4)
        assert start <= digest <= end
    assert names.partition_for("anything", 1) == 0
    assert names.partition_for("k", 4, explicit_hash_key=str(names.HASH_SPACE - 1)) == 3
    with pytest.raises(KinesisError):
        names.partition_for("k", 4, explicit_hash_key=str(names.HASH_SPACE))


def test_stream_names_and_arns() -> None:
    assert names.check_stream_name("streaming-local-pin") == "streaming-local-pin"
    arn = names.stream_arn("eu-west-1", "streaming-local-pin")
    assert arn == "arn:aws:kinesis:eu-west-1:000000000000:stream/streaming-local-pin"
    assert names.stream_from_arn(arn) == "streaming-local-pin"
    for bad in ("", "a/b", "x" * 129, 7):
        with pytest.raises(KinesisError) as exc:
            names.check_stream_name(bad)
        assert exc.value.error_type == "ValidationException"


def test_limits_of_a_record() -> None:
    names.check_record_size(names.MAX_RECORD_BYTES)
    with pytest.raises(KinesisError, match="1 MiB"):
        names.check_record_size(names.MAX_RECORD_BYTES + 1)
    assert names.check_partition_key("k" * 256) == "k" * 256
    for bad in ("", "k" * 257, None, 3):
        with pytest.raises(KinesisError):
            names.check_partition_key(bad)


def test_iterators_round_trip_and_expire() -> None:
    token = names.encode_iterator("streaming-x-pin", 1, 42, now=1000.0)
    it = names.decode_iterator(token, now=1000.0 + names.ITERATOR_TTL_S - 1)
    assert it == names.Iterator("streaming-x-pin", 1, 42, 1_000_000)
    with pytest.raises(KinesisError) as exc:
        names.decode_iterator(token, now=1000.0 + names.ITERATOR_TTL_S + 1)
    assert exc.value.error_type == "ExpiredIteratorException"


@pytest.mark.parametrize("bad", [None, "", "not-base64!", "MXxzfDF8Mg==", 12])
def test_forged_iterators_are_invalid_arguments(bad: object) -> None:
    with pytest.raises(KinesisError) as exc:
        names.decode_iterator(bad)
    assert exc.value.error_type == "InvalidArgumentException"
