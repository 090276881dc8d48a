"""What an e2e run must satisfy, counted from sources independent of the pipeline's own report.

- MySQL: the rows (and their event indexes) of the run's own database.
- Kafka: the topics' end offsets.
- S3: every landed object read back here, each line placed at its (topic, partition, offset)
  from the connector's object name; nothing of `services.landing` is used.
- Spark: the batch job's cleaned rows and its nine answers, compared with
  `tests/support/spark_reference.py` (plain Python, shares no code with the job).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from services.clients import clients_for
from services.contracts.rows import KEY_COLUMNS
from services.demo.run import DemoResult, run_demo
from services.settings import SOURCE_TABLES, TABLES, Settings
from tests.support import spark_reference as reference
from tests.support.namespaces import drop_namespace, seeded_database

Rows = dict[str, list[dict[str, object]]]


@contextmanager
def demo_run(
    stack: Settings, tmp_path: Path, prefix: str, size: int, **demo: Any
) -> Iterator[tuple[Settings, DemoResult, Rows]]:
    """run_demo in a namespace and database (with its own reader account) of its own; both
    are dropped afterwards, even on failure."""
    user_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with seeded_database(stack, f"e2e_{prefix.replace('-', '_')}", size) as db:
        settings = db.model_copy(update={"pipeline_user_id": user_id})
        try:
            result = run_demo(
                db,
                size=size,
                user_id=user_id,
                report_dir=tmp_path,
                land_timeout=240,
                progress=False,
                **demo,
            )
            yield settings, result, mysql_rows(settings)
        finally:
            drop_namespace(settings)


def mysql_rows(settings: Settings) -> Rows:
    engine = clients_for(settings).mysql_engine(admin=True)
    try:
        with engine.connect() as conn:
            return {
                t: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM `{name}`"))]
                for t, name in SOURCE_TABLES.items()
            }
    finally:
        engine.dispose()


@dataclass
class Landed:
    """One topic as read back from S3."""

    lines: int = 0
    #: how many times each (partition, offset) landed
    offsets: Counter[tuple[int, int]] = field(default_factory=Counter)
    indexes: set[int] = field(default_factory=set)

    @property
    def doubled(self) -> int:
        return sum(n - 1 for n in self.offsets.values())


def landed(settings: Settings, table: str) -> Landed:
    topic = settings.topic(table)
    s3 = clients_for(settings).s3()
    out = Landed()
    for obj in s3.list_objects(settings.bucket, f"topics/{topic}/", recursive=True):
        name = obj.object_name or ""
        # topics/<topic>/partition=<p>/<topic>+<p>+<start offset, 10 digits>.json
        partition = int(name.split("/partition=", 1)[1].split("/", 1)[0])
        start = int(name.rsplit("+", 1)[1].split(".", 1)[0])
        response = s3.get_object(settings.bucket, name)
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        for k, line in enumerate(data.splitlines()):
            out.lines += 1
            out.offsets[(partition, start + k)] += 1
            out.indexes.add(int(orjson.loads(line)[KEY_COLUMNS[table]]))
    return out


def kafka_end_offsets(settings: Settings, table: str) -> int:
    from confluent_kafka import TopicPartition

    topic = settings.topic(table)
    consumer = clients_for(settings).kafka_consumer(f"e2e-count-{uuid.uuid4().hex[:6]}")
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        )
    finally:
        consumer.close()


def accounted(settings: Settings, result: DemoResult, rows: Rows) -> dict[str, dict[str, int]]:
    """Assert lost = 0 and doubled = 0 from the independent counts; return the counts.

    Kafka may hold more records than MySQL rows after a fault (at-least-once: a request the
    proxy wrote but could not acknowledge is sent again). Those re-sends are counted
    (`kafka_resent`), must all land in S3 exactly once, and the batch job must drop them.
    """
    counts: dict[str, dict[str, int]] = {}
    cleaned = {r.table: r.cleaned_rows for r in result.reconciliation}
    for t in TABLES:
        source = {int(r[KEY_COLUMNS[t]]) for r in rows[t]}  # type: ignore[call-overload]
        end = kafka_end_offsets(settings, t)
        got = landed(settings, t)
        missing = source - got.indexes
        assert not missing, (
            f"{t}: {len(missing)} MySQL rows never landed, e.g. {sorted(missing)[:5]}"
        )
        assert len(got.offsets) == end, f"{t}: {end} Kafka records, {len(got.offsets)} landed"
        assert got.doubled == 0, f"{t}: {got.doubled} Kafka offsets landed twice in S3"
        assert end >= len(source), f"{t}: Kafka holds {end} records for {len(source)} rows"
        assert cleaned[t] == len(source), f"{t}: Spark kept {cleaned[t]} of {len(source)} rows"
        counts[t] = {
            "mysql_rows": len(source),
            "kafka_records": end,
            "kafka_resent": end - len(source),
            "s3_distinct_offsets": len(got.offsets),
            "s3_doubled": got.doubled,
            "spark_rows": cleaned[t],
        }
    return counts


def _as_posted(row: dict[str, object]) -> dict[str, object]:
    """A MySQL row as the emulator posts it: datetimes as "YYYY-MM-DD HH:MM:SS" strings."""
    return {
        k: v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v for k, v in row.items()
    }


def _rounded(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]


def answers_match_reference(result: DemoResult, rows: Rows) -> None:
    keyed = {
        t: {int(r[KEY_COLUMNS[t]]): _as_posted(r) for r in rows[t]}  # type: ignore[call-overload]
        for t in TABLES
    }
    expected = reference.answers(keyed["pin"], keyed["geo"], keyed["user"])
    assert set(result.answers) == set(expected)
    for name, want in expected.items():
        got = [tuple(r.values()) for r in result.answers[name]]
        assert _rounded(got) == _rounded(want), name
