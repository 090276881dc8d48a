"""The batch job against the settings' bucket: `make batch`, `python -m spark.batch`.

    python -m spark.batch            # ingest what landed since the last run, answer, report
    python -m spark.batch --full     # rebuild the cleaned tables from every landed object
    spark.batch.run(settings)        # the same from Python; returns a RunSummary

Reads `s3a://<bucket>/topics/<topic>/`, keeps `cleaned/` (Delta), `quarantine/`,
`checkpoints/batch/`, `analytics/` and the run summary `analytics/_run.json` in the same
bucket (the layout and the stages are in `spark.job`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any

from pyspark.sql import SparkSession
from rich.console import Console
from rich.table import Table

from services.clients import clients_for
from services.settings import TABLES, Settings, SettingsError, load_settings
from spark.jars import JarResolutionError
from spark.job import (
    BatchError,
    NoLandedEvents,
    RunSummary,
    output_path,
    read_landed,
    run_job,
    topic_path,
)
from spark.session import SparkStartError, build_session

__all__ = [
    "SUMMARY_KEY",
    "BatchError",
    "NoLandedEvents",
    "RunSummary",
    "load_summary",
    "main",
    "output_path",
    "print_summary",
    "read_landed",
    "run",
    "run_anywhere",
    "run_job",
    "run_on_service",
    "s3a_root",
    "topic_path",
]

SUMMARY_KEY = "analytics/_run.json"


def s3a_root(settings: Settings) -> str:
    return f"s3a://{settings.bucket}"


# --- the S3 entry point -------------------------------------------------------------------


def _check_bucket(settings: Settings) -> None:
    clients = clients_for(settings)
    s3 = clients.s3()
    try:
        exists = s3.bucket_exists(settings.bucket)
    except Exception as exc:  # any transport error means the same thing to the user here
        raise BatchError(
            f"S3 is not reachable ({type(exc).__name__}: {exc}): {clients.setup_hint('s3')}."
        ) from None
    if not exists:
        raise BatchError(
            f"bucket {settings.bucket} does not exist: {clients.setup_hint('bucket')}; or set "
            "PIPELINE_USER_ID to the namespace that holds the landed events."
        )


def _put_summary(settings: Settings) -> Callable[[str], None]:
    def put(text: str) -> None:
        data = text.encode()
        clients_for(settings).s3().put_object(
            settings.bucket,
            SUMMARY_KEY,
            BytesIO(data),
            len(data),
            content_type="application/json",
        )

    return put


#: Landed bytes from which the job's JVM gets the optimising (C2) JIT compiler too. Below, the
#: quick (C1) compiler only: compiling costs more than it saves on a few MB (`make demo`'s
#: 11,153 events, 8 MB). At 1,000,000 events (700 MB) C2 halves the executors' CPU: full run
#: 185 s -> 99 s of task CPU (ingest 141 -> 69, questions 44 -> 31; 2 cores, load ~8).
FULL_JIT_FROM_BYTES = 64 * 1024 * 1024


def landed_bytes(settings: Settings) -> int:
    """Bytes below the three topics' folders in the bucket (one LIST per 1,000 objects)."""
    s3 = clients_for(settings).s3()
    return sum(
        o.size or 0
        for table in TABLES
        for o in s3.list_objects(
            settings.bucket, prefix=f"topics/{settings.topic(table)}/", recursive=True
        )
    )


def run(settings: Settings, spark: SparkSession | None = None, *, full: bool = False) -> RunSummary:
    """The whole job against the settings' bucket; builds (and stops) a session if not given.

    Incremental (only objects landed since the last successful run) unless `full`.
    """

    _check_bucket(settings)
    start = time.perf_counter()
    # Stop the session afterwards only if this call started it: a caller's (a notebook's, a
    # test's) session stays up.
    own = spark is None and SparkSession.getActiveSession() is None
    session = (
        spark
        if spark is not None
        else build_session(
            settings, "pinterest-batch", quick_jit=landed_bytes(settings) < FULL_JIT_FROM_BYTES
        )
    )
    startup = time.perf_counter() - start
    try:
        return run_job(
            session,
            source=s3a_root(settings),
            target=s3a_root(settings),
            topics={t: settings.topic(t) for t in TABLES},
            write_summary=_put_summary(settings),
            startup_seconds=startup,
            full=full,
        )
    finally:
        if own:
            session.stop()


