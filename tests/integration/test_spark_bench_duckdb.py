"""The bench's DuckDB side reads the landed objects from the real S3 endpoint, like Spark.

DuckDB's httpfs extension comes from a pinned wheel (DuckDB cannot download extensions
everywhere); its answers over the namespace's objects must equal the plain-Python reference.
"""

from __future__ import annotations

import platform
from pathlib import Path

import duckdb
import pytest

from bench import spark as bench
from bench.landed import upload, write_events
from seed_data.generate import events
from services.settings import TABLES, Settings
from tests.support import spark_reference as ref

pytestmark = pytest.mark.integration

KEYS = {"pin": "index", "geo": "ind", "user": "ind"}


def test_httpfs_loads_from_the_pinned_wheel_without_a_download() -> None:
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    source = bench.load_httpfs(con)
    loaded = con.sql(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
    ).fetchone()
    assert loaded == (True,)
    if platform.system() == "Linux" and platform.machine() == "x86_64":
        assert source.endswith("httpfs.duckdb_extension"), source


def test_duckdb_answers_from_the_s3_objects_match_the_reference(
    ns: Settings, tmp_path: Path
) -> None:
    evs = list(events(size=800, seed=31))
    write_events(tmp_path, ns, evs, per_object=300, extra={"pin": [b"{cut"]})
    assert upload(ns, tmp_path) == 9

    result = bench.run_duckdb(ns)

    lines = {
        t: [
            line
            for f in sorted(tmp_path.rglob(f"topics/*.{t}/partition=0/*.json"))
            for line in f.read_bytes().splitlines()
        ]
        for t in TABLES
    }
    parsed = {t: ref.parse_lines(lines[t], KEYS[t], ref.NUMERIC[t])[0] for t in TABLES}
    tables = {t: ref.dedupe(parsed[t], KEYS[t]) for t in TABLES}
    expected = ref.answers(tables["pin"], tables["geo"], tables["user"])
    assert result["rows"] == dict.fromkeys(TABLES, 800)
    for name, rows in expected.items():
        assert rows, name
        assert [tuple(r.values()) for r in result["answers"][name]] == rows, name
    # DuckDB wrote its outputs back to the same bucket, as the Spark job does.
    from services.clients import clients_for

    written = {
        o.object_name
        for o in clients_for(ns).s3().list_objects(ns.bucket, "duckdb-bench/", recursive=True)
    }
    assert "duckdb-bench/cleaned/pin.parquet" in written
    assert len(written) == len(TABLES) + len(expected)
