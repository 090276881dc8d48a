"""Benchmark: the Spark batch job vs DuckDB on the same landed objects in S3, by data size.

    python -m bench.spark                       # 11,153 and 1,000,000 events
    python -m bench.spark --sizes 11153         # just the default data set

For each size: generate the events (`seed_data.generate`, seed 0) once into the sink's
object layout under `<cache_dir>/bench/`, upload those objects to a bench namespace's
bucket, run `python -m spark.batch --full` there in a fresh process (so Spark start-up
counts), then compute the same nine answers with DuckDB reading the *same objects from the
same S3 endpoint* (its httpfs extension, from the `duckdb-extension-httpfs` wheel) and
writing its cleaned tables and answers back to the bucket as Parquet, so both sides do the
same work; check that both agree. Then land `INCREMENT` new events as new objects and time
an incremental `python -m spark.batch` on top. Prints the figures; `run()` returns them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
from minio.deleteobjects import DeleteObject
from rich.console import Console
from rich.table import Table

from bench.landed import upload_files, write_events
from services.clients import clients_for
from services.contracts.keys import OBJECT_SUFFIX, TOPICS_PREFIX, topic_prefix
from services.settings import PROJECT_ROOT, TABLES, Settings, SettingsError, load_settings

DEFAULT_SIZES = (11_153, 1_000_000)
SEED = 0
#: New events landed on top of a size for the incremental run's figure.
INCREMENT = 10_000
#: The landed layout at scale: the S3 sink configured as a production sink at this volume
#: would be, `flush.size` 50,000 records with the connector's 32 MiB cap per object (pin
#: objects ~25 MiB, geo and user ~5 MiB: 60 objects for 1,000,000 events). Below
#: `SCALE_FROM` events the layout is `make demo`'s sink default (`SINK_FLUSH_RECORDS`, 1,000).
#: DuckDB reads the very same objects, so the ratio stays like for like.
SCALE_FLUSH_RECORDS = 50_000
SCALE_FROM = 100_000


def flush_records(settings: Settings, size: int) -> int:
    """Records per landed object for a data set of `size` events (see SCALE_FLUSH_RECORDS)."""
    return SCALE_FLUSH_RECORDS if size >= SCALE_FROM else settings.sink_flush_records


def bench_settings(base: Settings, size: int) -> Settings:
    return base.model_copy(update={"pipeline_user_id": f"bench-spark-{size}"})


def _events_root(
    settings: Settings, name: str, evs: Any, per_object: int, first_offset: int = 0
) -> Path:
    root = settings.cache_dir / "bench" / f"{name}-flush{per_object}"
    done = root / ".complete"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        write_events(root, settings, evs, per_object=per_object, first_offset=first_offset)
        done.write_text("done\n")
    return root


def _keys(root: Path) -> dict[str, Path]:
    objects = (root / TOPICS_PREFIX).rglob(f"*{OBJECT_SUFFIX}")
    return {p.relative_to(root).as_posix(): p for p in objects}


def ensure_landed(settings: Settings, size: int) -> Path:
    """The events in the sink's layout on local disk and in the bench bucket (both cached).

    The bucket ends up holding exactly these objects: an earlier run's increment is removed.
    """
    from seed_data.generate import events

    root = _events_root(
        settings,
        f"spark-events-{size}-seed{SEED}",
        events(size=size, seed=SEED),
        flush_records(settings, size),
    )
    s3 = clients_for(settings).s3()
    if not s3.bucket_exists(settings.bucket):
        s3.make_bucket(settings.bucket)
    local = _keys(root)
    # Key and size: another layout (flush size) reuses some keys for different objects.
    remote = {
        o.object_name or "": o.size
        for o in s3.list_objects(settings.bucket, prefix=TOPICS_PREFIX, recursive=True)
        if (o.object_name or "").endswith(OBJECT_SUFFIX)
    }
    extra = sorted(set(remote) - set(local))
    if extra:
        errors = list(s3.remove_objects(settings.bucket, [DeleteObject(k) for k in extra]))
        if errors:
            raise RuntimeError(f"could not remove {len(errors)} old increment objects: {errors[0]}")
    missing = [local[k] for k in sorted(local) if remote.get(k) != local[k].stat().st_size]
    if missing:
        upload_files(settings, root, missing)
    return root


def land_increment(settings: Settings, size: int, count: int = INCREMENT) -> int:
    """`count` new events (keys after the `size` already landed) as new objects; returns
    how many objects were uploaded."""
    from seed_data.generate import events

    def shifted() -> Any:
        # New events: the same generator, keys moved past the first `size` events'.
        for e in events(size=count, seed=SEED + 1):
            e.pin["index"] += size
            e.geo["ind"] += size
            e.user["ind"] += size
            yield e

    root = _events_root(
        settings,
        f"spark-increment-{size}-{count}-seed{SEED + 1}",
        shifted(),
        flush_records(settings, size),
        first_offset=size,
    )
    files = list(_keys(root).values())
    return upload_files(settings, root, files)


def run_spark(
    settings: Settings, extra_env: dict[str, str] | None = None, *, full: bool = True
) -> dict[str, Any]:
    """`python -m spark.batch --json` in a fresh process: its summary plus the wall time."""
    env = {**os.environ, "PIPELINE_USER_ID": settings.pipeline_user_id, **(extra_env or {})}
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spark.batch",
            "--json",
            # Cold: its own JVM, never the warm batch service.
            "--in-process",
            *(["--full"] if full else []),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        # The tail alone is often the JVM's gateway closing; keep the whole output.
        log = settings.logs_dir / f"bench-spark-batch-{settings.pipeline_user_id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(done.stdout + "\n" + done.stderr)
        first = next(
            (ln for ln in done.stderr.splitlines() if "Exception" in ln or "Error" in ln), ""
        )
        raise RuntimeError(
            f"spark.batch failed (exit {done.returncode}); first error: {first[:300]}; "
            f"whole output in {log}"
        )
    summary: dict[str, Any] = json.loads(done.stdout)
    return {"wall": round(wall, 2), "summary": summary}


# --- DuckDB: the same job in SQL, written from the rules ---------------------------

_PIN_COLUMNS = {
    "index": "BIGINT",
    "unique_id": "VARCHAR",
    "title": "VARCHAR",
    "description": "VARCHAR",
    "poster_name": "VARCHAR",
    "follower_count": "VARCHAR",
    "tag_list": "VARCHAR",
    "is_image_or_video": "VARCHAR",
    "image_src": "VARCHAR",
    "downloaded": "BIGINT",
    "save_location": "VARCHAR",
    "category": "VARCHAR",
}
_GEO_COLUMNS = {
    "ind": "BIGINT",
    "timestamp": "VARCHAR",
    "latitude": "DOUBLE",
    "longitude": "DOUBLE",
    "country": "VARCHAR",
}
_USER_COLUMNS = {
    "ind": "BIGINT",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "age": "BIGINT",
    "date_joined": "VARCHAR",
}


def _null_if(col: str, *values: str) -> str:
    listed = ", ".join(["''", *(f"'{v}'" for v in values)])
    return f"CASE WHEN {col} IN ({listed}) THEN NULL ELSE {col} END"


_FOLLOWERS = r"^(\d+(\.\d+)?)([kKmM]?)$"
# Lines without a key are the Spark job's quarantine: DuckDB's ignore_errors keeps them as
# rows of nulls, so they are dropped here.
_CLEAN_SQL = f"""
CREATE TABLE pin AS
SELECT DISTINCT ON (ind) * FROM (
  SELECT CAST("index" AS INTEGER) AS ind, {_null_if("unique_id")} AS unique_id,
    {_null_if("title", "No Title Data Available")} AS title,
    {
    _null_if(
        "description",
        "No description available Story format",
        "No description available",
        "Untitled",
    )
} AS description,
    CASE WHEN regexp_matches(trim(follower_count), '{_FOLLOWERS}') THEN CAST(
      CAST(regexp_extract(trim(follower_count), '{_FOLLOWERS}', 1) AS DECIMAL(24, 3))
      * CASE upper(regexp_extract(trim(follower_count), '{_FOLLOWERS}', 3))
          WHEN 'K' THEN 1000 WHEN 'M' THEN 1000000 ELSE 1 END AS BIGINT) END
      AS follower_count,
    {_null_if("poster_name", "User Info Error")} AS poster_name,
    {_null_if("tag_list", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e")} AS tag_list,
    {_null_if("is_image_or_video")} AS is_image_or_video,
    {_null_if("image_src", "Image src error.")} AS image_src,
    regexp_replace({_null_if("save_location")}, '^Local save in ', '') AS save_location,
    {_null_if("category")} AS category
  FROM pin_raw WHERE "index" IS NOT NULL);
CREATE TABLE geo AS
SELECT DISTINCT ON (ind) CAST(ind AS INTEGER) AS ind, country,
  [latitude, longitude] AS coordinates, CAST("timestamp" AS TIMESTAMP) AS "timestamp"
FROM geo_raw WHERE ind IS NOT NULL;
CREATE TABLE "user" AS
SELECT DISTINCT ON (ind) CAST(ind AS INTEGER) AS ind, first_name || ' ' || last_name AS user_name,
  CAST(age AS INTEGER) AS age, CAST(date_joined AS TIMESTAMP) AS date_joined
FROM user_raw WHERE ind IS NOT NULL;
"""

_AGE_GROUP = """CASE WHEN age BETWEEN 18 AND 24 THEN '18-24' WHEN age BETWEEN 25 AND 35 THEN '25-35'
  WHEN age BETWEEN 36 AND 50 THEN '36-50' WHEN age > 50 THEN '+50' END"""
_GROUP_ORDER = (
    "CASE age_group WHEN '18-24' THEN 0 WHEN '25-35' THEN 1 WHEN '36-50' THEN 2 ELSE 3 END"
)


def _top(source: str, key: str, name: str, score: str, columns: str, order: str) -> str:
    return f"""SELECT {columns} FROM (
      SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {score} DESC, {name}) AS rk
      FROM ({source})) WHERE rk = 1 ORDER BY {order}"""


_PG = "SELECT * FROM pin JOIN geo USING (ind)"
_PU = (
    f"SELECT *, {_AGE_GROUP} AS age_group, year(date_joined) AS join_year "
    'FROM pin JOIN "user" USING (ind)'
)

QUESTIONS_SQL: dict[str, str] = {
    "popular_category_by_country": _top(
        f"SELECT country, category, count(*) AS category_count FROM ({_PG}) "
        "WHERE country IS NOT NULL AND category IS NOT NULL GROUP BY ALL",
        "country",
        "category",
        "category_count",
        "country, category, category_count",
        "country",
    ),
    "popular_category_by_year": _top(
        f"SELECT year(timestamp) AS post_year, category, count(*) AS category_count FROM ({_PG}) "
        "WHERE category IS NOT NULL AND year(timestamp) BETWEEN 2018 AND 2022 GROUP BY ALL",
        "post_year",
        "category",
        "category_count",
        "post_year, category, category_count",
        "post_year",
    ),
    "most_followed_user_by_country": _top(
        f"SELECT country, poster_name, follower_count FROM ({_PG}) WHERE country IS NOT NULL "
        "AND poster_name IS NOT NULL AND follower_count IS NOT NULL",
        "country",
        "poster_name",
        "follower_count",
        "country, poster_name, follower_count",
        "country",
    ),
    "top_country_by_most_followed_user": (
        f"SELECT country, max(follower_count) AS follower_count FROM ({_PG}) "
        "WHERE country IS NOT NULL AND poster_name IS NOT NULL AND follower_count IS NOT NULL "
        "GROUP BY country ORDER BY follower_count DESC, country LIMIT 1"
    ),
    "popular_category_by_age_group": _top(
        f"SELECT age_group, category, count(*) AS category_count FROM ({_PU}) "
        "WHERE age_group IS NOT NULL AND category IS NOT NULL GROUP BY ALL",
        "age_group",
        "category",
        "category_count",
        "age_group, category, category_count",
        _GROUP_ORDER,
    ),
    "median_followers_by_age_group": (
        f"SELECT age_group, CAST(median(follower_count) AS DOUBLE) AS median_follower_count "
        f"FROM ({_PU}) WHERE age_group IS NOT NULL AND follower_count IS NOT NULL "
        f"GROUP BY age_group ORDER BY {_GROUP_ORDER}"
    ),
    "users_joined_by_year": (
        "SELECT year(date_joined) AS post_year, count(*) AS number_users_joined FROM "
        '(SELECT DISTINCT user_name, age, date_joined FROM "user") '
        "WHERE year(date_joined) BETWEEN 2015 AND 2020 GROUP BY ALL ORDER BY post_year"
    ),
    "median_followers_by_join_year": (
        "SELECT join_year AS post_year, CAST(median(follower_count) AS DOUBLE) "
        f"AS median_follower_count FROM ({_PU}) WHERE join_year BETWEEN 2015 AND 2020 "
        "AND follower_count IS NOT NULL GROUP BY ALL ORDER BY post_year"
    ),
    "median_followers_by_join_year_and_age_group": (
        "SELECT age_group, join_year AS post_year, CAST(median(follower_count) AS DOUBLE) "
        f"AS median_follower_count FROM ({_PU}) WHERE join_year BETWEEN 2015 AND 2020 "
        "AND age_group IS NOT NULL AND follower_count IS NOT NULL GROUP BY age_group, join_year "
        f"ORDER BY {_GROUP_ORDER}, post_year"
    ),
}


def load_httpfs(con: duckdb.DuckDBPyConnection) -> str:
    """Load DuckDB's S3 reader: from the pinned wheel when installed, else DuckDB's own
    download (machines where the wheel does not exist, e.g. macOS). Returns where from."""
    try:
        import duckdb_extension_httpfs

        folder = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
        path = folder / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    except ImportError:
        path = None
    if path is not None and path.exists():
        con.execute(f"LOAD '{path}'")
        return str(path)
    con.execute("INSTALL httpfs")
    con.execute("LOAD httpfs")
    return "INSTALL httpfs"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_s3(settings: Settings, threads: int = 2) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes the settings' S3 endpoint, as Spark does."""
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    load_httpfs(con)
    endpoint = urlparse(settings.s3_endpoint)
    con.execute(
        "CREATE SECRET bench_s3 (TYPE s3, "
        f"KEY_ID {_sql_text(settings.s3_access_key.get_secret_value())}, "
        f"SECRET {_sql_text(settings.s3_secret_key.get_secret_value())}, "
        f"REGION {_sql_text(settings.s3_region)}, ENDPOINT {_sql_text(endpoint.netloc)}, "
        f"URL_STYLE 'path', USE_SSL {str(endpoint.scheme == 'https').lower()})"
    )
    return con


def run_duckdb(settings: Settings, threads: int = 2) -> dict[str, Any]:
    """The job in DuckDB over the bucket's objects: seconds per stage and the answers.

    Reads `s3://<bucket>/topics/...` and writes `s3://<bucket>/duckdb-bench/...`: the same
    objects, endpoint and kind of outputs as the Spark job.
    """
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    con = duckdb_s3(settings, threads)
    seconds["startup"] = time.perf_counter() - start
    out = f"s3://{settings.bucket}/duckdb-bench"
    start = time.perf_counter()
    for table, columns in (("pin", _PIN_COLUMNS), ("geo", _GEO_COLUMNS), ("user", _USER_COLUMNS)):
        glob = f"s3://{settings.bucket}/{topic_prefix(settings.topic(table))}**/*{OBJECT_SUFFIX}"
        cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
        con.execute(
            f"CREATE TABLE \"{table}_raw\" AS SELECT * FROM read_json('{glob}', "
            f"format = 'newline_delimited', columns = {cols}, ignore_errors = true)"
        )
    seconds["read"] = time.perf_counter() - start
    start = time.perf_counter()
    con.execute(_CLEAN_SQL)
    seconds["clean"] = time.perf_counter() - start
    start = time.perf_counter()
    answers = {}
    for name, sql in QUESTIONS_SQL.items():
        rel = con.sql(sql)
        answers[name] = [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]
    seconds["questions"] = time.perf_counter() - start
    start = time.perf_counter()
    for table in TABLES:
        con.execute(f"COPY \"{table}\" TO '{out}/cleaned/{table}.parquet' (FORMAT parquet)")
    for name, sql in QUESTIONS_SQL.items():
        con.execute(f"COPY ({sql}) TO '{out}/analytics/{name}.parquet' (FORMAT parquet)")
    seconds["write"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    rows = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}  # type: ignore[index]
    con.close()
    return {
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "answers": answers,
        "rows": rows,
    }


def run_on_service(settings: Settings, *, full: bool) -> dict[str, Any]:
    """The job on the warm batch service (`spark.service`): its summary plus the client's
    wall time (the request's whole round trip)."""
    from spark.batch import run_on_service as submit

    start = time.perf_counter()
    summary = submit(settings, full=full)
    return {"wall": round(time.perf_counter() - start, 2), "summary": asdict(summary)}


@contextmanager
def warm_service(base: Settings) -> Iterator[tuple[Settings, float]]:
    """A private batch service on a free port, warmed up once on generated events (never the
    bench data); yields settings pointing at it and the warm-up's seconds."""
    import requests

    from services.runner.child import free_port
    from spark.service import private_service

    port = free_port()
    child = private_service(base, port, name="bench-spark-service")
    child.start()
    try:
        start = time.perf_counter()
        resp = requests.post(f"http://127.0.0.1:{port}/warm-up", json={}, timeout=600)
        resp.raise_for_status()
        yield base.model_copy(update={"spark_service_port": port}), time.perf_counter() - start
    finally:
        child.stop()


def run(base: Settings, sizes: tuple[int, ...] = DEFAULT_SIZES) -> list[dict[str, Any]]:
    """Per size: the cold job (a fresh process), DuckDB, a cold incremental run; then the same
    full and incremental runs on one warm batch service, in size order."""
    with warm_service(base) as (service, warm_up):
        return [_run_size(base, service, size, warm_up) for size in sizes]


def _run_size(base: Settings, service: Settings, size: int, warm_up: float) -> dict[str, Any]:
    settings = bench_settings(base, size)
    start = time.perf_counter()
    ensure_landed(settings, size)
    prepare = time.perf_counter() - start
    load = _load_average()
    spark = run_spark(settings, full=True)
    duck = run_duckdb(settings)
    summary = spark["summary"]
    agree = json.loads(json.dumps(duck["answers"], default=str)) == summary["answers"]
    new_objects = land_increment(settings, size)
    increment = run_spark(settings, full=False)
    inc = increment["summary"]
    # The warm service on the same data: the increment's objects go, the full run
    # rebuilds from the base objects, then the same increment lands again as new.
    ensure_landed(settings, size)
    on_service = bench_settings(service, size)
    warm = run_on_service(on_service, full=True)
    warm_agree = warm["summary"]["answers"] == summary["answers"]
    land_increment(settings, size)
    warm_inc = run_on_service(on_service, full=False)
    warm_total = warm["summary"]["seconds"]["total"]
    return {
        "events": size,
        "prepare_seconds": round(prepare, 1),
        # The job's own total (start-up included), per stage, and the process's wall.
        "spark_seconds": summary["seconds"]["total"],
        "spark_stages": summary["seconds"],
        "spark_wall": spark["wall"],
        "spark_objects_read": sum(summary["objects_read"].values()),
        "spark_s3_requests": summary.get("requests", {}),
        "duckdb_seconds": duck["seconds"]["total"],
        "duckdb_stages": duck["seconds"],
        "duckdb_source": "the same S3 objects (httpfs)",
        "spark_over_duckdb": round(summary["seconds"]["total"] / duck["seconds"]["total"], 2),
        "cleaned_rows": summary["cleaned_rows"],
        "duckdb_rows": duck["rows"],
        "answers_agree": agree,
        "incremental_events": INCREMENT,
        "incremental_objects": new_objects,
        "incremental_seconds": inc["seconds"]["total"],
        "incremental_stages": inc["seconds"],
        "incremental_wall": increment["wall"],
        "incremental_new_rows": inc["new_rows"],
        "incremental_s3_requests": inc.get("requests", {}),
        # The same job on the warm batch service (one long-lived driver, warmed
        # once on generated events, then every earlier run of this bench).
        "service_seconds": warm_total,
        "service_stages": warm["summary"]["seconds"],
        "service_wall": warm["wall"],
        "service_over_duckdb": round(warm_total / duck["seconds"]["total"], 2),
        "service_answers_agree": warm_agree,
        "service_incremental_seconds": warm_inc["summary"]["seconds"]["total"],
        "service_incremental_stages": warm_inc["summary"]["seconds"],
        "service_incremental_wall": warm_inc["wall"],
        "service_incremental_new_rows": warm_inc["summary"]["new_rows"],
        "service_warm_up_seconds": round(warm_up, 1),
        "load_average_1m_before": load,
        "load_average_1m_after": _load_average(),
    }


def _load_average() -> float:
    # The machine is shared: a figure means little without how busy it was.
    return round(os.getloadavg()[0], 2)


def _requests(counts: dict[str, int]) -> str:
    return " ".join(f"{k} {v:,}" for k, v in counts.items()) or "n/a"


def print_results(results: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="Spark batch job vs DuckDB (seconds)", title_justify="left")
    for col in ("events", "engine", "startup", "read", "clean", "questions", "write", "total"):
        table.add_column(col, justify="right")
    table.add_column("answers agree")
    for r in results:
        s, d = r["spark_stages"], r["duckdb_stages"]
        table.add_row(
            f"{r['events']:,}",
            "Spark",
            *(f"{s[k]:.1f}" for k in ("startup", "read", "clean", "questions", "write", "total")),
            "",
        )
        table.add_row(
            "",
            "DuckDB",
            *(f"{d[k]:.1f}" for k in ("startup", "read", "clean", "questions", "write", "total")),
            "yes" if r["answers_agree"] else "NO",
        )
        i = r["incremental_stages"]
        table.add_row(
            f"+{r['incremental_events']:,}",
            "Spark, incremental",
            *(f"{i[k]:.1f}" for k in ("startup", "read", "clean", "questions", "write", "total")),
            "",
        )
        w, wi = r["service_stages"], r["service_incremental_stages"]
        table.add_row(
            "",
            "Spark, warm service",
            *(f"{w[k]:.1f}" for k in ("startup", "read", "clean", "questions", "write", "total")),
            "yes" if r["service_answers_agree"] else "NO",
        )
        table.add_row(
            f"+{r['incremental_events']:,}",
            "warm service, incremental",
            *(f"{wi[k]:.1f}" for k in ("startup", "read", "clean", "questions", "write", "total")),
            "",
        )
    console.print(table)
    for r in results:
        console.print(
            f"{r['events']:,} events: Spark {r['spark_seconds']:.1f} s "
            f"(process wall {r['spark_wall']:.1f} s, {r['spark_objects_read']:,} objects, "
            f"S3 requests {_requests(r['spark_s3_requests'])}) = "
            f"{r['spark_over_duckdb']}x DuckDB's {r['duckdb_seconds']:.1f} s (same S3 objects); "
            f"+{r['incremental_events']:,} events incremental {r['incremental_seconds']:.1f} s "
            f"(wall {r['incremental_wall']:.1f} s); "
            f"warm batch service {r['service_seconds']:.1f} s "
            f"(request wall {r['service_wall']:.1f} s, {r['service_over_duckdb']}x DuckDB), "
            f"incremental {r['service_incremental_seconds']:.1f} s "
            f"(wall {r['service_incremental_wall']:.1f} s; its warm-up "
            f"{r['service_warm_up_seconds']:.1f} s); load average "
            f"{r['load_average_1m_before']} -> {r['load_average_1m_after']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    try:
        results = run(load_settings(), tuple(args.sizes))
    except (SettingsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_results(results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
