"""Incremental batch runs against the real S3: only new objects read, merged by key.

One namespace for the module, in steps that build on each other (the order of the tests is
the order of the days): a first run over the first delivery; a second delivery of new events
plus re-delivered ones; a delivery of re-delivered events only; a run that fails half-way;
then a full rebuild that must agree with the incremental runs. Every answer is checked against
the plain-Python reference over every line landed so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from bench.landed import json_line, upload_files, write_events
from seed_data.generate import events
from services.settings import TABLES, Settings
from spark import batch, ingest
from spark.questions import QUESTIONS
from tests.support import spark_reference as ref
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration
__all__ = ["spark_session"]

FIRST, SECOND = 700, 300
KEYS = {"pin": "index", "geo": "ind", "user": "ind"}
EVENTS = list(events(size=FIRST + SECOND, seed=23))


class Deliveries:
    """What has landed in the namespace so far, line by line, and the next free offsets."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.lines: dict[str, list[bytes]] = {t: [] for t in TABLES}
        self.offset = 0

    def land(self, evs: list[Any], extra: dict[str, list[bytes]] | None = None) -> int:
        """Write the events (and raw lines) as new objects and upload only those."""
        before = set(self.root.rglob("*.json"))
        counts = write_events(
            self.root, self.settings, evs, per_object=250, extra=extra, first_offset=self.offset
        )
        for e in evs:
            self.lines["pin"].append(json_line(e.pin).rstrip())
            self.lines["geo"].append(json_line(e.geo).rstrip())
            self.lines["user"].append(json_line(e.user).rstrip())
        for table, lines in (extra or {}).items():
            self.lines[table] += lines
        # Every table's offsets advance together, as far as the longest table went.
        self.offset += max(counts.values())
        new = sorted(set(self.root.rglob("*.json")) - before)
        return upload_files(self.settings, self.root, new)

    def expected(self) -> dict[str, Any]:
        parsed = {t: ref.parse_lines(self.lines[t], KEYS[t], ref.NUMERIC[t]) for t in TABLES}
        tables = {t: ref.dedupe(parsed[t][0], KEYS[t]) for t in TABLES}
        return {
            "answers": ref.answers(tables["pin"], tables["geo"], tables["user"]),
            "unique": {t: len(tables[t]) for t in TABLES},
        }


def _tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows]


def _assert_answers(summary: batch.RunSummary, expected: dict[str, Any]) -> None:
    for name in QUESTIONS:
        assert expected["answers"][name], f"the test data should give {name} rows"
        assert _tuples(summary.answer(name)) == expected["answers"][name], name


@pytest.fixture(scope="module")
def landed(
    module_ns: Settings, tmp_path_factory: pytest.TempPathFactory, spark_session: SparkSession
) -> Deliveries:
    return Deliveries(module_ns, tmp_path_factory.mktemp("incremental"))


@pytest.fixture(scope="module")
def first(landed: Deliveries, module_ns: Settings) -> batch.RunSummary:
    assert landed.land(EVENTS[:FIRST], {"pin": [b"{broken"]}) == 9
    return batch.run(module_ns)


def test_first_run_is_full_and_matches_the_reference(
    first: batch.RunSummary, landed: Deliveries
) -> None:
    assert first.mode == "full"  # no checkpoint yet
    assert first.objects_read == {"pin": 3, "geo": 3, "user": 3}
    assert first.rows_read == {"pin": FIRST + 1, "geo": FIRST, "user": FIRST}
    assert first.corrupt_lines == {"pin": 1, "geo": 0, "user": 0}
    assert first.new_rows == first.cleaned_rows == dict.fromkeys(TABLES, FIRST)
    _assert_answers(first, landed.expected())


