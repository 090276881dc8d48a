"""The Databricks notebook runs as written, on a local folder standing in for the mount.

`dbutils` and `display` are small fakes (Databricks gives the notebook the real ones); the
notebook's own code, the job and every question run for real on the local SparkSession.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from bench.landed import json_line, write_events
from seed_data.generate import events
from services.settings import PROJECT_ROOT, load_settings
from spark.questions import QUESTIONS
from tests.support.spark_session import spark_session

pytestmark = pytest.mark.integration  # starts a local Spark (a JVM)
__all__ = ["spark_session"]

NOTEBOOK = PROJECT_ROOT / "spark" / "notebook" / "pinterest_batch.py"


class FakeDbutils:
    """The parts of Databricks' `dbutils` the notebook calls."""

    def __init__(self, widgets: dict[str, str], mount: str) -> None:
        self._values = widgets
        self.defined: list[str] = []
        self.widgets = SimpleNamespace(text=self._text, get=self._values.__getitem__)
        self.fs = SimpleNamespace(
            mounts=lambda: [SimpleNamespace(mountPoint=mount)],
            mount=self._refuse,
            ls=lambda path: sorted(p.name for p in Path(path.removeprefix("file:")).iterdir()),
            put=self._put,
        )
        self.secrets = SimpleNamespace(get=self._refuse)

    def _text(self, name: str, default: str, label: str) -> None:
        self.defined.append(name)

    @staticmethod
    def _refuse(*args: Any) -> None:
        raise AssertionError("the mount exists: the notebook must not mount or read secrets")

    @staticmethod
    def _put(path: str, text: str, overwrite: bool) -> None:
        assert overwrite
        Path(path.removeprefix("file:")).write_text(text)


def test_notebook_runs_on_a_mounted_folder(spark_session: SparkSession, tmp_path: Path) -> None:
    settings = load_settings(pipeline_user_id="nb")
    evs = list(events(size=300, seed=5))
    extra = {"pin": [json_line(evs[0].pin), b"{cut off"], "geo": [], "user": []}
    write_events(tmp_path, settings, evs, per_object=100, extra=extra)

    mount = f"file:{tmp_path}"
    widgets = {"user_id": "nb", "mount_point": mount, "secret_scope": "s", "full_rebuild": "false"}
    dbutils = FakeDbutils(widgets, mount)
    shown: list[Any] = []

    def display(value: Any) -> None:
        shown.append(value.collect() if isinstance(value, DataFrame) else value)

    scope: dict[str, Any] = {
        "__name__": "__notebook__",
        "spark": spark_session,
        "dbutils": dbutils,
        "display": display,
    }
    exec(compile(NOTEBOOK.read_text(), str(NOTEBOOK), "exec"), scope)

    assert dbutils.defined == ["user_id", "mount_point", "secret_scope", "full_rebuild"]
    # ls of topics/, the three cleaned tables, the nine questions, one answer read back.
    assert shown[0] == ["nb.geo", "nb.pin", "nb.user"]
    assert [len(rows) for rows in shown[1:4]] == [300, 300, 300]
    assert len(shown) == 1 + 3 + len(QUESTIONS) + 1

    summary = scope["summary"]
    assert summary.rows_read == {"pin": 302, "geo": 300, "user": 300}
    assert summary.corrupt_lines == {"pin": 1, "geo": 0, "user": 0}
    assert summary.duplicates_removed == {"pin": 1, "geo": 0, "user": 0}
    stored = json.loads((tmp_path / "analytics" / "_run.json").read_text())
    assert stored["cleaned_rows"] == {"pin": 300, "geo": 300, "user": 300}
    for name in QUESTIONS:
        assert list((tmp_path / "analytics" / name).glob("*.parquet")), name
        # The step-by-step cells and the job agree.
        assert stored["answers"][name] == [
            row.asDict() for row in shown[4 + list(QUESTIONS).index(name)]
        ]
    assert (tmp_path / "quarantine" / "pin").is_dir()
    assert sorted(p.name for p in (tmp_path / "cleaned").iterdir()) == ["geo", "pin", "user"]