def load_summary(settings: Settings) -> RunSummary:
    """The last run's summary (with every answer) from `analytics/_run.json`; no Spark needed."""
    s3 = clients_for(settings).s3()
    try:
        response = s3.get_object(settings.bucket, SUMMARY_KEY)
    except Exception as exc:
        raise BatchError(
            f"no batch run summary at s3://{settings.bucket}/{SUMMARY_KEY} ({exc}): "
            "run `make batch` first."
        ) from None
    try:
        return RunSummary.from_json(response.read().decode())
    finally:
        response.close()
        response.release_conn()


# --- the warm batch service (spark/service.py) ---------------------------------------------


#: How long a run on the service may take before the client gives up on its answer.
SERVICE_RUN_TIMEOUT = 3600.0


def _service_log(settings: Settings) -> str:
    return str(settings.logs_dir / "spark-batch.log")


def service_health(settings: Settings) -> dict[str, Any] | None:
    """The service's /health when it answers at SPARK_SERVICE_PORT, else None."""
    import requests

    url = f"http://127.0.0.1:{settings.spark_service_port}/health"
    try:
        resp = requests.get(url, timeout=2)
        health = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    return health if isinstance(health, dict) and health.get("status") == "ready" else None


class ServiceUnavailable(BatchError):
    """The service cannot take the run (stopping, gone): the caller runs it elsewhere."""


def _start_service(settings: Settings, say: Callable[[str], None] | None) -> bool:
    import xmlrpc.client

    from services.stack import lifecycle
    from services.stack.errors import StackError

    try:
        return lifecycle.start_on_demand(settings, "spark-batch", say=say)
    except (StackError, OSError, xmlrpc.client.Error) as exc:
        print(
            f"warning: the batch service did not start ({exc}); running the job in this "
            "process instead",
            file=sys.stderr,
        )
        return False


def ensure_service(settings: Settings, say: Callable[[str], None] | None = None) -> bool:
    """True when a batch service for these settings and this code answers, starting (or
    restarting) it if the native stack runs; False (after saying why, when it matters) when
    the job should run in-process."""
    from spark.service import fingerprint

    if not settings.spark_service or settings.pipeline_target == "aws":
        return False
    health = service_health(settings)
    if health is None and (not _start_service(settings, say) or not service_health(settings)):
        return False
    health = service_health(settings) or {}
    mine = fingerprint(settings)
    if (
        health.get("fingerprint") != mine
        and (health.get("fingerprint") or {}).get("settings") == mine["settings"]
    ):
        # Started before the code changed (an edit, a pull): one restart picks it up.
        from services.stack import lifecycle

        lifecycle.stop_on_demand(settings, "spark-batch")
        if not _start_service(settings, say):
            return False
        health = service_health(settings) or {}
    if health.get("fingerprint") != mine:
        print(
            f"note: the batch service on port {settings.spark_service_port} runs with other "
            "settings or code than this command (SPARK_MASTER, SPARK_DRIVER_MEMORY, the S3 "
            "endpoint or access key); running the job in this process. `make down` stops it.",
            file=sys.stderr,
        )
        return False
    return True


def run_on_service(settings: Settings, *, full: bool = False) -> RunSummary:
    """The job for `settings`' namespace, run by the warm batch service; its summary."""
    import requests

    body = {
        "user_id": settings.pipeline_user_id,
        "bucket": settings.bucket,
        "topics": {t: settings.topic(t) for t in TABLES},
        "full": full,
    }
    url = f"http://127.0.0.1:{settings.spark_service_port}/runs"
    try:
        resp = requests.post(url, json=body, timeout=(5, SERVICE_RUN_TIMEOUT))
    except requests.ConnectionError as exc:
        # Refused, or the service died during the run: running the job again elsewhere is
        # safe (a run commits its checkpoints last; the MERGE adds nothing twice).
        raise ServiceUnavailable(f"the batch service is gone ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise BatchError(
            f"the batch service did not answer the run ({type(exc).__name__}); its log: "
            f"{_service_log(settings)}. SPARK_SERVICE=0 runs the job without it."
        ) from None
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {"error": resp.text[:500]}
    if resp.status_code == 200:
        try:
            return RunSummary(**payload)
        except TypeError as exc:
            raise BatchError(
                f"the batch service answered a summary this code does not read ({exc}): "
                "restart it with `make down`, or SPARK_SERVICE=0"
            ) from None
    message = str(payload.get("error", payload))
    if resp.status_code == 503:
        raise ServiceUnavailable(message)
    if resp.status_code == 422:
        kind = NoLandedEvents if payload.get("type") == NoLandedEvents.__name__ else BatchError
        raise kind(message)
    raise BatchError(
        f"the batch service's run failed (HTTP {resp.status_code}): {message}; its log: "
        f"{_service_log(settings)}"
    )


