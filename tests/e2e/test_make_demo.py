"""`make demo`, exactly as the README tells a new user to run it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT, Settings
from tests.support.namespaces import drop_namespace

pytestmark = pytest.mark.e2e


def test_make_demo_accounts_for_every_record(stack: Settings) -> None:
    # Rich draws its tables with box characters when the output encoding is UTF-8.
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run(
        ["make", "demo"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, env=env
    )
    namespace = re.search(r"namespace (demo-\d{8}-\d{6})", out.stdout)
    try:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "nothing lost" in out.stdout
        assert namespace, "the demo names its namespace"
        recon = out.stdout[out.stdout.index("reconciliation —") :]
        for table in ("pin", "geo", "user"):
            # table, MySQL rows, acked, Kafka offsets, landed, cleaned, lost, doubled
            row = re.search(rf"│ {table}\s*│([^\n]*)", recon)
            assert row, f"no reconciliation row for {table}"
            cells = [c.strip().replace(",", "") for c in row.group(1).split("│") if c.strip()]
            assert cells == ["11153"] * 5 + ["0", "0"], (table, cells)
        report = Path(PROJECT_ROOT / "build" / "demo" / f"report-{namespace.group(1)}.html")
        assert report.exists() and 'id="reconciliation"' in report.read_text()
    finally:
        if namespace:
            drop_namespace(stack.model_copy(update={"pipeline_user_id": namespace.group(1)}))
