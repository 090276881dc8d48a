"""The Kinesis front (issue 15) against the real broker, through a real REST proxy process.

boto3's unmodified `kinesis` client talks to KINESIS_URL; the original's requests-style
script talks to API Gateway's `/streams` routes on REST_PROXY_URL. What each wrote is read
back from Kafka (or with GetRecords) and compared record by record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka.admin import NewTopic

from services.clients import clients_for
from services.emulator import live, replay
from services.kinesis.names import MAX_RECORD_BYTES
from services.rest_proxy.child import proxy_process, with_free_ports
from services.settings import TABLES, Settings
from tests.support import fake_aws
from tests.support.namespaces import seeded_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxy(module_ns: Settings) -> Iterator[Settings]:
    settings = with_free_ports(module_ns)
    with proxy_process(settings):
        yield settings


@pytest.fixture(scope="module")
def kinesis(proxy: Settings) -> Any:
    # Signed with made-up keys: the local endpoint accepts and does not check signatures.
    return boto3.client(
        "kinesis",
        endpoint_url=proxy.kinesis_url,
        region_name="us-east-1",
        aws_access_key_id=fake_aws.access_key_id("kinesis"),
        aws_secret_access_key=fake_aws.SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def stream(kinesis: Any, proxy: Settings) -> Iterator[str]:
    """A stream of its own (a Kafka topic in the test's namespace), deleted afterwards."""
    name = f"streaming-{proxy.pipeline_user_id}-k{uuid.uuid4().hex[:8]}"
    yield name
    admin = clients_for(proxy).kafka_admin()
    if name in admin.list_topics(timeout=10).topics:
        for future in admin.delete_topics([name], operation_timeout=15).values():
            future.result(timeout=20)


def read_topic(settings: Settings, topic: str, partition: int = 0) -> list[tuple[Any, ...]]:
    """(key, value) of every record of one partition, straight from Kafka."""
    consumer = clients_for(settings).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        out: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + 20
        while len(out) < high and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                assert msg.error() is None, msg.error()
                out.append((msg.key(), msg.value()))
        return out
    finally:
        consumer.close()


def read_shard(kinesis: Any, stream: str, shard: str, **start: Any) -> list[dict[str, Any]]:
    """GetRecords from `start` (default TRIM_HORIZON) until the shard's end."""
    kind = start.pop("kind", "TRIM_HORIZON")
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType=kind, **start
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        page = kinesis.get_records(ShardIterator=iterator, Limit=7)
        records.extend(page["Records"])
        iterator = page["NextShardIterator"]
        if not page["Records"] and page["MillisBehindLatest"] == 0:
            return records


def test_boto3_reads_back_exactly_what_it_wrote_in_order(
    kinesis: Any, stream: str, proxy: Settings
) -> None:
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 20}
    )
    written: list[tuple[str, bytes, str, str]] = []  # key, data, shard, sequence number
    for i in range(6):
        key, data = f"key-{i % 3}", orjson.dumps({"ind": i})
        answer = kinesis.put_record(StreamName=stream, Data=data, PartitionKey=key)
        written.append((key, data, answer["ShardId"], answer["SequenceNumber"]))
    batch: list[dict[str, Any]] = [
        {"Data": orjson.dumps({"ind": i}), "PartitionKey": f"key-{i % 3}"} for i in range(6, 40)
    ]
    answer = kinesis.put_records(StreamName=stream, Records=batch)
    assert answer["FailedRecordCount"] == 0
    for record, result in zip(batch, answer["Records"], strict=True):
        written.append(
            (record["PartitionKey"], record["Data"], result["ShardId"], result["SequenceNumber"])
        )

    assert stream in kinesis.list_streams(Limit=10_000)["StreamNames"]
    description = kinesis.describe_stream(StreamName=stream)["StreamDescription"]
    assert description["StreamStatus"] == "ACTIVE"
    shards = [s["ShardId"] for s in description["Shards"]]
    assert shards == ["shardId-000000000000", "shardId-000000000001"]
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2
    assert [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]] == shards
    # The three keys hash to both shards (MD5, as Kinesis routes them).
    assert {shard for _k, _d, shard, _s in written} == set(shards)

    for shard in shards:
        expected = [(k, d, s) for k, d, sh, s in written if sh == shard]
        got = read_shard(kinesis, stream, shard)
        assert [(r["PartitionKey"], r["Data"], r["SequenceNumber"]) for r in got] == expected
        assert [int(r["SequenceNumber"]) for r in got] == sorted(
            int(r["SequenceNumber"]) for r in got
        )
        assert all(r["ApproximateArrivalTimestamp"].year >= 2024 for r in got)

        # Resuming at / after a sequence number, and LATEST, start where Kinesis would.
        third = expected[2][2]
        at = read_shard(
            kinesis, stream, shard, kind="AT_SEQUENCE_NUMBER", StartingSequenceNumber=third
        )
        assert [r["SequenceNumber"] for r in at] == [s for _k, _d, s in expected[2:]]
        after = read_shard(
            kinesis, stream, shard, kind="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=third
        )
        assert [r["SequenceNumber"] for r in after] == [s for _k, _d, s in expected[3:]]
        assert read_shard(kinesis, stream, shard, kind="LATEST") == []

    # The stream is the Kafka topic: the records are there, keyed by the partition key.
    for p, shard in enumerate(shards):
        expected_kafka = [(k.encode(), d) for k, d, sh, _s in written if sh == shard]
        assert read_topic(proxy, stream, p) == expected_kafka
    kinesis.delete_stream(StreamName=stream)
    kinesis.get_waiter("stream_not_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def error_of(call: Any, **params: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call(**params)
    response = exc.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def test_sdk_errors_are_kinesis_errors(kinesis: Any, proxy: Settings) -> None:
    missing = f"streaming-{proxy.pipeline_user_id}-missing"
    status, code, message = error_of(
        kinesis.put_record, StreamName=missing, Data=b"x", PartitionKey="k"
    )
    assert (status, code) == (400, "ResourceNotFoundException") and missing in message
    for call in (kinesis.describe_stream, kinesis.delete_stream, kinesis.list_shards):
        assert error_of(call, StreamName=missing)[1] == "ResourceNotFoundException"
    assert error_of(kinesis.get_records, ShardIterator="forged")[1] == "InvalidArgumentException"

    pin = proxy.streaming_topic("pin")
    assert error_of(kinesis.create_stream, StreamName=pin, ShardCount=1)[1] == (
        "ResourceInUseException"
    )
    assert (
        error_of(
            kinesis.get_shard_iterator,
            StreamName=pin,
            ShardId="shardId-000000000009",
            ShardIteratorType="TRIM_HORIZON",
        )[1]
        == "ResourceNotFoundException"
    )
    # One byte over Kinesis' 1 MiB per record is refused before Kafka sees it.
    status, code, message = error_of(
        kinesis.put_record, StreamName=pin, Data=b"x" * (MAX_RECORD_BYTES + 1), PartitionKey="k"
    )
    assert (status, code) == (400, "ValidationException") and "1 MiB" in message
    assert (
        error_of(
            kinesis.put_records, StreamName=pin, Records=[{"Data": b"x", "PartitionKey": "k"}] * 501
        )[1]
        == "ValidationException"
    )


def amz(proxy: Settings, action: str, body: bytes, ctype: str) -> requests.Response:
    headers = {"X-Amz-Target": f"Kinesis_20131202.{action}", "Content-Type": ctype}
    return requests.post(proxy.kinesis_url + "/", data=body, headers=headers, timeout=10)


def test_malformed_protocol_requests_get_kinesis_shaped_400s(proxy: Settings) -> None:
    amz_json = "application/x-amz-json-1.1"
    cases = [
        (amz(proxy, "PutRecord", b"{not json", amz_json), "SerializationException"),
        (
            amz(
                proxy,
                "PutRecord",
                b'{"StreamName": "s", "Data": "@@", "PartitionKey": "k"}',
                amz_json,
            ),
            "SerializationException",
        ),
        (amz(proxy, "Explode", b"{}", amz_json), "UnknownOperationException"),
        (
            amz(proxy, "ListStreams", b"\xa0", "application/x-amz-cbor-1.1"),
            "SerializationException",
        ),
    ]
    for response, kind in cases:
        assert response.status_code == 400, response.text
        assert response.json()["__type"] == kind
        assert response.headers["content-type"].startswith(amz_json)
    assert "AWS_CBOR_DISABLE" in cases[-1][0].json()["message"]


# --- API Gateway's shape, as the original's script used it ------------------------------
def put(proxy: Settings, path: str, body: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return requests.put(
        f"{proxy.rest_proxy_url}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


def test_gateway_routes_put_rows_as_json_and_manage_streams(proxy: Settings, stream: str) -> None:
    base = proxy.rest_proxy_url
    assert (
        requests.post(f"{base}/streams/{stream}", json={"ShardCount": 1}, timeout=30).json() == {}
    )
    assert stream in requests.get(f"{base}/streams", timeout=10).json()["StreamNames"]
    described = requests.get(f"{base}/streams/{stream}", timeout=10).json()["StreamDescription"]
    assert described["StreamName"] == stream and len(described["Shards"]) == 1

    rows = [{"ind": i, "name": f"row {i}"} for i in range(4)]
    answers = [
        put(
            proxy,
            f"/streams/{stream}/record",
            {"StreamName": stream, "Data": rows[0], "PartitionKey": "p"},
        ),
        # Some versions of the original send the row wrapped in a one-element array.
        put(
            proxy,
            f"/streams/{stream}/record",
            {"StreamName": stream, "Data": [rows[1]], "PartitionKey": "p"},
        ),
        put(
            proxy,
            f"/streams/{stream}/records",
            {
                "records": [
                    {"data": rows[2], "partition-key": "p"},
                    {"data": [rows[3]], "partition-key": "p"},
                ]
            },
        ),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    seqs = [answers[0].json()["SequenceNumber"], answers[1].json()["SequenceNumber"]]
    batch = answers[2].json()
    assert batch["FailedRecordCount"] == 0
    seqs += [r["SequenceNumber"] for r in batch["Records"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert read_topic(proxy, stream) == [(b"p", orjson.dumps(row)) for row in rows]

    assert requests.delete(f"{base}/streams/{stream}", timeout=30).json() == {}
    gone = requests.get(f"{base}/streams/{stream}", timeout=10)
    deadline = time.monotonic() + 20
    while gone.status_code == 200 and time.monotonic() < deadline:
        gone = requests.get(f"{base}/streams/{stream}", timeout=10)  # deletion is async
    assert gone.status_code == 400 and gone.json()["__type"] == "ResourceNotFoundException"


def test_gateway_errors_are_kinesis_shaped_never_500(proxy: Settings) -> None:
    pin = proxy.streaming_topic("pin")
    before = read_topic(proxy, pin)
    missing = f"streaming-{proxy.pipeline_user_id}-nope"
    record = {"StreamName": missing, "Data": {"a": 1}, "PartitionKey": "k"}
    cases = [
        (put(proxy, f"/streams/{missing}/record", record), 400, "ResourceNotFoundException"),
        (put(proxy, f"/streams/{pin}/record", b'{"Data": {'), 400, "SerializationException"),
        (put(proxy, f"/streams/{pin}/record", {"Data": {"a": 1}}), 400, "ValidationException"),
        (put(proxy, f"/streams/{pin}/record", {"PartitionKey": "k"}), 400, "ValidationException"),
        (
            put(proxy, f"/streams/{pin}/record", {"Data": [], "PartitionKey": "k"}),
            400,
            "ValidationException",
        ),
        (put(proxy, f"/streams/{pin}/records", {"records": "x"}), 400, "ValidationException"),
        (
            put(
                proxy,
                f"/streams/{pin}/record",
                {"Data": {"x": "a" * MAX_RECORD_BYTES}, "PartitionKey": "k"},
            ),
            400,
            "ValidationException",
        ),
        (
            requests.get(f"{proxy.rest_proxy_url}/streams/{pin}/record", timeout=10),
            405,
            "MethodNotAllowedException",
        ),
        # Data nested 5,000 deep and a PartitionKey of invalid UTF-8: 500s before.
        (
            put(
                proxy,
                f"/streams/{pin}/record",
                b'{"Data": ' + b"[" * 5000 + b"]" * 5000 + b', "PartitionKey": "k"}',
            ),
            400,
            "SerializationException",
        ),
        (
            put(proxy, f"/streams/{pin}/record", b'{"Data": {"a": "\xff"}, "PartitionKey": "k"}'),
            400,
            "SerializationException",
        ),
        (
            put(proxy, f"/streams/{pin}/record", b'{"Data": {"a": 1}, "PartitionKey": "\xff"}'),
            400,
            "SerializationException",
        ),
        (
            put(
                proxy,
                f"/streams/{pin}/records",
                b'{"records": [{"data": {"a": 1}, "partition-key": "\xff"}]}',
            ),
            400,
            "SerializationException",
        ),
        (
            amz(
                proxy,
                "PutRecords",
                b'{"StreamName": "%s", "Records": [{"Data": "eA==", "PartitionKey": "\xff"}]}'
                % pin.encode(),
                "application/x-amz-json-1.1",
            ),
            400,
            "SerializationException",
        ),
    ]
    for response, status, kind in cases:
        assert (response.status_code, response.json()["__type"]) == (status, kind), response.text
        assert response.json()["message"]
    # Nothing of the refused requests reached Kafka.
    assert read_topic(proxy, pin) == before


def test_emulator_target_kinesis_feeds_the_streaming_topics(proxy: Settings) -> None:
    """`--target kinesis` for random (one PUT .../record each) and replay (PUT .../records)."""
    with seeded_database(proxy, "kin_emu", 30) as db:
        settings = db.model_copy(update={"pipeline_user_id": proxy.pipeline_user_id})
        before = {t: len(read_topic(settings, settings.streaming_topic(t))) for t in TABLES}
        summary = live.run(
            settings,
            target="kinesis",
            streaming=True,
            count=4,
            rate=200,
            seed=1,
            max_retries=0,
            progress=False,
        )
        assert summary.ok, summary.error
        assert summary.acknowledged_by_table == dict.fromkeys(TABLES, 4)
        summary = replay.run(
            settings,
            target="kinesis",
            streaming=True,
            checkpoint=None,
            max_retries=0,
            progress=False,
        )
        assert summary.ok, summary.error
        for table in TABLES:
            rows = read_topic(settings, settings.streaming_topic(table))
            assert len(rows) - before[table] == 4 + 30
            assert all(key == table.encode() and orjson.loads(v) for key, v in rows)


def test_internal_and_batch_topics_are_not_streams(kinesis: Any, proxy: Settings) -> None:
    """Neither face writes to, creates or deletes Kafka's/Connect's internal topics or the
    batch pipeline's `<id>.pin|geo|user` topics nor an S3 sink connector's dead-letter topic
    (any namespace's): AccessDeniedException."""
    admin = clients_for(proxy).kafka_admin()
    other = f"k{uuid.uuid4().hex[:8]}.pin"  # another namespace's batch topic
    dead_letter = f"dlq-k{uuid.uuid4().hex[:8]}"  # another namespace's connector's DLQ
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in (other, dead_letter)]).values():
        future.result(timeout=20)
    try:
        base = proxy.rest_proxy_url
        record = {"Data": {"a": 1}, "PartitionKey": "k"}
        own = proxy.topic("pin")
        answers = [
            put(proxy, "/streams/__consumer_offsets/record", record),
            put(proxy, "/streams/_connect-configs/records", {"records": [record]}),
            requests.delete(f"{base}/streams/_connect-configs", timeout=30),
            requests.delete(f"{base}/streams/{other}", timeout=30),
            requests.post(f"{base}/streams/{own}x", timeout=30),  # not batch: a control
            put(proxy, f"/streams/{own}/record", record),
            requests.get(f"{base}/streams/__consumer_offsets", timeout=30),
            put(proxy, f"/streams/{dead_letter}/record", record),
        ]
        control = answers.pop(4)
        assert control.status_code == 200, control.text  # a user-created name is a stream
        requests.delete(f"{base}/streams/{own}x", timeout=30)
        for answer in answers:
            assert answer.status_code == 400, answer.text
            assert answer.json()["__type"] == "AccessDeniedException"
        sdk = [
            error_of(
                kinesis.put_record, StreamName="__consumer_offsets", Data=b"x", PartitionKey="k"
            ),
            error_of(kinesis.delete_stream, StreamName="_connect-configs"),
            error_of(kinesis.delete_stream, StreamName=other),
            error_of(kinesis.create_stream, StreamName=f"{proxy.pipeline_user_id}.geo"),
        ]
        assert [(status, code) for status, code, _m in sdk] == [(400, "AccessDeniedException")] * 4
        assert "batch pipeline" in sdk[2][2] and "internal topic" in sdk[0][2]
        assert "dead-letter topic" in answers[-1].json()["message"]
        # Nothing was deleted, and ListStreams shows neither kind.
        topics = admin.list_topics(timeout=10).topics
        assert {"_connect-configs", other, own, dead_letter} <= set(topics)
        listed = kinesis.list_streams(Limit=10_000)["StreamNames"]
        assert proxy.streaming_topic("pin") in listed
        assert not [s for s in listed if s.startswith(("_", "dlq-")) or s in (other, own)]
    finally:
        deleted = admin.delete_topics([other, dead_letter], operation_timeout=15)
        for future in deleted.values():
            future.result(timeout=20)


def test_kinesis_port_is_counted_by_the_proxys_admission_control(proxy: Settings) -> None:
    """The protocol port shares the proxy's one in-flight bound (its /health is a probe)."""

    def admitted() -> int:
        health = requests.get(f"{proxy.rest_proxy_url}/health", timeout=10).json()
        return int(health["admitted"])

    before = admitted()
    for _ in range(3):
        answer = amz(proxy, "ListStreams", b"{}", "application/x-amz-json-1.1")
        assert answer.status_code == 200, answer.text
    assert requests.get(f"{proxy.kinesis_url}/health", timeout=10).status_code == 200
    assert admitted() - before == 3
