"""The whole batch job against the real S3: landed objects in, every output checked.

Events come from `seed_data.generate`, plus duplicate and corrupt lines, written in the S3
sink's layout into a fresh namespace. Spark's answers are compared with an independent
plain-Python computation over the same lines (`tests/support/spark_reference.py`), and the Parquet
outputs are read back with DuckDB.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pyspark.sql import SparkSession

from bench.landed import json_line, upload, write_events
from seed_data.generate import events
from services.clients import clients_for
from services.settings import PROJECT_ROOT, TABLES, Settings
from spark import batch
from spark.questions import QUESTIONS
from tests.support import spark_reference as ref
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration
__all__ = ["spark_session"]

SIZE = 1200
KEYS = {"pin": "index", "geo": "ind", "user": "ind"}
CORRUPT = {
    "pin": [b"{this is not json", b'{"index": "seven", "title": "wrong type"}'],
    "geo": [b'{"ind": 5, "latitude": "north"}'],
    "user": [b'{"first_name": "no ind at all"}'],
}


def _landed_lines(root: Path) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for table in TABLES:
        files = sorted(root.glob(f"topics/*.{table}/partition=0/*.json"))
        out[table] = [line for f in files for line in f.read_bytes().splitlines() if line]
    return out


@pytest.fixture(scope="module")
def landed(module_ns: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Land SIZE events, some twice, plus corrupt lines; return the lines and the reference."""
    root = tmp_path_factory.mktemp("landed")
    evs = list(events(size=SIZE, seed=11))
    # At-least-once delivery: some events land again, in a later object.
    again = {
        "pin": [json_line(e.pin) for e in evs[:25]],
        "geo": [json_line(e.geo) for e in evs[10:20]],
        "user": [json_line(e.user) for e in evs[:5]],
    }
    extra = {t: again[t] + CORRUPT[t] for t in TABLES}
    counts = write_events(root, module_ns, evs, per_object=500, extra=extra)
    assert counts == {"pin": SIZE + 27, "geo": SIZE + 11, "user": SIZE + 6}
    assert upload(module_ns, root) == 9

    lines = _landed_lines(root)
    parsed = {t: ref.parse_lines(lines[t], KEYS[t], ref.NUMERIC[t]) for t in TABLES}
    tables = {t: ref.dedupe(parsed[t][0], KEYS[t]) for t in TABLES}
    return {
        "lines": lines,
        "bad": {t: parsed[t][1] for t in TABLES},
        "expected": ref.answers(tables["pin"], tables["geo"], tables["user"]),
        "unique": {t: len(tables[t]) for t in TABLES},
    }


@pytest.fixture(scope="module")
def summary(
    module_ns: Settings, landed: dict[str, Any], spark_session: SparkSession
) -> batch.RunSummary:
    return batch.run(module_ns)


def _tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows]


def test_counts_account_for_every_line(summary: batch.RunSummary, landed: dict[str, Any]) -> None:
    assert summary.mode == "full"  # the namespace's first run
    assert summary.objects_read == dict.fromkeys(TABLES, 3)
    assert summary.new_rows == summary.cleaned_rows
    for table in TABLES:
        read = len(landed["lines"][table])
        assert summary.rows_read[table] == read
        assert summary.corrupt_lines[table] == landed["bad"][table] == len(CORRUPT[table])
        assert summary.cleaned_rows[table] == landed["unique"][table] == SIZE
        assert (
            summary.corrupt_lines[table]
            + summary.duplicates_removed[table]
            + summary.cleaned_rows[table]
            == read
        )
    assert summary.duplicates_removed == {"pin": 25, "geo": 10, "user": 5}


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_answer_matches_plain_python(
    summary: batch.RunSummary, landed: dict[str, Any], name: str
) -> None:
    expected = landed["expected"][name]
    assert expected, f"the test data should give {name} at least one row"
    assert _tuples(summary.answer(name)) == expected


def _read_parquet_prefix(
    settings: Settings, prefix: str, tmp: Path, columns: str = "*"
) -> list[tuple[Any, ...]]:
    s3 = clients_for(settings).s3()
    files = []
    for obj in s3.list_objects(settings.bucket, prefix=prefix, recursive=True):
        name = obj.object_name or ""
        if name.endswith(".parquet"):
            dest = tmp / name.replace("/", "_")
            s3.fget_object(settings.bucket, name, str(dest))
            files.append(str(dest))
    assert files, f"no Parquet under s3://{settings.bucket}/{prefix}"
    return duckdb.sql(f"select {columns} from read_parquet({files!r})").fetchall()


