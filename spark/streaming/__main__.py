"""`python -m spark.streaming run|once|show`: the streaming job and a look at its tables."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException

from services.settings import TABLES, SettingsError, load_settings
from spark.jars import JarResolutionError
from spark.streaming.job import (
    DEFAULT_TRIGGER_SECONDS,
    StreamingJobError,
    StreamOptions,
    once,
    run,
    streaming_session,
)
from spark.streaming.lease import LeaseHeld
from spark.streaming.preflight import PreflightError
from spark.streaming.show import show
from spark.streaming.sink import TableProgress
from spark.streaming.source import StreamingConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spark.streaming",
        description=(
            "Stream the events of streaming-<user_id>-{pin,geo,user} through the batch job's "
            "cleaning into Delta tables s3a://<bucket>/delta/{pin,geo,user}/."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "stream until stopped (Ctrl-C or SIGTERM)"),
        ("once", "process what the topics hold now, then stop (available-now trigger)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument(
            "--trigger-seconds",
            type=float,
            default=DEFAULT_TRIGGER_SECONDS,
            help=f"micro-batch interval for `run` (default {DEFAULT_TRIGGER_SECONDS:g})",
        )
        cmd.add_argument(
            "--max-events-per-trigger",
            type=int,
            default=None,
            help="cap on the events of one table per micro-batch (default: all available)",
        )
        cmd.add_argument(
            "--tables",
            default=",".join(TABLES),
            help=f"comma-separated tables to stream (default {','.join(TABLES)})",
        )
    look = sub.add_parser("show", help="print counts and the latest rows of each Delta table")
    look.add_argument("--rows", type=int, default=5, help="latest rows per table (default 5)")
    return parser


def _report(progress: Sequence[TableProgress]) -> None:
    for p in progress:
        mean = sum(p.seconds) / len(p.seconds) if p.seconds else 0.0
        print(
            f"{p.table}: {p.batches} micro-batches ({mean:.1f} s each on average), "
            f"{p.events} events, {p.quarantined} quarantined"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    # py4j logs every callback (each micro-batch) at INFO.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # The S3 client logs each retry; the preflight's one message says it all.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    try:
        settings = load_settings()
        if args.command == "show":
            show(streaming_session(settings), settings, args.rows)
            return 0
        options = StreamOptions(
            tables=tuple(t.strip() for t in args.tables.split(",") if t.strip()),
            trigger_seconds=args.trigger_seconds,
            max_events_per_trigger=args.max_events_per_trigger,
        )
        progress = (run if args.command == "run" else once)(settings, options)
    except (
        SettingsError,
        StreamingConfigError,
        StreamingJobError,
        JarResolutionError,
        PreflightError,
        LeaseHeld,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (CapturedException, Py4JJavaError) as exc:
        # Anything else Spark raises: its first line, not the JVM's stack trace.
        lines = str(exc).strip().splitlines()
        first = next((line for line in lines if line.strip() and not line.startswith(":")), "")
        print(
            f"error: Spark failed: {first or type(exc).__name__}. `make status` shows whether "
            "S3 and Kafka are up; SPARK_LOG_LEVEL=WARN shows Spark's own log.",
            file=sys.stderr,
        )
        return 1
    _report(progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
