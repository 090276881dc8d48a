"""Time a bulk load into a scratch database (never the shared one), then drop it.

python -m seed_data bench --size 1000000   (or `python -m bench --only seed`)
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Any

import pymysql

from seed_data.generate import DEFAULT_SEED
from seed_data.load import Progress, connect_admin, load
from seed_data.schema import quote_ident
from services.settings import Settings

DEFAULT_BENCH_SIZE = 1_000_000


def run(
    settings: Settings,
    size: int = DEFAULT_BENCH_SIZE,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load `size` events into `<MYSQL_DATABASE>_bench_<random>`; return the figures."""
    scratch = settings.model_copy(
        update={"mysql_database": f"{settings.mysql_database}_bench_{uuid.uuid4().hex[:8]}"}
    )
    innodb = durability(scratch)
    try:
        result = load(scratch, size, seed, force=True, reader=False, progress=progress)
    finally:
        conn = connect_admin(scratch)
        try:
            # A failed drop must not hide the load's own error or figures.
            with suppress(pymysql.err.MySQLError):
                conn.cursor().execute(
                    f"DROP DATABASE IF EXISTS {quote_ident(scratch.mysql_database)}"
                )
        finally:
            conn.close()
    return {
        "database": scratch.mysql_database,
        "events": result.size,
        "rows": result.size * 3,
        "seconds": round(result.seconds, 2),
        "events_per_second": round(result.rows_per_second),
        "method": result.method,
        "checksum": result.checksum,
        # The server's durability while loading: the figure depends on it.
        "innodb": innodb,
    }


#: Server variables that decide how much a commit waits for the disk.
DURABILITY_VARIABLES = (
    "innodb_flush_log_at_trx_commit",
    "innodb_doublewrite",
    "sync_binlog",
    "log_bin",
    "innodb_flush_method",
)


def durability(settings: Settings) -> dict[str, Any]:
    """The InnoDB durability settings of the server the load runs on."""
    conn = connect_admin(settings)
    try:
        cur = conn.cursor()
        cur.execute("SELECT " + ", ".join(f"@@GLOBAL.{v}" for v in DURABILITY_VARIABLES))
        row = cur.fetchone() or ()
    finally:
        conn.close()
    values = dict(zip(DURABILITY_VARIABLES, row, strict=False))
    flush = str(values.get("innodb_flush_log_at_trx_commit"))
    values["meaning"] = {
        "1": "durable: the redo log is flushed to disk at every commit",
        "2": "relaxed: the redo log is written at commit, flushed to disk about once a second "
        "(a crash of the OS can lose the last second; a crash of MariaDB alone cannot)",
        "0": "relaxed: the redo log is written and flushed about once a second",
    }.get(flush, "see the MariaDB documentation")
    return values
