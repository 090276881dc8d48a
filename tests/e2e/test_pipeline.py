"""The whole flow, end to end, against the real stack: every record accounted for.

Each test runs the demo's stages in its own namespace (PIPELINE_USER_ID) and its own MySQL
database, so runs never collide, and checks the reconciliation exactly, the counts from
independent sources, and every answer against an independent computation from the MySQL rows
(tests/support/pipeline_checks.py). The fault cases are in test_faults.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.clients import clients_for
from services.demo.run import DemoResult
from services.settings import TABLES, Settings
from tests.support import pipeline_checks as checks
from tests.support import png
from tests.support.spark_session import spark_session

__all__ = ["spark_session"]

pytestmark = pytest.mark.e2e

SIZE = 2000


CleanRun = tuple[Settings, DemoResult, checks.Rows]


@pytest.fixture(scope="module")
def clean_run(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory, spark_session: Any
) -> Iterator[CleanRun]:
    report = tmp_path_factory.mktemp("report")
    with checks.demo_run(stack, report, "e2e", SIZE, spark=spark_session) as run:
        yield run


def test_every_record_is_accounted_for(clean_run: CleanRun) -> None:
    _settings, result, _rows = clean_run
    assert result.ok
    for r in result.reconciliation:
        assert (r.mysql_rows, r.acknowledged, r.kafka_end_offsets) == (SIZE, SIZE, SIZE), r
        assert (r.landed_distinct, r.cleaned_rows, r.lost, r.doubled) == (SIZE, SIZE, 0, 0), r


def test_every_answer_matches_an_independent_computation(clean_run: CleanRun) -> None:
    _settings, result, rows = clean_run
    checks.answers_match_reference(result, rows)


def test_independent_counts_agree(clean_run: CleanRun) -> None:
    settings, result, rows = clean_run
    counts = checks.accounted(settings, result, rows)
    # No fault, so not even an at-least-once re-send.
    assert all(c["kafka_resent"] == 0 for c in counts.values()), counts


def test_landed_objects_follow_the_connector_layout(clean_run: CleanRun) -> None:
    settings, _result, _rows = clean_run
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