def test_incremental_run_lands_exactly_the_new_rows(
    first: batch.RunSummary, landed: Deliveries, module_ns: Settings
) -> None:
    # Day two: SECOND new events, and 40 events of day one delivered again.
    again = {
        "pin": [json_line(e.pin).rstrip() for e in EVENTS[:40]],
        "geo": [json_line(e.geo).rstrip() for e in EVENTS[:40]],
        "user": [json_line(e.user).rstrip() for e in EVENTS[:40]],
    }
    objects = landed.land(EVENTS[FIRST:], again)
    second = batch.run(module_ns)

    assert second.mode == "incremental"
    # Only the new objects: none of day one's is read again.
    assert sum(second.objects_read.values()) == objects
    assert second.rows_read == dict.fromkeys(TABLES, SECOND + 40)
    assert second.corrupt_lines == dict.fromkeys(TABLES, 0)
    assert second.new_rows == dict.fromkeys(TABLES, SECOND)
    assert second.duplicates_removed == dict.fromkeys(TABLES, 40)
    assert second.cleaned_rows == dict.fromkeys(TABLES, FIRST + SECOND)
    _assert_answers(second, landed.expected())
    assert batch.load_summary(module_ns).answers == second.answers


def test_redelivered_events_do_not_change_the_cleaned_rows(
    landed: Deliveries, module_ns: Settings
) -> None:
    before = batch.load_summary(module_ns)
    again = {
        "pin": [json_line(e.pin).rstrip() for e in EVENTS[FIRST - 5 : FIRST + 5]],
        "geo": [json_line(e.geo).rstrip() for e in EVENTS[FIRST - 5 : FIRST + 5]],
        "user": [json_line(e.user).rstrip() for e in EVENTS[FIRST - 5 : FIRST + 5]],
    }
    assert landed.land([], again) == 3
    third = batch.run(module_ns)

    assert third.rows_read == dict.fromkeys(TABLES, 10)
    assert third.new_rows == dict.fromkeys(TABLES, 0)
    assert third.duplicates_removed == dict.fromkeys(TABLES, 10)
    assert third.cleaned_rows == before.cleaned_rows == dict.fromkeys(TABLES, FIRST + SECOND)
    assert third.answers == before.answers


def test_run_without_new_objects_reads_nothing(module_ns: Settings, landed: Deliveries) -> None:
    idle = batch.run(module_ns)
    assert idle.mode == "incremental"
    assert idle.objects_read == idle.rows_read == dict.fromkeys(TABLES, 0)
    assert idle.cleaned_rows == dict.fromkeys(TABLES, FIRST + SECOND)
    _assert_answers(idle, landed.expected())


def test_failed_run_keeps_the_previous_answers_and_the_next_run_completes(
    landed: Deliveries, module_ns: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = batch.load_summary(module_ns)
    # Ten more new events, each table in its own new object, so each table has work.
    more = list(events(size=FIRST + SECOND + 10, seed=23))[FIRST + SECOND :]
    assert landed.land(more) == 3

    def broken(df: Any) -> Any:
        raise RuntimeError("injected: the user table's cleaning fails half-way")

    monkeypatch.setitem(ingest.ROW_CLEANERS, "user", broken)
    with pytest.raises(Exception, match="injected"):
        batch.run(module_ns)
    monkeypatch.undo()

    # The fault happened after other tables' batches could commit; the previous answers
    # are still what the bucket holds.
    assert batch.load_summary(module_ns).answers == before.answers

    after = batch.run(module_ns)
    # The user table's objects were not committed by the failed run: read again now.
    assert after.objects_read["user"] == 1
    assert after.new_rows["user"] == 10
    assert after.cleaned_rows == dict.fromkeys(TABLES, FIRST + SECOND + 10)
    _assert_answers(after, landed.expected())


def test_full_rebuild_gives_the_same_tables_and_answers(
    landed: Deliveries, module_ns: Settings
) -> None:
    incremental = batch.load_summary(module_ns)
    full = batch.run(module_ns, full=True)

    assert full.mode == "full"
    assert sum(full.objects_read.values()) == len(list(landed.root.rglob("*.json")))
    assert full.rows_read == {t: len(landed.lines[t]) for t in TABLES}
    assert full.cleaned_rows == incremental.cleaned_rows == landed.expected()["unique"]
    assert full.answers == incremental.answers
    _assert_answers(full, landed.expected())
