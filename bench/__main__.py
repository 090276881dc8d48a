"""`make bench`: every performance figure of the project, into `bench/results.json`.

    python -m bench                      # every section (what `make bench` runs)
    python -m bench --only ingest,seed   # refresh some sections, keep the others
    python -m bench --readme             # the README's "How fast" paragraph

Each section is a function registered with `@section(...)` below; it returns its figures as
a dict. Every section written carries its own metadata (`measured_at`, the git `commit` and
whether the work tree was `dirty`, `quick`, the load average), so after `--only` merges a
section into the file each figure still says when and from which code it was measured. A
section that fails records its error instead of figures; the others still run. Benchmarks
are measurements, not tests: nothing here fails on a missed target; the table says so.

To add a section (one function, one decorator):

    @section("kinesis", "records/s through the Kinesis-shaped API")
    def kinesis(settings: Settings, quick: bool) -> dict[str, Any]:
        from bench import kinesis as kinesis_bench
        return kinesis_bench.run(settings, records=10_000 if quick else 100_000)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.settings import PROJECT_ROOT, Settings, load_settings

RESULTS = PROJECT_ROOT / "bench" / "results.json"

Runner = Callable[[Settings, bool], dict[str, Any]]


@dataclass(frozen=True)
class Section:
    name: str
    help: str
    run: Runner
    #: run by default (`make bench`); False for sections that disturb a shared stack
    default: bool = True


#: Every section, in the order `make bench` runs them.
SECTIONS: dict[str, Section] = {}


def section(name: str, help: str, *, default: bool = True) -> Callable[[Runner], Runner]:
    def register(run: Runner) -> Runner:
        if name in SECTIONS:
            raise ValueError(f"bench section {name!r} is registered twice")
        SECTIONS[name] = Section(name, help, run, default)
        return run

    return register


# --- provenance -----------------------------------------------------------------------------


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def git_state() -> dict[str, Any]:
    """The commit measured, and whether tracked files differed from it (a dirty tree)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {"commit": None, "dirty": None}
    # The figures file itself changes with every section that `--only` merges in: it is the
    # output, not the code measured.
    output = f":!{RESULTS.relative_to(PROJECT_ROOT)}"  # an exclude pathspec, repository-relative
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", output))
    return {"commit": commit, "dirty": dirty}


def machine() -> dict[str, Any]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
    }


# --- sections -------------------------------------------------------------------------------


def _stack(*args: str, timeout: float = 900) -> float:
    """Seconds `python -m services.stack <args>` took; raises with its output if it failed."""
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "services.stack", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"`python -m services.stack {' '.join(args)}` failed: {out.stderr[-2000:]}"
        )
    return round(time.monotonic() - t0, 2)


@section(
    "up-cold",
    "`make up` from stopped (stops the whole stack first: not for a stack others use)",
)
def up_cold(settings: Settings, quick: bool) -> dict[str, Any]:
    from services.demo import faults

    # Stopping the stack is a fault for anyone using it: never beside a fault test.
    with faults.exclusive():
        stop_s = _stack("down")
        seconds = _stack("up")
    return {"cold_make_up_s": seconds, "stop_s": stop_s}


@section("up", "`make up` while the stack is running (the idempotent check)")
def up_warm(settings: Settings, quick: bool) -> dict[str, Any]:
    from services.demo import faults

    # Not while a fault test has a service down: that would time its restart instead.
    with faults.exclusive():
        _stack("up")  # the first call may still start something; the figure is the next one
        return {"warm_make_up_s": _stack("up")}


@section("memory", "resident memory of the idle stack, per service")
def idle_memory(settings: Settings, quick: bool) -> dict[str, Any]:
    from services.stack.memory import stack_rss

    # Idle: the batch service `make up` starts has finished its warm-up; a service that is
    # not running is left so.
    _until_idle(settings)
    rss = stack_rss(settings)
    return {
        "idle_stack_rss_mib": round(sum(rss.values()) / 2**20),
        "per_service_mib": {k: round(v / 2**20) for k, v in rss.items()},
    }


