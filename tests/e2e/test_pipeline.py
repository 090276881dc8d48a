"""The whole flow, end to end, against the real stack: every record accounted for.

Each test runs the demo's stages in its own namespace (PIPELINE_USER_ID) and its own MySQL
database, so runs never collide, and checks the reconciliation exactly and every answer
against an independent computation from the MySQL rows (tests/e2e/reference.py).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from services.clients import clients_for
from services.demo.run import DemoResult, run_demo
from services.settings import TABLES, Settings
from services.stack import lifecycle
from services.stack.supervisor import Supervisor
from tests import spark_reference as reference
from tests.conftest import drop_namespace
from tests.e2e import png

pytestmark = pytest.mark.e2e

SIZE = 2000


def _isolated(stack: Settings, prefix: str) -> Settings:
    uid = f"{prefix}{uuid.uuid4().hex[:8]}"
    return stack.model_copy(update={"mysql_database": f"e2e_{uid.replace('-', '_')}"})


def _drop_database(settings: Settings) -> None:
    engine = clients_for(settings).mysql_engine(admin=True, database=False)
    with engine.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{settings.mysql_database}`"))
    engine.dispose()


def _mysql_rows(settings: Settings) -> dict[str, list[dict[str, object]]]:
    engine = clients_for(settings).mysql_engine(admin=True)
    out = {}
    with engine.connect() as conn:
        for t, name in (
            ("pin", "pinterest_data"),
            ("geo", "geolocation_data"),
            ("user", "user_data"),
        ):
            out[t] = [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM `{name}`"))]
    engine.dispose()
    return out


CleanRun = tuple[Settings, DemoResult, dict[str, list[dict[str, object]]]]


@contextmanager
def _run(
    stack: Settings,
    tmp_path: Path,
    prefix: str,
    during: Callable[[Settings], None] | None = None,
    rate: float | None = None,
) -> Iterator[tuple[Settings, DemoResult]]:
    settings = _isolated(stack, prefix)
    user_id = f"{prefix}{uuid.uuid4().hex[:8]}"
    try:
        result = run_demo(
            settings,
            size=SIZE,
            user_id=user_id,
            report_dir=tmp_path,
            land_timeout=240,
            progress=False,
            replay_rate=rate,
            during_replay=during,
        )
        yield settings, result
    finally:
        _drop_database(settings)
        drop_namespace(settings.model_copy(update={"pipeline_user_id": user_id}))


@pytest.fixture(scope="module")
def clean_run(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRun]:
    with _run(stack, tmp_path_factory.mktemp("report"), "e2e-") as (settings, result):
        yield settings, result, _mysql_rows(settings)


def test_every_record_is_accounted_for(clean_run: CleanRun) -> None:
    _settings, result, _rows = clean_run
    assert result.ok
    for r in result.reconciliation:
        assert (r.mysql_rows, r.acknowledged, r.kafka_end_offsets) == (SIZE, SIZE, SIZE), r
        assert (r.landed_distinct, r.cleaned_rows, r.lost, r.doubled) == (SIZE, SIZE, 0, 0), r


def _as_posted(row: dict[str, object]) -> dict[str, object]:
    """A MySQL row as the emulator posts it: datetimes as "YYYY-MM-DD HH:MM:SS" strings."""
    return {
        k: v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else v for k, v in row.items()
    }


def _rounded(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]


def test_every_answer_matches_an_independent_computation(clean_run: CleanRun) -> None:
    _settings, result, rows = clean_run
    keyed = {
        t: {int(r["index" if t == "pin" else "ind"]): _as_posted(r) for r in rows[t]}  # type: ignore[call-overload]
        for t in TABLES
    }
    expected = reference.answers(keyed["pin"], keyed["geo"], keyed["user"])
    assert set(result.answers) == set(expected)
    for name, want in expected.items():
        got = [tuple(r.values()) for r in result.answers[name]]
        assert _rounded(got) == _rounded(want), name


def test_landed_objects_follow_the_connector_layout(clean_run: CleanRun) -> None:
    settings, result, _rows = clean_run
    settings = settings.model_copy(update={"pipeline_user_id": result.user_id})
    s3 = clients_for(settings).s3()
    for t in TABLES:
        topic = settings.topic(t)
        keys = [o.object_name for o in s3.list_objects(settings.bucket, f"topics/{topic}/", True)]
        assert keys, topic
        for key in keys:
            name = key.rsplit("/", 1)[1]
            assert key.startswith(f"topics/{topic}/partition=0/{topic}+0+"), key
            assert name.endswith(".json") and len(name.split("+")[2]) == len("0000000000.json")


def test_report_renders_in_a_real_browser(clean_run: CleanRun, tmp_path: Path) -> None:
    _settings, result, _rows = clean_run
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by `make test` (services.stack install-test-tools)"
    assert result.report_path is not None and result.report_path.exists()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = result.report_path.resolve().as_uri()
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count('class="chart"') >= 4, "the charts did not render into the DOM"
    assert 'id="reconciliation"' in dom
    assert "Every record accounted for" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1200,1600", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert png.non_white_share(data) > 0.03, "the screenshot is (nearly) blank"
    assert png.colour_share(data, (0xE6, 0x00, 0x23)) > 0.001, "no chart bars visible"


def _when_pin_offsets_reach(settings: Settings, count: int, timeout: float = 120) -> None:
    consumer = clients_for(settings).kafka_consumer(f"watch-{uuid.uuid4().hex[:6]}")
    from confluent_kafka import KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(settings.topic("pin"), 0), timeout=5
                )
            except KafkaException:  # metadata not there yet, or the broker is restarting
                high = -1
            if high >= count:
                return
            time.sleep(0.1)
    finally:
        consumer.close()
    raise AssertionError(f"replay never reached {count} pin records")


def _fault(service: str, kill: bool) -> Callable[[Settings], None]:
    def inject(settings: Settings) -> None:
        _when_pin_offsets_reach(settings, SIZE // 3)
        sup = Supervisor(settings)
        if kill:
            sup.kill(service)
        lifecycle.restart(settings, service)

    return inject


@pytest.mark.parametrize(
    ("service", "kill"),
    [("kafka", True), ("rest-proxy", False), ("s3-sink", False), ("connect", False)],
)
def test_nothing_is_lost_when_a_service_fails_mid_run(
    stack: Settings, tmp_path: Path, service: str, kill: bool
) -> None:
    with _run(stack, tmp_path, "fault-", during=_fault(service, kill), rate=400) as (_s, result):
        for r in result.reconciliation:
            assert r.lost == 0, r
            assert r.cleaned_rows == SIZE, r
            # At-least-once may double records under faults; de-duplication removed them.
            assert r.kafka_end_offsets >= SIZE and r.landed_distinct == r.kafka_end_offsets, r
