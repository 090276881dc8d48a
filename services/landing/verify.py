"""Compare Kafka's offsets with what landed in S3, for every batch topic of a namespace."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import urllib3
from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as TP
from minio import Minio
from minio.error import MinioException, S3Error

from services.clients import clients_for
from services.contracts.keys import parse_key, topic_prefix
from services.contracts.lines import decode_lines, is_json_line
from services.landing.report import LandingReport, ObjectSummary, TopicLanding, tally
from services.runner.wait import NotReady, WaitTimeout, wait_until
from services.settings import Settings

_S3_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)
_FETCH_THREADS = 8


class LandingError(RuntimeError):
    """Kafka or S3 cannot be asked; the message says which and how to fix it."""


@dataclass(frozen=True)
class LandedLine:
    partition: int
    offset: int
    value: bytes
    key: str


class LandingVerifier:
    """Reusable across polls: object summaries are cached by key and ETag."""

    def __init__(self, settings: Settings, *, bucket: str | None = None) -> None:
        self.settings = settings
        #: The namespace's bucket unless told otherwise (a connector with its own s3.bucket.name).
        self.bucket = bucket or settings.bucket
        clients = self.clients = clients_for(settings)
        self.s3: Minio = clients.s3()
        # Never subscribes or commits: it only reads metadata and watermarks.
        self.consumer: Consumer = clients.kafka_consumer(f"landing-verify-{uuid.uuid4().hex[:8]}")
        self._cache: dict[tuple[str, str], ObjectSummary] = {}

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> LandingVerifier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the report -----------------------------------------------------------------------
    def verify(
        self, topics: list[str] | None = None, expect: dict[str, int] | None = None
    ) -> LandingReport:
        s = self.settings
        report = LandingReport(s.pipeline_user_id, self.bucket, expect=dict(expect or {}))
        self._check_bucket()
        queued = self._dead_letter_queue()
        for topic in topics or s.topics:
            report.topics.append(self._topic(topic, queued.get(topic, {})))
        return report

    def _topic(self, topic: str, queued: dict[int, set[int]]) -> TopicLanding:
        result = TopicLanding(topic)
        watermarks = self._watermarks(topic)
        if watermarks is None:
            result.exists = False
            return result
        objects: dict[int, list[ObjectSummary]] = {p: [] for p in watermarks}
        dead: dict[int, list[int]] = {p: [] for p in watermarks}
        pending: list[tuple[str, str, int, int]] = []
        for key, etag, is_dead in self._list(topic):
            name = parse_key(key)
            if name is None or name.topic != topic or name.partition not in watermarks:
                result.stray_keys.append(key)
            elif is_dead:
                dead[name.partition].append(name.start_offset)
            elif (key, etag) in self._cache:
                objects[name.partition].append(self._cache[(key, etag)])
            else:
                pending.append((key, etag, name.partition, name.start_offset))
        for summary, etag in self._summarise(pending):
            self._cache[(summary.key, etag)] = summary
            objects[summary.partition].append(summary)
        for partition, (low, high) in sorted(watermarks.items()):
            # A record in both places (an old dead-letter object, then the queue) is one.
            dead_letters = sorted(set(dead[partition]) | queued.get(partition, set()))
            result.partitions.append(
                tally(topic, partition, low, high, objects[partition], dead_letters)
            )
        return result

    def _dead_letter_queue(self) -> dict[str, dict[int, set[int]]]:
        """{topic: {partition: offsets}} of the records the namespace's connector sent to its
        dead-letter topic (errors.deadletterqueue.topic.name, `dlq-<id>`), read from the
        context headers Connect adds (`__connect.errors.topic|partition|offset`).

        They are accounted for, not missing: what the connector could not write as JSON is
        there instead of in S3. An absent or empty topic is no dead letter.
        """
        from services.landing.connector import render_connector_config

        dlq = render_connector_config(self.settings)["config"]["errors.deadletterqueue.topic.name"]
        watermarks = self._watermarks(dlq)
        out: dict[str, dict[int, set[int]]] = {}
        if not watermarks or all(high <= low for low, high in watermarks.values()):
            return out
        reader = clients_for(self.settings).kafka_consumer(f"landing-verify-{uuid.uuid4().hex[:8]}")
        try:
            for partition, (low, high) in watermarks.items():
                if high <= low:
                    continue
                reader.assign([TP(dlq, partition, low)])
                position = low
                # Bounded as a whole, not per poll: a stream of errors must not hang a caller
                # (wait_until_landed, the DAG) past its own deadline.
                deadline = time.monotonic() + 60
                while position < high:
                    msg = reader.poll(10)
                    if msg is None or time.monotonic() > deadline:
                        raise LandingError(
                            f"reading the dead-letter topic {dlq} stopped at offset {position} "
                            f"of {high}; is Kafka up? (`make status`)"
                        )
                    if msg.error() is not None:
                        continue
                    position = (msg.offset() or 0) + 1
                    headers = {k: v for k, v in (msg.headers() or []) if v is not None}
                    try:
                        origin = headers["__connect.errors.topic"].decode()
                        part = int(headers["__connect.errors.partition"])
                        offset = int(headers["__connect.errors.offset"])
                    except (KeyError, ValueError, UnicodeDecodeError):
                        continue  # not Connect's context headers: nothing to account for
                    out.setdefault(origin, {}).setdefault(part, set()).add(offset)
        finally:
            reader.close()
        return out

    # --- Kafka ----------------------------------------------------------------------------
    def _watermarks(self, topic: str) -> dict[int, tuple[int, int]] | None:
        """{partition: (low, high)}, or None if the topic does not exist."""
        try:
            meta = self.consumer.list_topics(topic, timeout=10)
            info = meta.topics.get(topic)
            if info is None or info.error is not None:
                return None
            out = {}
            for partition in info.partitions:
                out[partition] = self.consumer.get_watermark_offsets(
                    TP(topic, partition), timeout=10
                )
            return out
        except KafkaException as exc:
            raise LandingError(
                f"cannot read the offsets of {topic} from Kafka ({exc}): "
                f"{self.clients.setup_hint('kafka')}."
            ) from None

    # --- S3 -------------------------------------------------------------------------------
    def _check_bucket(self) -> None:
        s = self.settings
        try:
            exists = self.s3.bucket_exists(self.bucket)
        except _S3_FAILURES as exc:
            raise LandingError(
                f"cannot reach S3 ({exc}): {self.clients.setup_hint('s3')}."
            ) from None
        if not exists:
            raise LandingError(
                f"bucket {self.bucket} does not exist (nothing of namespace "
                f"{s.pipeline_user_id!r} has landed): {self.clients.setup_hint('bucket')}; "
                "pass --user-id for another namespace."
            )

    def _list(self, topic: str) -> Iterator[tuple[str, str, bool]]:
        bucket = self.bucket
        try:
            for dead in (False, True):
                prefix = topic_prefix(topic, dead_letter=dead)
                for obj in self.s3.list_objects(bucket, prefix=prefix, recursive=True):
                    if obj.object_name is not None:
                        yield obj.object_name, obj.etag or "", dead
        except _S3_FAILURES as exc:
            raise LandingError(
                f"cannot list s3://{bucket}/ at {self.settings.s3_endpoint}: {exc}"
            ) from None

    def _summarise(
        self, pending: list[tuple[str, str, int, int]]
    ) -> Iterator[tuple[ObjectSummary, str]]:
        def one(item: tuple[str, str, int, int]) -> tuple[ObjectSummary, str]:
            key, etag, partition, start = item
            lines = decode_lines(self._get(key))
            bad = sum(1 for line in lines if not is_json_line(line))
            return ObjectSummary(key, partition, start, len(lines), bad), etag

        if len(pending) <= 1:
            yield from map(one, pending)
            return
        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            yield from pool.map(one, pending)

    def _get(self, key: str) -> bytes:
        bucket = self.bucket
        try:
            response = self.s3.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        except S3Error as exc:
            if exc.code == "NoSuchKey":  # overwritten or deleted since listing: count it empty
                return b""
            raise LandingError(f"cannot read s3://{bucket}/{key}: {exc}") from None
        except _S3_FAILURES as exc:
            raise LandingError(f"cannot read s3://{bucket}/{key}: {exc}") from None

    # --- the records themselves (tests, benchmarks) ----------------------------------------
    def landed_lines(self, topic: str) -> Iterator[LandedLine]:
        """Every landed line of a topic with its partition and offset, in key order."""
        for key, _etag, dead in self._list(topic):
            name = parse_key(key)
            if dead or name is None or name.topic != topic:
                continue
            for i, line in enumerate(decode_lines(self._get(key))):
                yield LandedLine(name.partition, name.start_offset + i, line, key)


def verify(
    settings: Settings, topics: list[str] | None = None, expect: dict[str, int] | None = None
) -> LandingReport:
    """One report for the namespace of `settings` (its three batch topics by default)."""
    with LandingVerifier(settings) as verifier:
        return verifier.verify(topics, expect)


def wait_until_landed(
    settings: Settings,
    timeout: float,
    *,
    topics: list[str] | None = None,
    expect: dict[str, int] | None = None,
    interval: float = 0.5,
) -> LandingReport:
    """Poll until every offset in Kafka has landed (and at least `expect[topic]` records
    exist per topic, if given) or `timeout` seconds pass; returns the last report.
    Check `.complete` on the result: a timeout does not raise."""
    with LandingVerifier(settings) as verifier:
        reports: list[LandingReport] = []

        def landed() -> LandingReport:
            report = verifier.verify(topics, expect)
            reports.append(report)
            if not report.complete:
                raise NotReady("; ".join(report.problems()[:3]) or "not complete yet")
            return report

        try:
            return wait_until(landed, timeout=timeout, what="landing", interval=interval)
        except WaitTimeout:
            return reports[-1]
