"""The demo's stages, in the order data flows: up, seed, replay, land, batch, report.

Each stage is timed; a failing one is named with the log that explains it. The demo runs
in a fresh namespace per run (`demo-<UTC time>`): topics, bucket and connector offsets
start empty, so a second run never mixes with the first, and earlier runs stay readable
(`PIPELINE_USER_ID=demo-... make batch`). `--user-id` reuses a namespace on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from services.demo import reconcile, report_html
from services.settings import PROJECT_ROOT, TABLES, Settings

T = TypeVar("T")


class StageFailed(RuntimeError):
    def __init__(self, stage: str, problem: str, log: str) -> None:
        super().__init__(f"stage '{stage}' failed: {problem}\n  look at: {log}")
        self.stage = stage


@dataclass
class DemoResult:
    user_id: str
    ok: bool
    reconciliation: list[reconcile.Reconciliation]
    answers: dict[str, list[dict[str, Any]]]
    seconds: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None
    replay_line: str = ""
    #: requests and reads the emulator retried (a fault during the replay makes some)
    replay_retried: int = 0
    batch: Any = None  # spark.batch.RunSummary (imported lazily: Spark is heavy)


def run_id() -> str:
    return "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _logs(settings: Settings) -> dict[str, str]:
    logs = settings.logs_dir
    return {
        "up": f"{logs}/ (one file per service; `make logs`)",
        "seed": f"{logs}/mysql.log",
        "replay": f"{logs}/rest-proxy.log",
        "land": f"{logs}/connect.log (the namespace's S3 sink connector; `make status`, "
        "`python -m services.landing verify`)",
        "batch": "the Spark output above",
        "report": "the message above",
    }


@contextmanager
def _stage(name: str, seconds: dict[str, float], settings: Settings) -> Iterator[None]:
    print(f"==> {name}", flush=True)
    t0 = time.monotonic()
    try:
        yield
    except StageFailed:
        raise
    except Exception as exc:  # every stage's failure is reported with where to look
        raise StageFailed(name, f"{type(exc).__name__}: {exc}", _logs(settings)[name]) from exc
    finally:
        seconds[name] = time.monotonic() - t0


def run_demo(
    base: Settings,
    *,
    size: int | None = None,
    user_id: str | None = None,
    report_dir: Path | None = None,
    land_timeout: float = 300.0,
    progress: bool | None = None,
    replay_rate: float | None = None,
    during_replay: Callable[[Settings], None] | None = None,
    spark: Any = None,
) -> DemoResult:
    """Run every stage; `during_replay` runs in a thread beside the replay (fault tests).

    The replay stage waits for `during_replay` to finish and re-raises its error, so a fault
    that could not be injected fails the run instead of passing unnoticed. `spark` is a
    SparkSession to reuse (tests share one); without it the batch stage builds its own.
    """
    from seed_data import generate
    from seed_data import load as seed_load
    from services.emulator import replay
    from services.landing.verify import wait_until_landed
    from services.stack import connectors, lifecycle
    from spark import batch

    seconds: dict[str, float] = {}
    settings = base.model_copy(update={"pipeline_user_id": user_id or run_id()})
    size = size or generate.DEFAULT_SIZE

    with _stage("up", seconds, settings):
        # Starts the warm batch service too (SPARK_SERVICE=0: not used), which warms itself
        # up while the demo seeds, replays and lands; the batch stage interrupts that.
        lifecycle.up(base, quiet=True)
        lifecycle.ensure_namespace(settings)
    with _stage("seed", seconds, settings):
        seeded = seed_load.load(settings, size)
        print(
            f"    {seeded.database}: {seeded.size:,} events "
            f"({'loaded' if seeded.loaded else 'already loaded'})"
        )
        mysql_rows = reconcile.mysql_counts(settings)
    with _stage("replay", seconds, settings), _beside(during_replay, settings) as side:
        summary = replay.run(settings, progress=progress, rate=replay_rate)
        if side is not None:
            side.result()  # the work's own error, if any, fails the stage
        print(f"    {summary.line()}")
        if not summary.ok:
            raise StageFailed(
                "replay", summary.error or "records failed", _logs(settings)["replay"]
            )
    with _stage("land", seconds, settings):
        expect = {settings.topic(t): mysql_rows[t] for t in TABLES}
        landing = wait_until_landed(settings, land_timeout, expect=expect)
        print(f"    landed {landing.total('landed'):,} of {landing.total('expected'):,} records")
        if not landing.complete:
            raise StageFailed(
                "land", "; ".join(landing.problems()[:5]) or "not complete", _logs(settings)["land"]
            )
        if user_id is None:
            # A run's own namespace is done landing: its connector would only idle in the
            # worker, one more per run. What landed stays; `PIPELINE_USER_ID=<id> make up`
            # registers it again, and it resumes after what landed.
            name, _config = connectors.local_connector_config(settings)
            connectors.unregister(settings, name)
    with _stage("batch", seconds, settings):
        if spark is not None:
            result = batch.run(settings, spark)
        else:
            result, where = batch.run_anywhere(settings)
            print(f"    ran {'on the warm batch service' if where == 'service' else 'in-process'}")
    rows = reconcile.reconcile(
        mysql_rows=mysql_rows,
        acknowledged=summary.acknowledged_by_table,
        kafka_end_offsets={t: landing.topic(settings.topic(t)).total("expected") for t in TABLES},
        landed_distinct={t: landing.topic(settings.topic(t)).total("landed") for t in TABLES},
        landed_doubled={t: landing.topic(settings.topic(t)).total("doubled") for t in TABLES},
        cleaned_rows=result.cleaned_rows,
    )
    ok = all(r.lost == 0 for r in rows)
    demo = DemoResult(
        user_id=settings.pipeline_user_id,
        ok=ok,
        reconciliation=rows,
        answers=result.answers,
        seconds=seconds,
        replay_line=summary.line(),
        replay_retried=summary.retried,
        batch=result,
    )
    with _stage("report", seconds, settings):
        demo.report_path = write_report(
            settings, demo, report_dir or PROJECT_ROOT / "build" / "demo"
        )
    return demo


@contextmanager
def _beside(
    work: Callable[[Settings], None] | None, settings: Settings
) -> Iterator[Future[None] | None]:
    """Run `work` in a thread; on leaving, wait for it even if the replay failed."""
    if work is None:
        yield None
        return
    with ThreadPoolExecutor(1, thread_name_prefix="beside-replay") as pool:
        yield pool.submit(work, settings)


def write_report(settings: Settings, demo: DemoResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"report-{settings.pipeline_user_id}.html"
    html = report_html.render(
        title=f"Pinterest pipeline demo — {settings.pipeline_user_id}",
        answers=demo.answers,
        reconciliation=[r.as_row() for r in demo.reconciliation],
        timings=demo.seconds,
        facts={
            "namespace (PIPELINE_USER_ID)": settings.pipeline_user_id,
            "topics": ", ".join(settings.topics),
            "bucket": settings.bucket,
            "MySQL database": settings.mysql_database,
            "emulator": demo.replay_line,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        },
        ok=demo.ok,
    )
    path.write_text(html, encoding="utf-8")
    (folder / "latest.html").write_text(html, encoding="utf-8")
    return path