@section("seed", "bulk load of the spoof database into a scratch database")
def seed(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import seed as seed_bench

    return seed_bench.run(settings, size=100_000 if quick else 1_000_000)


@section("ingest", "plain producer vs REST proxy, single-record requests, full replay")
def ingest(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import ingest as ingest_bench

    if quick:
        return ingest_bench.run(settings, rounds=1, records=50_000, single_requests=5_000)
    return ingest_bench.run(settings)


@section("kinesis", "PutRecords 500/call vs the Confluent API's batched produce; PUT .../record/s")
def kinesis(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import kinesis as kinesis_bench

    if quick:
        return kinesis_bench.run(settings, rounds=1, records=20_000, single_requests=3_000)
    return kinesis_bench.run(settings)


@section("landing", "Kafka -> S3 sink -> S3: records/s, POST -> visible in S3 latency")
def landing(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import landing as landing_bench

    return landing_bench.run(settings, records=20_000 if quick else 50_000)


@section("spark", "the Spark batch job vs DuckDB on the same S3 objects")
def spark_batch(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import spark as spark_bench

    runs = spark_bench.run(settings, sizes=(11_153, 100_000 if quick else 1_000_000))
    # Seconds per stage (startup, read, clean, questions, write) of each full run, its
    # incremental run and DuckDB's, for whoever reads the terminal.
    spark_bench.print_results(runs)
    return {"runs": runs}


@section("streaming", "Structured Streaming into Delta: capacity, latency at 50%/80% of it")
def streaming(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import streaming as streaming_bench

    ns = settings.model_copy(update={"pipeline_user_id": f"bench{uuid.uuid4().hex[:8]}"})
    try:
        return streaming_bench.bench(
            ns,
            rate=3000.0,
            seconds=10.0 if quick else 30.0,
            warmup=10.0 if quick else 20.0,
            trigger_seconds=2.0,
            loads=(0.5, 0.8),
        )
    finally:
        streaming_bench.drop_namespace(ns)


@section("demo", "`make demo` on a running stack (database seeded), end to end")
def demo(settings: Settings, quick: bool) -> dict[str, Any]:
    from seed_data.load import load
    from services.stack import lifecycle
    from spark.batch import service_health

    # The stack is up (make bench depends on make up) and the database is loaded. The warm
    # batch service (spark/service.py) is restarted as `make up` starts it, so each case
    # begins from a fresh driver: a demo at once (its batch stage cuts the service's
    # warm-up short), a demo once the warm-up is done (a user's first demo after
    # `make up`), and the next demo. A service the bench started is stopped again.
    was_running = service_health(settings) is not None
    load(settings)
    figures: dict[str, Any] = {"batch_service_was_running": was_running}
    try:
        if settings.spark_service:
            _restart_batch_service(settings)
            at_once = _demo_once(settings)
            figures["at_once_make_demo_s"] = at_once["seconds"]
            figures["at_once_stages_s"] = at_once["stages"]
            _restart_batch_service(settings)
            figures["service_warm_up_s"] = _until_warmed(settings)
        first = _demo_once(settings)
        second = _demo_once(settings)
    finally:
        if not was_running:
            lifecycle.stop_on_demand(settings, "spark-batch")
    return {
        **figures,
        "first_make_demo_s": first["seconds"],
        "first_stages_s": first["stages"],
        "warm_make_demo_s": second["seconds"],
        "stages_s": second["stages"],
    }


def _restart_batch_service(settings: Settings) -> None:
    from services.stack import lifecycle

    lifecycle.stop_on_demand(settings, "spark-batch")
    if not lifecycle.start_on_demand(settings, "spark-batch", say=lambda _m: None):
        raise RuntimeError("the batch service needs the native stack (`make up`)")


def _until_idle(settings: Settings) -> None:
    """Until the batch service, if it runs, neither warms up nor runs a job."""
    from services.runner.wait import NotReady, wait_until
    from spark.batch import service_health

    def idle() -> bool:
        health = service_health(settings)
        if health is not None and (health.get("warming") or health.get("busy")):
            raise NotReady(f"busy: {health}")
        return True

    wait_until(idle, timeout=300, what="the batch service to be idle", retry_on=(NotReady,))


def _until_warmed(settings: Settings) -> float:
    """Seconds until the service's own warm-up (`--warm-up`) is done."""
    from services.runner.wait import NotReady, wait_until
    from spark.batch import service_health

    t0 = time.monotonic()

    def warmed() -> bool:
        health = service_health(settings) or {}
        if not health.get("warmed"):
            raise NotReady(f"warming: {health}")
        return True

    wait_until(warmed, timeout=300, what="the batch service's warm-up", retry_on=(NotReady,))
    return round(time.monotonic() - t0, 1)


def _demo_once(settings: Settings) -> dict[str, Any]:
    from services.stack import bootstrap

    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    cmd = [sys.executable, "-m", "services.demo"]
    t0 = time.monotonic()
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, cwd=PROJECT_ROOT, env=env
    )
    seconds = round(time.monotonic() - t0, 2)
    found = re.search(r"namespace (demo-\d{8}-\d{6})", out.stdout)
    if found:  # the demo keeps its namespace for the user; the bench does not need it
        bootstrap.drop_namespace(settings.model_copy(update={"pipeline_user_id": found[1]}))
    if out.returncode != 0:
        raise RuntimeError(f"`make demo` failed (exit {out.returncode}): {out.stdout[-1500:]}")
    stages = {
        m[1]: float(m[2])
        for m in re.finditer(r"│ (up|seed|replay|land|batch|report)\s*│\s*([\d.]+) │", out.stdout)
    }
    return {"seconds": seconds, "stages": stages}


@section("airflow", "Airflow venv cold install; one `airflow dags test` beside `make batch`")
def airflow(settings: Settings, quick: bool) -> dict[str, Any]:
    from bench import airflow as airflow_bench

    return airflow_bench.run(settings)


# --- the targets table ----------------------------------------------------------------------


def _get(results: dict[str, Any], section: str, *keys: str) -> Any:
    value: Any = results.get(section, {})
    for k in keys:
        value = value.get(k) if isinstance(value, dict) else None
    return value


def _le(limit: float) -> Callable[[Any], bool]:
    return lambda v: v <= limit


def _reference(
    rows: list[tuple[str, Any, str, bool | None]],
) -> Callable[[str, Any, str, Callable[[Any], bool]], None]:
    """An `add` for figures shown for reference: the target column says so, no verdict."""

    def add(name: str, value: Any, target: str, _check: Callable[[Any], bool]) -> None:
        rows.append((name, value, f"(reference; {target} is for the warm service)", None))

    return add


def _targets(results: dict[str, Any]) -> list[tuple[str, Any, str, bool | None]]:
    """(figure, value, target, met) rows for the table."""
    rows: list[tuple[str, Any, str, bool | None]] = []

    def add(name: str, value: Any, target: str, check: Callable[[Any], bool]) -> None:
        met = None if not isinstance(value, int | float) else bool(check(value))
        rows.append((name, value, target, met))

    get = _get
    add("cold make up (s)", get(results, "up-cold", "cold_make_up_s"), "<= 120", lambda v: v <= 120)
    add("warm make up (s)", get(results, "up", "warm_make_up_s"), "<= 30", lambda v: v <= 30)
    add(
        "warm make demo (s)", get(results, "demo", "warm_make_demo_s"), "<= 120", lambda v: v <= 120
    )
    # Issue 18: the default-size batch inside `make demo` (its batch stage): a user's first
    # demo after `make up` (the service's warm-up done) and the next one. A demo at once
    # after the service starts is shown beside them, without a target: it interrupts the
    # warm-up, so its batch runs on a driver not yet compiled.
    add(
        "batch stage of the first make demo after make up (s)",
        get(results, "demo", "first_stages_s", "batch"),
        "<= 15",
        _le(15),
    )
    add(
        "batch stage of the next make demo (s)",
        get(results, "demo", "stages_s", "batch"),
        "<= 15",
        _le(15),
    )
    rows.append(
        (
            "batch stage of make demo at once after the service starts (s)",
            get(results, "demo", "at_once_stages_s", "batch"),
            "(none: warm-up cut short)",
            None,
        )
    )
    add(
        "idle stack RSS (MiB)",
        get(results, "memory", "idle_stack_rss_mib"),
        "<= 3072",
        lambda v: v <= 3072,
    )
    add("seed load (s)", get(results, "seed", "seconds"), "<= 60 for 1M", lambda v: v <= 60)
    add(
        "proxy batched / plain producer (JSON both)",
        get(results, "ingest", "b_over_a_json"),
        ">= 0.5",
        lambda v: v >= 0.5,
    )
    add(
        "proxy single-record requests/s",
        get(results, "ingest", "c_proxy_single_record_requests_per_s"),
        ">= 2000",
        lambda v: v >= 2000,
    )
    add(
        "emulator replay 11,153 events (s)",
        get(results, "ingest", "d_emulator_replay_seconds"),
        "<= 15",
        lambda v: v <= 15,
    )
    add(
        "landing records/s",
        get(results, "landing", "throughput", "landing_records_per_s"),
        ">= 5000",
        lambda v: v >= 5000,
    )
    add("POST -> S3 p95 (s)", get(results, "landing", "latency", "p95_s"), "<= 5", lambda v: v <= 5)
    # Issue 18: at 1,000,000 events the job <= 45 s (read <= 15 s), <= 4x DuckDB on the same
    # S3 objects, +10,000 events incremental <= 20 s; the default size (make demo's) <= 15 s.
    # Each figure twice: on the warm batch service `make batch` and `make demo` use by
    # default (spark/service.py), which the targets judge, and in a fresh process
    # (SPARK_SERVICE=0, the docker runtime), shown for reference without a verdict: its JVM
    # start and JIT set a floor on two cores.
    for run in get(results, "spark", "runs") or []:
        size = run.get("events", 0)
        for how, key in (("warm service", "service"), ("fresh process", "spark")):
            stages = run.get(f"{key}_stages") or {}
            total = run.get(f"{key}_seconds")
            inc_key = "incremental_seconds" if key == "spark" else "service_incremental_seconds"
            check = add if key == "service" else _reference(rows)
            if size >= 1_000_000:
                check(
                    f"Spark / DuckDB at {size:,} events ({how})",
                    run.get(f"{key}_over_duckdb"),
                    "<= 4",
                    lambda v: v <= 4,
                )
                check(f"Spark job at {size:,} events ({how}, s)", total, "<= 45", _le(45))
                check(
                    f"Spark read stage at {size:,} events ({how}, s)",
                    stages.get("read"),
                    "<= 15",
                    _le(15),
                )
                check(
                    f"Spark incremental +{run.get('incremental_events', 0):,} on {size:,} "
                    f"({how}, s)",
                    run.get(inc_key),
                    "<= 20",
                    _le(20),
                )
            else:
                check(f"Spark job at {size:,} events ({how}, s)", total, "<= 15", _le(15))
    add(
        "streaming capacity (events/s)",
        get(results, "streaming", "committed_events_per_s"),
        ">= 2000",
        lambda v: v >= 2000,
    )
    for load, at in (get(results, "streaming", "at_load") or {}).items():
        add(
            f"streaming POST -> Delta p95 at {load} (s)",
            at.get("latency_p95_s"),
            "<= 10",
            lambda v: v <= 10,
        )
    return rows


# --- the README paragraph -------------------------------------------------------------------


def _n(value: Any, digits: int = 0) -> str:
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return "?"


def traced(results: dict[str, Any]) -> dict[str, Any]:
    """The sections that say when and from which commit they were measured (and no error)."""
    return {
        k: v
        for k, v in results.items()
        if k in SECTIONS
        and isinstance(v, dict)
        and "commit" in v
        and "measured_at" in v
        and "error" not in v
    }


def readme_paragraph(document: dict[str, Any]) -> str:
    """The README's "How fast" paragraph, every figure read from the results document.

    Only sections carrying their provenance are quoted; a missing section's clause is left
    out rather than filled from anywhere else."""
    results = traced(document)
    if not results:
        raise ValueError(
            "no section of the results carries its commit and date: run `make bench` first"
        )
    g = _get
    parts: list[str] = []
    cold, warm = g(results, "up-cold", "cold_make_up_s"), g(results, "up", "warm_make_up_s")
    if warm is not None:
        parts.append(
            f"`make up` {_n(warm, 1)} s when running"
            + (f", {_n(cold)} s from stopped" if cold is not None else "")
        )
    if g(results, "demo", "warm_make_demo_s") is not None:
        text = f"warm `make demo` {_n(g(results, 'demo', 'warm_make_demo_s'))} s end to end"
        first = g(results, "demo", "first_stages_s", "batch")
        if first is not None:
            text += (
                f" (its batch stage {_n(first, 1)} s in the first demo after `make up`, "
                f"{_n(g(results, 'demo', 'stages_s', 'batch'), 1)} s in the next, "
                f"{_n(g(results, 'demo', 'at_once_stages_s', 'batch'), 1)} s in a demo run "
                "while the batch service was still warming up)"
            )
        parts.append(text)
    if g(results, "seed", "seconds") is not None:
        durability = g(results, "seed", "innodb", "innodb_flush_log_at_trx_commit")
        parts.append(
            f"{_n(g(results, 'seed', 'events'))} events seeded in "
            f"{_n(g(results, 'seed', 'seconds'))} s"
            + (
                f" (InnoDB `innodb_flush_log_at_trx_commit={durability}`)"
                if durability is not None
                else ""
            )
        )
    if g(results, "ingest", "b_proxy_batched_records_per_s") is not None:
        parts.append(
            f"the REST proxy at {_n(g(results, 'ingest', 'b_proxy_batched_records_per_s'))} "
            f"records/s batched ({_n(g(results, 'ingest', 'b_over_a_json'), 2)} of a plain "
            "producer, JSON encoding timed on both sides) and "
            f"{_n(g(results, 'ingest', 'c_proxy_single_record_requests_per_s'))} single-record "
            "requests/s; the full replay of "
            f"{_n(g(results, 'ingest', 'settings', 'replay_events'))} events in "
            f"{_n(g(results, 'ingest', 'd_emulator_replay_seconds'), 1)} s"
        )
    if g(results, "landing", "throughput", "landing_records_per_s") is not None:
        parts.append(
            f"landing {_n(g(results, 'landing', 'throughput', 'landing_records_per_s'))} "
            f"records/s with POST→S3 p95 {_n(g(results, 'landing', 'latency', 'p95_s'), 1)} s"
        )
    if g(results, "streaming", "committed_events_per_s") is not None:
        text = (
            f"streaming {_n(g(results, 'streaming', 'committed_events_per_s'))} events/s into "
            "Delta at most"
        )
        loads = g(results, "streaming", "at_load") or {}
        if loads:
            text += ", POST→Delta p50/p95 " + ", ".join(
                f"{_n(at.get('latency_p50_s'), 1)}/{_n(at.get('latency_p95_s'), 1)} s at {load} "
                f"of it ({_n(at.get('offered_events_per_s'))} events/s)"
                for load, at in loads.items()
            )
        parts.append(text)
    runs = g(results, "spark", "runs") or []
    if runs:
        parts.append(
            "the Spark batch job "
            + " and ".join(
                f"{_n(r.get('service_seconds'), 1)} s on the warm batch service at "
                f"{_n(r.get('events'))} events ({_n(r.get('spark_seconds'))} s in a fresh "
                f"process; DuckDB on the same S3 objects {_n(r.get('duckdb_seconds'), 1)} s)"
                for r in runs
            )
        )
    meta: dict[str, Any] = document.get("machine") or {}
    if not isinstance(meta, dict):
        meta = {}
    sections = list(results)
    commits = sorted({str(results[s].get("commit", "?"))[:10] for s in sections})
    dates = sorted(str(results[s].get("measured_at", "?"))[:10] for s in sections)
    head = (
        f"Measured with `make bench` on a {meta.get('cores', '?')}-core, "
        f"{meta.get('memory_gib', '?')} GiB machine (commit {', '.join(commits) or '?'}; "
        f"{dates[0] if dates else '?'}"
        + (f" to {dates[-1]}" if dates and dates[-1] != dates[0] else "")
        + "; every figure, its date and commit are in `bench/results.json`"
        + (
            "; smaller sizes of a `--quick` run"
            if any(v.get("quick") for v in results.values())
            else ""
        )
        + "): "
    )
    return head + "; ".join(parts) + "."


# --- main -----------------------------------------------------------------------------------


def run_sections(
    settings: Settings, names: list[str], quick: bool, previous: dict[str, Any]
) -> dict[str, Any]:
    """Run `names`, merged over `previous`; returns the whole results document."""
    git = git_state()
    # Keep only sections that carry their own provenance: a figure without its commit
    # cannot be traced to the code that produced it.
    kept = {
        k: v
        for k, v in previous.items()
        if k in SECTIONS and isinstance(v, dict) and "commit" in v and "measured_at" in v
    }  # (a kept section with an error stays: it says the last run of it failed)
    results: dict[str, Any] = {
        "written_at": now(),
        **git,
        "machine": machine(),
        "sections_run": names,
        **kept,
    }
    for name in names:
        print(f"==> {name}", flush=True)
        t0 = time.monotonic()
        try:
            figures = SECTIONS[name].run(settings, quick)
        except Exception as exc:  # one failed benchmark must not lose the others' figures
            traceback.print_exc()
            figures = {"error": f"{type(exc).__name__}: {exc}"}
        figures.update(
            measured_at=now(),
            **git,
            quick=quick,
            bench_seconds=round(time.monotonic() - t0, 1),
            load_average_1m=round(os.getloadavg()[0], 2),
        )
        results[name] = figures
    # Sections in registry order, whatever order they were run or merged in.
    head = {k: v for k, v in results.items() if k not in SECTIONS}
    return {**head, **{k: results[k] for k in SECTIONS if k in results}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="sections:\n" + "\n".join(f"  {s.name:<10} {s.help}" for s in SECTIONS.values()),
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated sections to run (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="print the README's figures paragraph from the JSON file; run nothing",
    )
    args = parser.parse_args(argv)
    if args.readme:
        if not args.out.exists():
            parser.error(f"{args.out} does not exist: run `make bench` first")
        try:
            print(readme_paragraph(json.loads(args.out.read_text())))
        except ValueError as exc:
            print(f"error: {args.out}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.only is None:
        names = [s.name for s in SECTIONS.values() if s.default]
    else:
        names = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    results = run_sections(load_settings(), names, args.quick, previous)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _print(results)
    print(f"figures written to {args.out}")
    return 0


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    meta = results.get("machine", {})
    table = Table(
        title=f"benchmarks — {results['written_at']}, {meta.get('cores')} cores, "
        f"commit {str(results.get('commit'))[:10]}{' (dirty)' if results.get('dirty') else ''}"
    )
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
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    for name, error in errors.items():
        Console().print(f"[red]{name} failed[/]: {error}")


if __name__ == "__main__":
    sys.exit(main())
