"""Parsing Kinesis requests: the JSON protocol's headers and API Gateway's `Data` rule."""

from __future__ import annotations

import orjson
import pytest

from services.kinesis.errors import KinesisError
from services.kinesis.gateway import flatten
from services.kinesis.names import MAX_RECORD_BYTES
from services.kinesis.protocol import ACTIONS, parse_request

pytestmark = pytest.mark.unit

TARGET = "Kinesis_20131202.PutRecord"
AMZ = "application/x-amz-json-1.1"


def test_a_well_formed_request_names_its_action() -> None:
    action, doc = parse_request(TARGET, AMZ, b'{"StreamName": "s"}')
    assert action is ACTIONS["PutRecord"] and doc == {"StreamName": "s"}
    # Some actions have no parameters; an empty body is an empty object.
    action, doc = parse_request("Kinesis_20131202.ListStreams", AMZ, b"")
    assert action is ACTIONS["ListStreams"] and doc == {}


def test_cbor_is_refused_with_the_setting_that_turns_it_off() -> None:
    with pytest.raises(KinesisError) as exc:
        parse_request(TARGET, "application/x-amz-cbor-1.1", b"\xa0")
    assert exc.value.status == 400 and "AWS_CBOR_DISABLE" in exc.value.message


@pytest.mark.parametrize(
    "target", [None, "", "PutRecord", "Kinesis_20131202.Nope", "DynamoDB_20120810.PutItem"]
)
def test_unknown_operations(target: str | None) -> None:
    with pytest.raises(KinesisError) as exc:
        parse_request(target, AMZ, b"{}")
    assert exc.value.error_type == "UnknownOperationException"
    assert "Kinesis_20131202.PutRecords" in exc.value.message


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'"text"', b"\xff"])
def test_malformed_bodies_are_serialization_errors(body: bytes) -> None:
    with pytest.raises(KinesisError) as exc:
        parse_request(TARGET, AMZ, body)
    assert exc.value.error_type == "SerializationException" and exc.value.status == 400


def test_data_object_is_one_record_of_its_json() -> None:
    assert flatten({"index": 1, "title": "t"}, "Data") == [b'{"index":1,"title":"t"}']


def test_data_array_of_rows_is_one_record_per_row_as_sparks_json_reader_reads_it() -> None:
    rows = [{"ind": 1}, {"ind": 2}]
    assert flatten(rows, "Data") == [orjson.dumps(r) for r in rows]
    assert flatten([{"ind": 1}], "Data") == [b'{"ind":1}']


@pytest.mark.parametrize("data", [[], [1], [{"a": 1}, "x"]])
def test_arrays_that_are_not_rows_are_refused_with_the_fix(data: object) -> None:
    with pytest.raises(KinesisError) as exc:
        flatten(data, "Data")
    assert exc.value.error_type == "ValidationException" and exc.value.status == 400


def test_a_row_over_one_mib_is_refused() -> None:
    with pytest.raises(KinesisError, match="1 MiB"):
        flatten({"x": "a" * MAX_RECORD_BYTES}, "Data")


def test_kinesis_url_on_a_port_the_proxy_already_serves_names_the_setting() -> None:
    from services.rest_proxy.server import ProxyConfigError, serve
    from services.settings import Settings

    clash = Settings(
        _env_file=None,
        rest_proxy_url="http://127.0.0.1:18082",
        legacy_api_url="http://127.0.0.1:18000",
        kinesis_url="http://127.0.0.1:18082",
    )
    # Refused before any socket is bound.
    with pytest.raises(ProxyConfigError, match="KINESIS_URL"):
        serve(clash)


def test_fast_path_takes_only_plain_batches_and_keeps_the_clients_json() -> None:
    from services.kinesis.fast import gateway_records, protocol_records

    body = b'{"records": [{"data": {"ind": 1, "t": "x"}, "partition-key": "pin"}]}'
    assert gateway_records(body) == (["pin"], [b'{"ind": 1, "t": "x"}'], None)
    # Anything else goes to the general path, which flattens arrays or names the problem.
    for other in (
        b'{"records": [{"data": [{"ind": 1}], "partition-key": "p"}]}',
        b'{"records": [{"data": {"ind": 1}}]}',
        b'{"records": [{"data": 1, "partition-key": ""}]}',
        b'{"records": []}',
        b'{"Records": [{"Data": {"ind": 1}, "PartitionKey": "p"}]}',
        b"{not json",
    ):
        assert gateway_records(other) is None, other

    sdk = orjson.dumps({"StreamName": "s", "Records": [{"Data": "aGk=", "PartitionKey": "k"}]})
    assert protocol_records(sdk) == (
        {"StreamName": "s", "StreamARN": None},
        (["k"], [b"hi"], None),
    )
    assert (
        protocol_records(b'{"StreamName": "s", "Records": [{"Data": "@@", "PartitionKey": "k"}]}')
        is None
    )


def test_fast_path_of_one_record() -> None:
    from services.kinesis.fast import gateway_record

    assert gateway_record(b'{"StreamName": "s", "Data": {"a": 1}, "PartitionKey": "k"}') == (
        "k",
        b'{"a": 1}',
    )
    for other in (
        b'{"Data": [{"a": 1}], "PartitionKey": "k"}',
        b'{"Data": {"a": 1}}',
        b'{"PartitionKey": "k"}',
        b'{"Data": 1, "PartitionKey": ""}',
    ):
        assert gateway_record(other) is None, other


DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        ("gateway_record", b'{"Data": ' + DEEP + b', "PartitionKey": "k"}'),
        ("gateway_record", b'{"Data": {"a": 1}, "PartitionKey": "\xff\xfe"}'),
        ("gateway_records", b'{"records": [{"data": ' + DEEP + b', "partition-key": "k"}]}'),
        ("gateway_records", b'{"records": [{"data": {}, "partition-key": "\xff"}]}'),
        ("protocol_records", b'{"Records": [{"Data": "eA==", "PartitionKey": "\xff"}]}'),
        (
            "protocol_records",
            b'{"Records": [{"Data": "eA==", "PartitionKey": "k"}], "x": ' + DEEP + b"}",
        ),
    ],
)
def test_fast_path_leaves_too_deep_and_invalid_utf8_to_the_general_path(
    decode: str, body: bytes
) -> None:
    # msgspec raises RecursionError / UnicodeDecodeError for these (a 500 before); the
    # fast path declines, and the general path names the problem with a 400.
    from services.kinesis import fast

    assert getattr(fast, decode)(body) is None
    with pytest.raises(KinesisError) as exc:
        parse_request("Kinesis_20131202.PutRecords", AMZ, body)
    assert exc.value.status == 400 and exc.value.error_type == "SerializationException"


@pytest.mark.parametrize("data", [b'{"a": "\xff"}', b'{"a": 1e400}', b'{"a": "\\ud800"}'])
def test_fast_path_declines_data_the_general_path_refuses(data: bytes) -> None:
    # msgspec's Raw does not look inside `Data`: without a check these reached Kafka.
    from services.kinesis.fast import gateway_record, gateway_records

    assert gateway_record(b'{"Data": ' + data + b', "PartitionKey": "k"}') is None
    assert gateway_records(b'{"records": [{"data": ' + data + b', "partition-key": "k"}]}') is None