def run_anywhere(
    settings: Settings, *, full: bool = False, say: Callable[[str], None] | None = None
) -> tuple[RunSummary, str]:
    """The job on the warm service when one can take it, else in this process; the summary
    and where it ran ("service" or "process")."""
    if ensure_service(settings, say=say):
        try:
            return run_on_service(settings, full=full), "service"
        except ServiceUnavailable as exc:
            print(f"note: {exc}; running the job in this process", file=sys.stderr)
    return run(settings, full=full), "process"


# --- the terminal report ------------------------------------------------------------------


def print_summary(summary: RunSummary, console: Console | None = None, max_rows: int = 12) -> None:
    console = console or Console()
    counts = Table(title=f"Batch job ({summary.mode} run): rows per table", title_justify="left")
    columns = ("table", "objects", "lines read", "quarantined", "duplicates removed", "new rows")
    for col in (*columns, "cleaned rows"):
        counts.add_column(col, justify="left" if col == "table" else "right")
    for name in summary.rows_read:
        counts.add_row(
            name,
            f"{summary.objects_read.get(name, 0):,}",
            f"{summary.rows_read[name]:,}",
            f"{summary.corrupt_lines[name]:,}",
            f"{summary.duplicates_removed[name]:,}",
            f"{summary.new_rows.get(name, 0):,}",
            f"{summary.cleaned_rows[name]:,}",
        )
    console.print(counts)

    timing = Table(title=f"Seconds per stage ({summary.master})", title_justify="left")
    for stage in summary.seconds:
        timing.add_column(stage, justify="right")
    timing.add_row(*(f"{v:.1f}" for v in summary.seconds.values()))
    console.print(timing)
    if summary.requests:
        console.print(
            "S3 requests: " + ", ".join(f"{k} {v:,}" for k, v in summary.requests.items())
        )

    for name, rows in summary.answers.items():
        # The name goes above the table: a table title wraps to the (narrow) table's width.
        console.print(f"\n[bold]{name}[/bold] ({len(rows)} rows)")
        table = Table()
        names = list(rows[0]) if rows else []
        for col in names:
            table.add_column(col)
        for row in rows[:max_rows]:
            table.add_row(*(_fmt(c, row[c]) for c in names))
        console.print(table)
        if len(rows) > max_rows:
            console.print(
                f"… {len(rows) - max_rows} more rows in {summary.target}/analytics/{name}/"
            )
    console.print(f"Outputs under {summary.target}/ (cleaned/ as Delta, analytics/, quarantine/).")


def _fmt(column: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not column.endswith("year"):
        return f"{value:,}"
    return "" if value is None else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spark.batch",
        description="Clean the landed Pinterest events and answer the questions with Spark.",
    )
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    parser.add_argument(
        "--full",
        action="store_true",
        help="rebuild the cleaned tables from every landed object (default: only new objects)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run Spark in this process, not on the warm batch service (as SPARK_SERVICE=0)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.in_process:
            settings = settings.model_copy(update={"spark_service": False})
        # Progress to stderr: --json keeps stdout to the summary alone.
        summary, where = run_anywhere(
            settings, full=args.full, say=lambda m: print(m, file=sys.stderr, flush=True)
        )
    except (BatchError, SettingsError, JarResolutionError, SparkStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        "ran on the warm batch service "
        f"(http://127.0.0.1:{settings.spark_service_port}; SPARK_SERVICE=0 to run in-process)"
        if where == "service"
        else "ran in this process",
        file=sys.stderr,
    )
    if args.json:
        print(summary.to_json())
    else:
        print_summary(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