def test_analytics_parquet_holds_the_answers(
    summary: batch.RunSummary, module_ns: Settings, tmp_path: Path
) -> None:
    for name in QUESTIONS:
        got = _read_parquet_prefix(module_ns, f"analytics/{name}/", tmp_path)
        # One file per output, rows in the job's order.
        assert got == _tuples(summary.answer(name)), name


def test_cleaned_delta_tables(
    summary: batch.RunSummary, module_ns: Settings, spark_session: SparkSession
) -> None:
    from spark.clean import GEO_COLUMNS, PIN_COLUMNS, USER_COLUMNS

    expected_columns = {"pin": PIN_COLUMNS, "geo": GEO_COLUMNS, "user": USER_COLUMNS}
    s3 = clients_for(module_ns).s3()
    for table in TABLES:
        prefix = f"cleaned/{table}/_delta_log/"
        assert any(s3.list_objects(module_ns.bucket, prefix=prefix)), f"no Delta log at {prefix}"
        df = spark_session.read.format("delta").load(f"s3a://{module_ns.bucket}/cleaned/{table}")
        assert tuple(df.columns) == expected_columns[table]
        assert df.count() == SIZE
        assert df.select("ind").distinct().count() == SIZE  # one row per ind


def test_quarantine_keeps_the_corrupt_lines(summary: batch.RunSummary, module_ns: Settings) -> None:
    s3 = clients_for(module_ns).s3()
    for table in TABLES:
        kept: list[str] = []
        for obj in s3.list_objects(module_ns.bucket, prefix=f"quarantine/{table}/", recursive=True):
            name = obj.object_name or ""
            if name.endswith(".json"):
                resp = s3.get_object(module_ns.bucket, name)
                kept += [json.loads(x)["raw_line"] for x in resp.read().splitlines() if x]
                resp.close()
                resp.release_conn()
        assert len(kept) == len(CORRUPT[table])
        for line in CORRUPT[table]:
            if b"no ind" not in line:  # keyless lines are kept re-serialised, not verbatim
                assert line.decode() in kept


def test_run_summary_json_in_the_bucket(summary: batch.RunSummary, module_ns: Settings) -> None:
    stored = batch.load_summary(module_ns)
    assert stored.answers == json.loads(json.dumps(summary.answers))
    assert stored.rows_read == summary.rows_read
    assert set(stored.seconds) == {"startup", "read", "clean", "questions", "write", "total"}
    assert stored.source == f"s3a://{module_ns.bucket}"
    assert stored.mode == summary.mode


def test_rerun_overwrites_outputs(
    summary: batch.RunSummary, module_ns: Settings, spark_session: SparkSession, tmp_path: Path
) -> None:
    # A second run over the same data reads nothing new and must not append: every output
    # keeps its row count.
    again = batch.run(module_ns)
    assert again.mode == "incremental"
    assert again.rows_read == dict.fromkeys(TABLES, 0)
    assert again.cleaned_rows == summary.cleaned_rows
    assert again.answers == summary.answers
    assert again.output_rows == summary.output_rows
    rows = _read_parquet_prefix(module_ns, "analytics/popular_category_by_year/", tmp_path)
    assert len(rows) == summary.output_rows["popular_category_by_year"]


def test_empty_namespace_says_what_to_do(ns: Settings, spark_session: SparkSession) -> None:
    with pytest.raises(batch.NoLandedEvents, match="make emulate"):
        batch.run(ns)


def test_cli_reports_a_missing_bucket_without_a_traceback(stack: Settings) -> None:
    env = {**os.environ, "PIPELINE_USER_ID": "no-such-namespace-for-spark"}
    done = subprocess.run(
        [sys.executable, "-m", "spark.batch"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "user-no-such-namespace-for-spark-bucket does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_summary_prints_as_tables(summary: batch.RunSummary) -> None:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=120)
    batch.print_summary(summary, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "duplicates removed" in text
    for name in QUESTIONS:
        assert name in text
