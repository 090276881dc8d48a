"""The Delta side: each micro-batch parsed, split, cleaned and written once per event.

`foreachBatch` hands every micro-batch over as an ordinary DataFrame, so the batch job's
cleaning functions (including their de-duplication by `ind` within the batch) apply as they
are, with no streaming state.

Exactly once per event, not per Kafka offset: the emulator and the proxy deliver at least
once, so one event can sit at two offsets, in two micro-batches, hours apart. Each batch's
cleaned rows are therefore MERGEd into the table on the event key `ind` (the source's
`index` for pin, `ind` for geo and user: `spark.schemas.SOURCE_KEY`), inserting only the
keys the table does not hold yet. No horizon: a repeat is dropped however late it comes,
at the cost of a join with the table per batch. The same MERGE makes a replayed batch (the
checkpoint replays one whose commit did not finish) insert nothing the second time.
Quarantined rows have no usable key; they are appended with (txnAppId = the query's id,
txnVersion = the batch id), so Delta skips a replayed batch's append instead of doubling it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from services.settings import Settings
from spark.clean import CLEANERS, split_corrupt
from spark.streaming.layout import QUARANTINE, table_path
from spark.streaming.source import parse_events

log = logging.getLogger("spark.streaming")

#: The cleaned tables' event key (see the module docstring).
KEY = "ind"

#: Local property Spark sets on the thread that runs a streaming query's batches.
QUERY_ID_PROPERTY = "sql.streaming.queryId"


@dataclass
class TableProgress:
    """What one table's query has written since this process started it."""

    table: str
    batches: int = 0
    events: int = 0
    quarantined: int = 0
    last_batch_id: int | None = None
    seconds: list[float] = field(default_factory=list)


def count_split(good: DataFrame, bad: DataFrame) -> tuple[int, int]:
    """(events, quarantined) of a cached batch in one Spark job rather than two."""
    flags = good.select(F.lit(0).alias("bad")).unionByName(bad.select(F.lit(1).alias("bad")))
    row = flags.agg(F.count(F.lit(1)).alias("events"), F.sum("bad").alias("bad")).first()
    assert row is not None
    return int(row["events"]), int(row["bad"] or 0)


class MicroBatchWriter:
    """The `foreachBatch` function of one table's query."""

    def __init__(self, settings: Settings, table: str, *, app_id: str | None = None) -> None:
        self.settings = settings
        self.table = table
        self.path = table_path(settings, table)
        self.quarantine_path = table_path(settings, QUARANTINE)
        # Tests may call the writer outside a query; a query always supplies its id.
        self.app_id = app_id
        self.progress = TableProgress(table)

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        app_id = self.app_id or batch.sparkSession.sparkContext.getLocalProperty(QUERY_ID_PROPERTY)
        if not app_id:
            raise RuntimeError("MicroBatchWriter needs an app_id outside a streaming query")
        parsed = parse_events(batch, self.table).persist()
        try:
            good, bad = split_corrupt(parsed, self.table)
            events, quarantined = count_split(good, bad)
            counted = time.monotonic()
            if quarantined:
                self._append(
                    self._quarantine_rows(bad, batch_id), self.quarantine_path, app_id, batch_id
                )
            if events > quarantined:
                # One file per table per batch: a micro-batch is small, and the cleaning's
                # de-duplication would otherwise leave one file per shuffle partition.
                clean = CLEANERS[self.table](good).coalesce(1)
                self._merge_new_keys(clean)
        finally:
            parsed.unpersist()
        elapsed = time.monotonic() - started
        p = self.progress
        p.batches += 1
        p.events += events
        p.quarantined += quarantined
        p.last_batch_id = batch_id
        p.seconds.append(elapsed)
        log.info(
            "%s batch %d: %d events, %d quarantined, %.2f s (read %.2f s, write %.2f s)",
            self.table,
            batch_id,
            events,
            quarantined,
            elapsed,
            counted - started,
            elapsed - (counted - started),
        )

    def _quarantine_rows(self, bad: DataFrame, batch_id: int) -> DataFrame:
        return bad.select(
            F.lit(self.table).alias("table"),
            "raw_line",
            "reason",
            F.lit(batch_id).cast("long").alias("batch_id"),
            F.current_timestamp().alias("quarantined_at"),
        ).coalesce(1)

    def _merge_new_keys(self, clean: DataFrame) -> None:
        """Insert the rows whose `ind` the table does not hold yet (the cleaning renamed
        pin's `index` to `ind`, so one key column serves every table)."""
        (
            DeltaTable.forPath(clean.sparkSession, self.path)
            .alias("t")
            .merge(clean.alias("s"), f"t.{KEY} = s.{KEY}")
            .whenNotMatchedInsertAll()
            .execute()
        )

    @staticmethod
    def _append(df: DataFrame, path: str, app_id: str, batch_id: int) -> None:
        (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", app_id)
            .option("txnVersion", batch_id)
            .save(path)
        )
