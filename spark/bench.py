"""Benchmark: the Spark batch job on S3 vs DuckDB on the same landed JSON, by data size.

    python -m spark.bench                       # 11,153 and 1,000,000 events
    python -m spark.bench --sizes 11153         # just the default data set

For each size: generate the events (`seed_data.generate`, seed 0) once into the sink's
object layout under `<cache_dir>/bench/`, upload those objects to a bench namespace's
bucket, run `python -m spark.batch` there in a fresh process (so Spark start-up counts),
then compute the same nine answers with DuckDB over the *same files on local disk* (DuckDB's
S3 support is an extension it would download, which this project cannot rely on), and
check that both agree. DuckDB writes its answers and cleaned tables as Parquet to a temp
folder so both sides do the same work. Prints the figures; `run()` returns them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from services.clients import clients_for
from services.settings import PROJECT_ROOT, TABLES, Settings, SettingsError, load_settings
from spark.landed import upload, write_events

DEFAULT_SIZES = (11_153, 1_000_000)
SEED = 0


def bench_settings(base: Settings, size: int) -> Settings:
    return base.model_copy(update={"pipeline_user_id": f"bench-spark-{size}"})


def ensure_landed(settings: Settings, size: int) -> Path:
    """The events in the sink's layout on local disk and in the bench bucket (both cached)."""
    from seed_data.generate import events

    root = settings.cache_dir / "bench" / f"spark-events-{size}-seed{SEED}"
    done = root / ".complete"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        write_events(root, settings, events(size=size, seed=SEED))
        done.write_text(f"{size}\n")
    s3 = clients_for(settings).s3()
    if not s3.bucket_exists(settings.bucket):
        s3.make_bucket(settings.bucket)
    local = sum(1 for _ in (root / "topics").rglob("*.json"))
    remote = sum(
        1
        for o in s3.list_objects(settings.bucket, prefix="topics/", recursive=True)
        if (o.object_name or "").endswith(".json")
    )
    if remote != local:
        upload(settings, root)
    return root


def run_spark(settings: Settings, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """`python -m spark.batch --json` in a fresh process: its summary plus the wall time."""
    env = {**os.environ, "PIPELINE_USER_ID": settings.pipeline_user_id, **(extra_env or {})}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "spark.batch", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"spark.batch failed:\n{done.stderr[-2000:]}")
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
  FROM pin_raw);
CREATE TABLE geo AS
SELECT DISTINCT ON (ind) CAST(ind AS INTEGER) AS ind, country,
  [latitude, longitude] AS coordinates, CAST("timestamp" AS TIMESTAMP) AS "timestamp"
FROM geo_raw;
CREATE TABLE "user" AS
SELECT DISTINCT ON (ind) CAST(ind AS INTEGER) AS ind, first_name || ' ' || last_name AS user_name,
  CAST(age AS INTEGER) AS age, CAST(date_joined AS TIMESTAMP) AS date_joined
FROM user_raw;
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


def run_duckdb(root: Path, settings: Settings, threads: int = 2) -> dict[str, Any]:
    """The job in DuckDB over the local copies: seconds per stage and the answers."""
    seconds: dict[str, float] = {}
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    out = Path(tempfile.mkdtemp(prefix="duckdb-bench-"))
    start = time.perf_counter()
    for table, columns in (("pin", _PIN_COLUMNS), ("geo", _GEO_COLUMNS), ("user", _USER_COLUMNS)):
        glob = root / "topics" / settings.topic(table) / "**" / "*.json"
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
        con.execute(f"COPY \"{table}\" TO '{out / table}.parquet' (FORMAT parquet)")
    for name, sql in QUESTIONS_SQL.items():
        con.execute(f"COPY ({sql}) TO '{out / name}.parquet' (FORMAT parquet)")
    seconds["write"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    rows = {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}  # type: ignore[index]
    con.close()
    return {
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "answers": answers,
        "rows": rows,
    }


def run(base: Settings, sizes: tuple[int, ...] = DEFAULT_SIZES) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        settings = bench_settings(base, size)
        start = time.perf_counter()
        root = ensure_landed(settings, size)
        prepare = time.perf_counter() - start
        spark = run_spark(settings)
        duck = run_duckdb(root, settings)
        summary = spark["summary"]
        agree = json.loads(json.dumps(duck["answers"], default=str)) == summary["answers"]
        results.append(
            {
                "events": size,
                "prepare_seconds": round(prepare, 1),
                # The job's own total (start-up included), per stage, and the process's wall.
                "spark_seconds": summary["seconds"]["total"],
                "spark_stages": summary["seconds"],
                "spark_wall": spark["wall"],
                "duckdb_seconds": duck["seconds"]["total"],
                "duckdb_stages": duck["seconds"],
                "spark_over_duckdb": round(
                    summary["seconds"]["total"] / duck["seconds"]["total"], 2
                ),
                "cleaned_rows": summary["cleaned_rows"],
                "duckdb_rows": duck["rows"],
                "answers_agree": agree,
            }
        )
    return results


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
            "-",
            *(f"{d[k]:.1f}" for k in ("read", "clean", "questions", "write", "total")),
            "yes" if r["answers_agree"] else "NO",
        )
    console.print(table)
    for r in results:
        console.print(
            f"{r['events']:,} events: Spark {r['spark_seconds']:.1f} s "
            f"(process wall {r['spark_wall']:.1f} s) = {r['spark_over_duckdb']}x DuckDB's "
            f"{r['duckdb_seconds']:.1f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark.bench", description=__doc__)
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
