"""The reconciliation table: every record counted at every stage, per source table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text

from services.clients import clients_for
from services.settings import SOURCE_TABLES, TABLES, Settings


@dataclass
class Reconciliation:
    table: str
    mysql_rows: int
    acknowledged: int
    kafka_end_offsets: int
    landed_distinct: int
    cleaned_rows: int
    #: Rows of MySQL that did not reach the cleaned table.
    lost: int = 0
    #: Extra copies on the way: Kafka records beyond one per row, plus offsets that landed in
    #: two objects. At-least-once delivery may make some under faults; the batch job's
    #: de-duplication removes them, so `cleaned_rows` never counts one twice.
    doubled: int = 0

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def mysql_counts(settings: Settings) -> dict[str, int]:
    engine = clients_for(settings).mysql_engine()
    try:
        with engine.connect() as conn:
            return {
                t: int(
                    conn.execute(text(f"SELECT COUNT(*) FROM `{SOURCE_TABLES[t]}`")).scalar_one()
                )
                for t in TABLES
            }
    finally:
        engine.dispose()


def reconcile(
    *,
    mysql_rows: Mapping[str, int],
    acknowledged: Mapping[str, int],
    kafka_end_offsets: Mapping[str, int],
    landed_distinct: Mapping[str, int],
    landed_doubled: Mapping[str, int],
    cleaned_rows: Mapping[str, int],
) -> list[Reconciliation]:
    rows = []
    for t in TABLES:
        rows.append(
            Reconciliation(
                table=t,
                mysql_rows=mysql_rows[t],
                acknowledged=acknowledged.get(t, 0),
                kafka_end_offsets=kafka_end_offsets.get(t, 0),
                landed_distinct=landed_distinct.get(t, 0),
                cleaned_rows=cleaned_rows.get(t, 0),
                lost=max(0, mysql_rows[t] - cleaned_rows.get(t, 0)),
                doubled=max(0, kafka_end_offsets.get(t, 0) - mysql_rows[t])
                + landed_doubled.get(t, 0),
            )
        )
    return rows
