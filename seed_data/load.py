"""Load generated events into MySQL: staging tables filled in bulk, swapped in at the end.

    from seed_data.load import load
    result = load(settings, size=11_153, seed=0)   # LoadResult(loaded=True, ...)
    result = load(settings, size=11_153, seed=0)   # same data already there: loaded=False

Bulk path: the events are written as tab-separated chunk files and sent with
`LOAD DATA LOCAL INFILE` by a second thread while the next chunk is generated, so the
server parses one chunk while Python generates the next. If the server refuses local
infile (MariaDB `--local-infile=0`), the same rows go in as multi-row INSERTs instead.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy.pool import NullPool

from seed_data import generate
from seed_data.errors import SeedConnectionError, SeedError, SeedInputError, SeedPermissionError
from seed_data.reader import ensure_reader
from seed_data.schema import META_TABLE, SOURCE_TABLES, create_statement, quote_ident
from services.clients import clients_for
from services.settings import Settings

#: Largest accepted size: INT keys would allow more, but this guards against typos.
MAX_SIZE = 100_000_000
CHUNK_EVENTS = 50_000
LOCK_TIMEOUT_S = 600

STAGE_PREFIX = "_stage_"
OLD_PREFIX = "_old_"

COLUMNS: dict[str, tuple[str, ...]] = {
    "pinterest_data": generate.PIN_COLUMNS,
    "geolocation_data": generate.GEO_COLUMNS,
    "user_data": generate.USER_COLUMNS,
}

#: progress(events_done, events_total), called after each chunk is in the database.
Progress = Callable[[int, int], None]

# MySQL/MariaDB error numbers the messages below explain.
_CANT_CONNECT = {2003, 2005, 2006, 2013}
_ACCESS_DENIED = 1045
_NO_PRIVILEGE = {1044, 1142, 1143, 1227, 1410}
_LOCAL_INFILE_OFF = {1148, 2068, 3948, 4166}


@dataclass(frozen=True)
class LoadResult:
    database: str
    size: int
    seed: int
    checksum: str  # generate.checksum(size, seed, rates)
    loaded: bool  # False: the same data set was already in place (nothing done)
    seconds: float
    method: str  # "load-data", "insert", or "unchanged"

    @property
    def rows_per_second(self) -> float:
        """Events (one row in each of the three tables) loaded per second."""
        return self.size / self.seconds if self.seconds > 0 else 0.0


def check_size(size: object) -> int:
    """`size` as a positive int, or a SeedInputError naming the flag that sets it."""
    try:
        value = int(str(size).replace("_", "").replace(",", ""))
    except ValueError:
        value = None
    if value is None or value <= 0 or value > MAX_SIZE:
        raise SeedInputError(
            f"size {size!r} must be a whole number of events from 1 to {MAX_SIZE:,}: "
            f"pass e.g. --size {generate.DEFAULT_SIZE} (`make seed SIZE=...`)"
        )
    return value


def check_seed(seed: object) -> int:
    try:
        value = int(str(seed))
    except ValueError:
        value = None
    if value is None or not -(2**63) <= value < 2**63:
        raise SeedInputError(f"seed {seed!r} is not a whole number: pass e.g. --seed 0")
    return value


def load(
    settings: Settings,
    size: int = generate.DEFAULT_SIZE,
    seed: int = generate.DEFAULT_SEED,
    *,
    rates: generate.Rates = generate.DEFAULT_RATES,
    progress: Progress | None = None,
    force: bool = False,
    reader: bool = True,
    chunk_events: int = CHUNK_EVENTS,
    local_infile: bool = True,
) -> LoadResult:
    """Create `settings.mysql_database` and its tables, load `size` events, swap them in.

    A no-op (`loaded=False`) when the same size, seed, rates and generator version are
    already loaded, unless `force`. With `reader`, first checks that the read-only account
    `settings.mysql_user` can read the database (`make up` creates it locally; the loader
    never changes its grants). `local_infile=False` takes
    the INSERT path a server without local infile gets. Raises SeedError subclasses whose
    message names the setting to fix.
    """
    size = check_size(size)
    seed = check_seed(seed)
    # Small loads still report progress a few times; large ones keep big efficient chunks.
    chunk_events = max(1, min(chunk_events, max(5_000, size // 20)))
    database = settings.mysql_database
    try:
        db = quote_ident(database)
    except ValueError:
        raise SeedInputError(f"MYSQL_DATABASE={database!r} is not a usable database name") from None
    started = time.monotonic()
    conn = connect_admin(settings, local_infile=local_infile)
    try:
        with _explained(settings):
            cur = conn.cursor()
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS {db} "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            cur.execute(f"USE {db}")
            _lock(cur, database)
            cur.execute(create_statement(META_TABLE))
            if reader:
                # Before the load: a missing privilege shows up now, not after minutes.
                ensure_reader(cur, settings)
            wanted = (size, seed, generate.GENERATOR_VERSION, rates.fingerprint())
            meta = _current_meta(cur)
            if not force and meta is not None and meta[:4] == wanted and _counts_match(cur, size):
                seconds = time.monotonic() - started
                return LoadResult(database, size, seed, meta[4], False, seconds, "unchanged")

            digest, method = _load_staging(cur, size, seed, rates, progress, chunk_events)
            _swap(cur)
            seconds = time.monotonic() - started
            cur.execute(
                f"INSERT INTO {quote_ident(META_TABLE)} VALUES (1, %s, %s, %s, %s, %s, %s, %s)",
                (*wanted, digest, seconds, datetime.now(UTC).replace(microsecond=0, tzinfo=None)),
            )
            return LoadResult(database, size, seed, digest, True, seconds, method)
    finally:
        conn.close()


def read_meta(settings: Settings) -> dict[str, Any] | None:
    """What the last successful load stored, or None if the database was never seeded."""
    conn = connect_admin(settings)
    try:
        cur = conn.driver_connection.cursor(pymysql.cursors.DictCursor)
        try:
            cur.execute(
                f"SELECT * FROM {quote_ident(settings.mysql_database)}.{quote_ident(META_TABLE)}"
            )
        except pymysql.err.ProgrammingError as exc:
            if exc.args[0] in (1049, 1146):  # unknown database / table: never seeded
                return None
            raise explain(exc, settings) from None
        row: dict[str, Any] | None = cur.fetchone()
        return row
    finally:
        conn.close()


# --- connection and errors ---------------------------------------------------------------


def connect_admin(settings: Settings, *, local_infile: bool = False) -> Any:
    """A DB-API connection (the pool's wrapper around PyMySQL) as the admin account, no
    database selected, autocommit on. Close it when done."""
    factory = clients_for(settings)
    engine = factory.mysql_engine(
        admin=True,
        database=False,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": 5,
            # Lets the server ask for our chunk files; the server must allow it too.
            "local_infile": local_infile,
            "autocommit": True,
            **factory.mysql_connect_args(),
        },
    )
    try:
        # The pool's wrapper, not its driver_connection: dropping the wrapper would close it.
        return engine.raw_connection()
    except Exception as exc:  # SQLAlchemy wraps the driver's error; explain the original
        raise explain(exc, settings) from None


def explain(exc: BaseException, settings: Settings) -> SeedError:
    """Turn a MySQL driver error into a SeedError that names the setting to fix."""
    orig = getattr(exc, "orig", None) or exc
    code = orig.args[0] if getattr(orig, "args", None) else None
    detail = orig.args[1] if len(getattr(orig, "args", ())) > 1 else str(orig)
    where = f"{settings.mysql_host}:{settings.mysql_port}"
    if code in _CANT_CONNECT:
        return SeedConnectionError(
            f"cannot reach MySQL at {where} ({detail}). Is the stack up (`make up`)? "
            "Check MYSQL_HOST and MYSQL_PORT."
        )
    if code == _ACCESS_DENIED:
        return SeedConnectionError(
            f"MySQL at {where} refused user {settings.mysql_admin_user!r} ({detail}): "
            "MYSQL_ADMIN_PASSWORD (in .env or the environment) does not match that account's "
            "password. Fix: set MYSQL_ADMIN_USER and MYSQL_ADMIN_PASSWORD to the admin "
            "account's; on the native local stack `make up` resets the account's password to "
            "MYSQL_ADMIN_PASSWORD (the docker runtime sets it only when its volume is created: "
            "put the old value back, or `make clean`)."
        )
    if code in _NO_PRIVILEGE:
        return SeedPermissionError(
            f"MySQL user {settings.mysql_admin_user!r} lacks a privilege seeding needs "
            f"({detail}). Locally the admin account may only use MYSQL_DATABASE "
            f"({settings.mysql_database!r}) and its scratch databases `<MYSQL_DATABASE>_<suffix>` "
            "(SECURITY.md); `make up` grants exactly that. Elsewhere MYSQL_ADMIN_USER needs "
            "ALL PRIVILEGES on the database."
        )
    return SeedError(f"MySQL at {where} failed: {detail} (error {code})")


@contextmanager
def _explained(settings: Settings) -> Iterator[None]:
    """Re-raise MySQL driver errors as SeedErrors that name the setting to fix."""
    try:
        yield
    except pymysql.err.MySQLError as exc:
        raise explain(exc, settings) from None


# --- the load itself ---------------------------------------------------------------------


def _lock(cur: Any, database: str) -> None:
    # Concurrent loads of one database (two `make seed`, parallel tests) take turns; the
    # lock goes with the connection.
    cur.execute("SELECT GET_LOCK(%s, %s)", (f"seed_data.{database}", LOCK_TIMEOUT_S))
    if cur.fetchone()[0] != 1:
        raise SeedError(
            f"another seeding of database {database!r} held its lock for {LOCK_TIMEOUT_S}s; "
            "wait for it to finish and run again"
        )


def _current_meta(cur: Any) -> tuple[Any, ...] | None:
    cur.execute(
        f"SELECT size, seed, generator_version, rates, checksum "
        f"FROM {quote_ident(META_TABLE)} WHERE id = 1"
    )
    row: tuple[Any, ...] | None = cur.fetchone()
    return row


def _counts_match(cur: Any, size: int) -> bool:
    # Guards against tables changed or dropped by hand since the last load.
    for table in SOURCE_TABLES:
        try:
            cur.execute(f"SELECT COUNT(*) FROM {quote_ident(table)}")
        except pymysql.err.ProgrammingError:
            return False  # table missing
        if cur.fetchone()[0] != size:
            return False
    return True


def _load_staging(
    cur: Any,
    size: int,
    seed: int,
    rates: generate.Rates,
    progress: Progress | None,
    chunk_events: int,
) -> tuple[str, str]:
    for table in SOURCE_TABLES:
        for prefix in (STAGE_PREFIX, OLD_PREFIX):  # leftovers of an interrupted load
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident(prefix + table)}")
        cur.execute(create_statement(table, STAGE_PREFIX + table))
    try:
        with tempfile.TemporaryDirectory(prefix="seed_data-") as tmp:
            if _local_infile_allowed(cur, Path(tmp)):
                method = "load-data"
                digest = _fill_with_load_data(
                    cur, size, seed, rates, progress, chunk_events, Path(tmp)
                )
            else:
                method = "insert"
                digest = _fill_with_inserts(cur, size, seed, rates, progress)
        for table in SOURCE_TABLES:
            cur.execute(f"SELECT COUNT(*) FROM {quote_ident(STAGE_PREFIX + table)}")
            count = cur.fetchone()[0]
            if count != size:
                raise SeedError(f"staging table {table} holds {count} rows, expected {size}")
    except BaseException:
        # Nothing half-loaded stays behind; the live tables were never touched.
        for table in SOURCE_TABLES:
            # The original error is the one worth reporting, not a failed clean-up.
            with suppress(pymysql.err.MySQLError):
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(STAGE_PREFIX + table)}")
        raise
    return digest, method


def _local_infile_allowed(cur: Any, tmp: Path) -> bool:
    probe = tmp / "probe.tsv"
    probe.write_bytes(b"")
    try:
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote_ident(STAGE_PREFIX + 'user_data')}",
            (str(probe),),
        )
    except pymysql.err.MySQLError as exc:
        if exc.args[0] in _LOCAL_INFILE_OFF:
            return False
        raise
    return True


def _chunks(
    size: int, seed: int, rates: generate.Rates, chunk_events: int
) -> Iterator[list[tuple[generate.PinRow, generate.GeoRow, generate.UserRow]]]:
    events = generate.rows(size, seed, rates)
    while chunk := list(islice(events, chunk_events)):
        yield chunk


def _fill_with_load_data(
    cur: Any,
    size: int,
    seed: int,
    rates: generate.Rates,
    progress: Progress | None,
    chunk_events: int,
    tmp: Path,
) -> str:
    digest = hashlib.sha256()
    done = 0
    pending: list[tuple[Future[None], int]] = []
    # One loader thread owns the connection while chunks are in flight; this thread only
    # generates. At most two chunks wait, which bounds the temporary disk used.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-load")
    try:
        for n, chunk in enumerate(_chunks(size, seed, rates, chunk_events)):
            paths = [tmp / f"{n}-{table}.tsv" for table in SOURCE_TABLES]
            with (
                paths[0].open("wb") as pin,
                paths[1].open("wb") as geo,
                paths[2].open("wb") as user,
            ):
                for event in chunk:
                    pin_line, geo_line, user_line = generate.event_lines(event)
                    digest.update(pin_line)
                    digest.update(geo_line)
                    digest.update(user_line)
                    pin.write(pin_line)
                    geo.write(geo_line)
                    user.write(user_line)
            pending.append((pool.submit(_load_files, cur, paths), len(chunk)))
            while len(pending) >= 2:
                done = _finish(pending.pop(0), done, size, progress)
        while pending:
            done = _finish(pending.pop(0), done, size, progress)
    finally:
        # On error, queued chunks are dropped and the running one finishes before the
        # caller touches the connection again.
        pool.shutdown(wait=True, cancel_futures=True)
    return digest.hexdigest()


def _finish(item: tuple[Future[None], int], done: int, size: int, progress: Progress | None) -> int:
    future, count = item
    future.result()  # re-raises the loader thread's error here
    done += count
    if progress:
        progress(done, size)
    return done


def _load_files(cur: Any, paths: list[Path]) -> None:
    for table, path in zip(SOURCE_TABLES, paths, strict=True):
        columns = ", ".join(quote_ident(c) for c in COLUMNS[table])
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote_ident(STAGE_PREFIX + table)} "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({columns})",
            (str(path),),
        )
        # LOCAL implies IGNORE: bad values become warnings, not errors. Refuse them.
        cur.execute("SHOW WARNINGS LIMIT 3")
        warnings = cur.fetchall()
        if warnings:
            raise SeedError(f"LOAD DATA into {table} warned: {warnings}")
        path.unlink()


def _fill_with_inserts(
    cur: Any,
    size: int,
    seed: int,
    rates: generate.Rates,
    progress: Progress | None,
) -> str:
    digest = hashlib.sha256()
    done = 0
    statements = {
        table: (
            f"INSERT INTO {quote_ident(STAGE_PREFIX + table)} "
            f"({', '.join(quote_ident(c) for c in cols)}) "
            f"VALUES ({', '.join(['%s'] * len(cols))})"
        )
        for table, cols in COLUMNS.items()
    }
    for chunk in _chunks(size, seed, rates, 5_000):
        for event in chunk:
            for line in generate.event_lines(event):
                digest.update(line)
        for k, table in enumerate(SOURCE_TABLES):
            # PyMySQL turns executemany of one INSERT ... VALUES into multi-row INSERTs.
            cur.executemany(statements[table], [event[k] for event in chunk])
        done += len(chunk)
        if progress:
            progress(done, size)
    return digest.hexdigest()


def _swap(cur: Any) -> None:
    """Put the staging tables live in one atomic RENAME, then drop the previous ones."""
    # The metadata goes first: if we stop between here and the new row, the next run
    # reloads rather than trusting tables it cannot vouch for.
    cur.execute(f"DELETE FROM {quote_ident(META_TABLE)}")
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
    existing = {row[0] for row in cur.fetchall()}
    renames = []
    for table in SOURCE_TABLES:
        if table in existing:
            renames.append(f"{quote_ident(table)} TO {quote_ident(OLD_PREFIX + table)}")
        renames.append(f"{quote_ident(STAGE_PREFIX + table)} TO {quote_ident(table)}")
    cur.execute("RENAME TABLE " + ", ".join(renames))
    for table in SOURCE_TABLES:
        cur.execute(f"DROP TABLE IF EXISTS {quote_ident(OLD_PREFIX + table)}")
