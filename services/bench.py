"""`make bench`: every performance figure of the project in one run.

Runs each issue's benchmark (seed load, ingestion, landing, Spark batch vs DuckDB, streaming),
times a warm `make up` and measures the idle stack's memory, then writes
`bench/results.json` and prints a table of figure, value, target and verdict. Benchmarks are
measurements, not tests: nothing here fails on a missed target; it reports it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.settings import PROJECT_ROOT, Settings, load_settings

RESULTS = PROJECT_ROOT / "bench" / "results.json"


def warm_up_seconds() -> dict[str, Any]:
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "services.stack", "up"], capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise RuntimeError(f"`python -m services.stack up` failed: {out.stderr[-2000:]}")
    return {"warm_make_up_s": round(time.monotonic() - t0, 2)}


def idle_memory(settings: Settings) -> dict[str, Any]:
    from services.stack.memory import stack_rss

    rss = stack_rss(settings)
    return {
        "idle_stack_rss_mib": round(sum(rss.values()) / 2**20),
        "per_service_mib": {k: round(v / 2**20) for k, v in rss.items()},
    }


def seed(settings: Settings, size: int) -> dict[str, Any]:
    from seed_data import bench

    return bench.run(settings, size=size)


def ingest(settings: Settings, quick: bool) -> dict[str, Any]:
    from services import bench_ingest

    if quick:
        return bench_ingest.run(settings, rounds=1, records=50_000, single_requests=5_000)
    return bench_ingest.run(settings)


def kinesis(settings: Settings, quick: bool) -> dict[str, Any]:
    from services.kinesis import bench as kinesis_bench

    if quick:
        return kinesis_bench.run(settings, rounds=1, records=20_000, single_requests=3_000)
    return kinesis_bench.run(settings)


def landing(settings: Settings, quick: bool) -> dict[str, Any]:
    from services import bench_landing

    return bench_landing.run(settings, records=20_000 if quick else 50_000)


def spark_batch(settings: Settings, sizes: tuple[int, ...]) -> dict[str, Any]:
    from spark import bench

    return {"runs": bench.run(settings, sizes=sizes)}


def streaming(settings: Settings, quick: bool) -> dict[str, Any]:
    from spark import bench_streaming

    ns = settings.model_copy(update={"pipeline_user_id": f"bench{uuid.uuid4().hex[:8]}"})
    try:
        return bench_streaming.bench(
            ns,
            rate=3000.0,
            seconds=10.0 if quick else 30.0,
            warmup=10.0 if quick else 20.0,
            trigger_seconds=2.0,
        )
    finally:
        bench_streaming.drop_namespace(ns)


def _targets(results: dict[str, Any]) -> list[tuple[str, Any, str, bool | None]]:
    """(figure, value, target, met) rows for the table."""
    rows: list[tuple[str, Any, str, bool | None]] = []

    def get(section: str, *keys: str) -> Any:
        value: Any = results.get(section, {})
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        return value

    def add(name: str, value: Any, target: str, check: Callable[[Any], bool]) -> None:
        met = None if value is None else bool(check(value))
        rows.append((name, value, target, met))

    add("warm make up (s)", get("up", "warm_make_up_s"), "<= 30", lambda v: v <= 30)
    add("idle stack RSS (MiB)", get("memory", "idle_stack_rss_mib"), "<= 3072", lambda v: v <= 3072)
    add("seed load (s)", get("seed", "seconds"), "<= 60 for 1M", lambda v: v <= 60)
    add(
        "proxy batched / plain producer",
        get("ingest", "b_over_a_json"),
        ">= 0.5",
        lambda v: v >= 0.5,
    )
    add(
        "proxy single-record requests/s",
        get("ingest", "c_proxy_single_record_requests_per_s"),
        ">= 2000",
        lambda v: v >= 2000,
    )
    add(
        "emulator replay 11,153 events (s)",
        get("ingest", "d_emulator_replay_seconds"),
        "<= 15",
        lambda v: v <= 15,
    )
    add(
        "landing records/s",
        get("landing", "throughput", "landing_records_per_s"),
        ">= 5000",
        lambda v: v >= 5000,
    )
    add("POST -> S3 p95 (s)", get("landing", "latency", "p95_s"), "<= 5", lambda v: v <= 5)
    for run in get("spark", "runs") or []:
        size = run.get("events")
        add(
            f"Spark / DuckDB at {size:,} events",
            run.get("spark_over_duckdb"),
            "<= 3",
            lambda v: v <= 3,
        )
        add(
            f"Spark job at {size:,} events (s)",
            run.get("spark_seconds"),
            "< 180",
            lambda v: v < 180,
        )
    add(
        "streaming events/s",
        get("streaming", "committed_events_per_s"),
        ">= 2000",
        lambda v: v >= 2000,
    )
    add(
        "streaming POST -> Delta p95 (s)",
        get("streaming", "latency_p95_s"),
        "<= 10",
        lambda v: v <= 10,
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.bench", description=__doc__)
    parser.add_argument(
        "--only",
        default="up,memory,seed,ingest,kinesis,landing,spark,streaming",
        help="comma-separated sections to run (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    settings = load_settings()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    big = 100_000 if args.quick else 1_000_000
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "up": warm_up_seconds,
        "memory": lambda: idle_memory(settings),
        "seed": lambda: seed(settings, big),
        "ingest": lambda: ingest(settings, args.quick),
        "kinesis": lambda: kinesis(settings, args.quick),
        "landing": lambda: landing(settings, args.quick),
        "spark": lambda: spark_batch(settings, (11_153, big)),
        "streaming": lambda: streaming(settings, args.quick),
    }
    unknown = [s for s in sections if s not in runners]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(runners)}")
    # `--only` refreshes some sections and keeps the others' last figures.
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    results: dict[str, Any] = {
        **previous,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cores": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "quick": args.quick,
    }
    for name in sections:
        print(f"==> {name}", flush=True)
        t0 = time.monotonic()
        try:
            results[name] = runners[name]()
        except Exception as exc:  # one failed benchmark must not lose the others' figures
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        results[name]["bench_seconds"] = round(time.monotonic() - t0, 1)
        results[name]["load_average_1m"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _print(results)
    print(f"figures written to {args.out}")
    return 0


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"benchmarks — {results['date']}, {results['cores']} cores")
    for col in ("figure", "value", "target", "met"):
        table.add_column(col)
    for name, value, target, met in _targets(results):
        shown = (
            "—"
            if value is None
            else (
                f"{value:,.2f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else str(value)
            )
        )
        verdict = "" if met is None else ("[green]yes[/]" if met else "[red]no[/]")
        table.add_row(name, shown, target, verdict)
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
