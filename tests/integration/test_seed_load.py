"""Seeding against the real MariaDB: schema, round trip, invariants, re-seeding, the reader.

Every test works in its own scratch database `pinterest_data_test_<random>`, read by the
scratch reader `make up` creates, and dropped afterwards: the shared `pinterest_data` and
the shared reader are never touched.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from bench.seed import run as bench_run
from seed_data import SeedConnectionError, SeedPermissionError, generate
from seed_data.generate import DEFAULT_SEED, DEFAULT_SIZE, PLACEHOLDERS, event_lines
from seed_data.load import LoadResult, connect_admin, load, read_meta
from seed_data.schema import quote_ident
from services.clients import clients_for
from services.settings import Settings, load_settings
from services.stack.mysql_accounts import scratch_database, scratch_pattern, scratch_reader

pytestmark = pytest.mark.integration

EXPECTED_COLUMNS: dict[str, list[tuple[str, str, str, str]]] = {
    # (column, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY)
    "pinterest_data": [
        ("index", "int(11)", "NO", "PRI"),
        ("unique_id", "char(36)", "YES", ""),
        ("title", "text", "YES", ""),
        ("description", "text", "YES", ""),
        ("poster_name", "varchar(255)", "YES", ""),
        ("follower_count", "varchar(32)", "YES", ""),
        ("tag_list", "text", "YES", ""),
        ("is_image_or_video", "varchar(64)", "YES", ""),
        ("image_src", "text", "YES", ""),
        ("downloaded", "int(11)", "YES", ""),
        ("save_location", "varchar(255)", "YES", ""),
        ("category", "varchar(64)", "YES", ""),
    ],
    "geolocation_data": [
        ("ind", "int(11)", "NO", "PRI"),
        ("timestamp", "datetime", "YES", ""),
        ("latitude", "double", "YES", ""),
        ("longitude", "double", "YES", ""),
        ("country", "varchar(255)", "YES", ""),
    ],
    "user_data": [
        ("ind", "int(11)", "NO", "PRI"),
        ("first_name", "varchar(255)", "YES", ""),
        ("last_name", "varchar(255)", "YES", ""),
        ("age", "int(11)", "YES", ""),
        ("date_joined", "datetime", "YES", ""),
    ],
}


def _scratch(stack: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return stack.model_copy(
        update={
            "mysql_database": scratch_database(stack, f"test_{tag}"),
            "mysql_user": scratch_reader(stack),
        }
    )


def _drop(settings: Settings) -> None:
    conn = connect_admin(settings)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {quote_ident(settings.mysql_database)}")
    finally:
        conn.close()


def _query(settings: Settings, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    conn = connect_admin(settings)
    try:
        cur = conn.cursor()
        cur.execute(f"USE {quote_ident(settings.mysql_database)}")
        cur.execute(sql, args)
        return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded(stack: Settings) -> Iterator[tuple[Settings, LoadResult]]:
    """The default data set (11,153 events, seed 0) in a database of its own."""
    settings = _scratch(stack)
    try:
        yield settings, load(settings)
    finally:
        _drop(settings)


@pytest.fixture
def scratch(stack: Settings) -> Iterator[Settings]:
    settings = _scratch(stack)
    try:
        yield settings
    finally:
        _drop(settings)


def test_first_load_loads_the_default_data_set(seeded: tuple[Settings, LoadResult]) -> None:
    settings, result = seeded
    assert result.loaded and result.method == "load-data"
    assert (result.size, result.seed) == (DEFAULT_SIZE, DEFAULT_SEED)
    assert result.checksum == generate.checksum()
    meta = read_meta(settings)
    assert meta is not None and meta["size"] == DEFAULT_SIZE and meta["checksum"] == result.checksum


def test_schema_names_types_and_keys_are_exact(seeded: tuple[Settings, LoadResult]) -> None:
    settings, _ = seeded
    rows = _query(
        settings,
        "SELECT table_name, column_name, column_type, is_nullable, column_key "
        "FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name IN ('pinterest_data', 'geolocation_data', 'user_data') "
        "ORDER BY table_name, ordinal_position",
    )
    actual: dict[str, list[tuple[str, str, str, str]]] = {}
    for table, column, ctype, nullable, key in rows:
        actual.setdefault(table, []).append((column, ctype, nullable, key))
    assert actual == EXPECTED_COLUMNS
    tables = {r[0] for r in _query(settings, "SHOW TABLES")}
    assert tables == {"pinterest_data", "geolocation_data", "user_data", "_seed_meta"}
    indexes = _query(
        settings,
        "SELECT DISTINCT table_name, index_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name <> '_seed_meta'",
    )
    assert sorted(indexes) == [
        ("geolocation_data", "PRIMARY"),
        ("pinterest_data", "PRIMARY"),
        ("user_data", "PRIMARY"),
    ]
    charsets = _query(
        settings,
        "SELECT DISTINCT character_set_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND character_set_name IS NOT NULL",
    )
    assert charsets == [("utf8mb4",)]


def _checksum_from_mysql(settings: Settings) -> str:
    conn = connect_admin(settings)
    try:
        cur = conn.cursor()
        cur.execute(f"USE {quote_ident(settings.mysql_database)}")
        tables = []
        for table, key in (
            ("pinterest_data", "`index`"),
            ("geolocation_data", "ind"),
            ("user_data", "ind"),
        ):
            cur.execute(f"SELECT * FROM {table} ORDER BY {key}")
            tables.append(cur.fetchall())
    finally:
        conn.close()
    digest = hashlib.sha256()
    for event in zip(*tables, strict=True):
        for line in event_lines(event):
            digest.update(line)
    return digest.hexdigest()


def test_rows_read_back_are_byte_identical_to_the_generator(
    seeded: tuple[Settings, LoadResult],
) -> None:
    settings, result = seeded
    assert _checksum_from_mysql(settings) == result.checksum == generate.checksum()


def test_every_index_has_exactly_one_geo_and_one_user_row(
    seeded: tuple[Settings, LoadResult],
) -> None:
    settings, _ = seeded
    n = DEFAULT_SIZE
    assert _query(settings, "SELECT COUNT(*), MIN(`index`), MAX(`index`) FROM pinterest_data") == [
        (n, 0, n - 1)
    ]
    for table in ("geolocation_data", "user_data"):
        assert _query(settings, f"SELECT COUNT(*), COUNT(DISTINCT ind) FROM {table}") == [(n, n)]
        joined = _query(
            settings,
            f"SELECT COUNT(*), SUM(t.ind IS NULL) FROM pinterest_data p "
            f"LEFT JOIN {table} t ON t.ind = p.`index`",
        )
        assert joined[0][0] == n and joined[0][1] == 0


def test_every_placeholder_is_in_mysql_as_often_as_generated(
    seeded: tuple[Settings, LoadResult],
) -> None:
    settings, _ = seeded
    events = list(generate.events())
    for column, value in PLACEHOLDERS:
        # BINARY: the table collation ignores case and trailing spaces; count exact bytes.
        in_mysql = _query(
            settings,
            f"SELECT COUNT(*) FROM pinterest_data WHERE BINARY {quote_ident(column)} = %s",
            (value,),
        )[0][0]
        generated = sum(1 for e in events if e.pin[column] == value)
        assert in_mysql == generated > 0, (column, value)


def test_about_half_as_many_distinct_users_as_events(
    seeded: tuple[Settings, LoadResult],
) -> None:
    settings, _ = seeded
    [(distinct,)] = _query(
        settings,
        "SELECT COUNT(*) FROM (SELECT DISTINCT BINARY first_name, BINARY last_name, age, "
        "date_joined FROM user_data) AS users",
    )
    generated = {
        (e.user["first_name"], e.user["last_name"], e.user["age"], e.user["date_joined"])
        for e in generate.events()
    }
    assert distinct == len(generated)
    assert abs(distinct - DEFAULT_SIZE / 2) < 0.05 * DEFAULT_SIZE


def test_reseeding_the_same_size_is_a_no_op(seeded: tuple[Settings, LoadResult]) -> None:
    settings, first = seeded
    before = read_meta(settings)
    again = load(settings)
    assert not again.loaded and again.method == "unchanged"
    assert again.checksum == first.checksum
    assert read_meta(settings) == before


def _reader_engine(settings: Settings) -> Any:
    return clients_for(settings).mysql_engine()


def test_reader_can_select_but_not_write(seeded: tuple[Settings, LoadResult]) -> None:
    settings, _ = seeded
    engine = _reader_engine(settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM user_data")).scalar() == DEFAULT_SIZE
            with pytest.raises((OperationalError, ProgrammingError)) as exc:
                conn.execute(text("INSERT INTO user_data (ind) VALUES (-1)"))
            assert exc.value.orig is not None and exc.value.orig.args[0] == 1142  # denied
            with pytest.raises((OperationalError, ProgrammingError)):
                conn.execute(text("DROP TABLE user_data"))
            with pytest.raises((OperationalError, ProgrammingError)):
                conn.execute(text("SELECT COUNT(*) FROM mysql.user"))
            grants = [r[0] for r in conn.execute(text("SHOW GRANTS"))]
    finally:
        engine.dispose()
    assert len(grants) == 2
    shared_db = load_settings().mysql_database
    assert grants[1].startswith(f"GRANT SELECT ON {scratch_pattern(shared_db)}.* TO ")


def test_size_change_replaces_cleanly_and_a_failed_load_changes_nothing(
    scratch: Settings,
) -> None:
    first = load(scratch, 300, 1, reader=False)
    second = load(scratch, 700, 1, reader=False)
    assert first.loaded and second.loaded
    assert _query(scratch, "SELECT COUNT(*) FROM user_data") == [(700,)]
    assert _checksum_from_mysql(scratch) == generate.checksum(700, 1) == second.checksum

    class Boom(Exception):
        pass

    def fail(done: int, total: int) -> None:
        raise Boom

    with pytest.raises(Boom):
        load(scratch, 900, 1, reader=False, progress=fail, chunk_events=200)
    # The live tables and their metadata are those of the last good load; no leftovers.
    assert _checksum_from_mysql(scratch) == second.checksum
    tables = {r[0] for r in _query(scratch, "SHOW TABLES")}
    assert tables == {"pinterest_data", "geolocation_data", "user_data", "_seed_meta"}
    assert not load(scratch, 700, 1, reader=False).loaded


def test_insert_path_when_local_infile_is_off(scratch: Settings) -> None:
    result = load(scratch, 400, 2, reader=False, local_infile=False)
    assert result.method == "insert"
    assert _checksum_from_mysql(scratch) == generate.checksum(400, 2) == result.checksum


def test_wrong_admin_password_names_the_setting(stack: Settings) -> None:
    wrong = stack.model_copy(update={"mysql_admin_password": SecretStr("not-the-password")})
    with pytest.raises(SeedConnectionError, match="MYSQL_ADMIN_PASSWORD") as refused:
        load(wrong, 10)
    # ... and the fix: the native stack's `make up` resets the account to the setting.
    assert "make up" in str(refused.value) and "Traceback" not in str(refused.value)


def test_bench_loads_a_scratch_database_and_drops_it(stack: Settings) -> None:
    figures = bench_run(stack, size=2_000)
    assert figures["events"] == 2_000 and figures["seconds"] > 0
    assert figures["checksum"] == generate.checksum(2_000)
    conn = connect_admin(stack)
    try:
        cur = conn.cursor()
        cur.execute("SHOW DATABASES LIKE %s", (figures["database"],))
        assert cur.fetchall() == ()
    finally:
        conn.close()


def test_a_reader_that_cannot_log_in_is_named_and_left_alone(scratch: Settings) -> None:
    # Accounts are `make up`'s: the loader says what to fix and changes no account.
    wrong = scratch.model_copy(update={"mysql_password": SecretStr("not-the-password")})
    with pytest.raises(SeedConnectionError, match="MYSQL_PASSWORD") as refused:
        load(wrong, 50)
    assert "make up" in str(refused.value)
    load(scratch, 50)  # the right password still works: nothing was altered
    engine = _reader_engine(scratch)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM pinterest_data")).scalar() == 50
    finally:
        engine.dispose()


def test_the_shared_reader_cannot_read_a_scratch_database(scratch: Settings) -> None:
    shared = scratch.model_copy(update={"mysql_user": scratch.mysql_user.removesuffix("_scratch")})
    with pytest.raises(SeedPermissionError, match="MYSQL_USER"):
        load(shared, 10)


def test_concurrent_loads_of_one_database_take_turns(scratch: Settings) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: load(scratch, 3_000, 4, reader=False), range(2)))
    # One did the work; the other waited for the lock, then found it done.
    assert sorted(r.loaded for r in results) == [False, True]
    assert _checksum_from_mysql(scratch) == generate.checksum(3_000, 4)
