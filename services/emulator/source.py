"""Read events from MySQL (the RDS stand-in) as the read-only user.

Event `i` is the `pinterest_data` row with `index = i` and the `geolocation_data` and
`user_data` rows with `ind = i`. Each row goes out as `services.contracts.rows` says (as
MySQL holds it, datetimes as `YYYY-MM-DD HH:MM:SS` text, as the original project did).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from services.clients import clients_for
from services.contracts.rows import KEY_COLUMNS, Row, to_json_row
from services.emulator.errors import EmulatorError
from services.settings import SOURCE_TABLES, TABLES, Settings

#: Column holding the event number in each source table (the contract's key columns).
INDEX_COLUMNS = KEY_COLUMNS

#: MySQL client errors meaning the server went away (a restart): a read is worth retrying.
_SERVER_GONE = {2003, 2006, 2013}
#: How long a replay waits for MySQL to come back before it gives up.
SERVER_GONE_PATIENCE_S = 120.0


class _ServerGone(EmulatorError):
    pass


@dataclass(frozen=True)
class Bounds:
    first: int
    last: int
    rows: dict[str, int]


def _select(table: str, *, one: bool) -> Any:
    # Table and column names come from the fixed maps above, never from input; values
    # are bound parameters.
    name, col = SOURCE_TABLES[table], INDEX_COLUMNS[table]
    where = f"`{col}` = :i" if one else f"`{col}` >= :lo AND `{col}` < :hi"
    return text(f"SELECT * FROM `{name}` WHERE {where} ORDER BY `{col}`")


class EventSource:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or clients_for(settings).mysql_engine(pool_size=4)
        #: reads retried because MySQL went away (a restart during a replay)
        self.retries = 0

    def close(self) -> None:
        self.engine.dispose()

    def bounds(self) -> Bounds:
        """First and last event index over the three tables; refuses an empty table."""
        rows: dict[str, int] = {}
        first: int | None = None
        last: int | None = None
        with self._connect() as conn:
            for table in TABLES:
                name, col = SOURCE_TABLES[table], INDEX_COLUMNS[table]
                count, lo, hi = conn.execute(
                    text(f"SELECT COUNT(*), MIN(`{col}`), MAX(`{col}`) FROM `{name}`")
                ).one()
                if not count:
                    raise EmulatorError(
                        f"table {self.settings.mysql_database}.{name} is empty, so there are "
                        "no events to send: load the data first (`make seed`), or point "
                        "MYSQL_DATABASE at a loaded database"
                    )
                rows[table] = int(count)
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
        assert first is not None and last is not None
        return Bounds(int(first), int(last), rows)

    def fetch_range(self, lo: int, hi: int) -> dict[str, list[Row]]:
        """Every row of every table with `lo <= index < hi`, in index order.

        Rides out a MySQL restart (the replay goes on where it was) for a bounded time."""
        for attempt in Retrying(
            retry=retry_if_exception_type(_ServerGone),
            wait=wait_fixed(0.5),
            stop=stop_after_delay(SERVER_GONE_PATIENCE_S),
            before_sleep=lambda _state: self._retried(),
            reraise=True,
        ):
            with attempt:
                return self._fetch_range(lo, hi)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _retried(self) -> None:
        self.retries += 1

    def _fetch_range(self, lo: int, hi: int) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        with self._connect() as conn:
            for table in TABLES:
                result = conn.execute(_select(table, one=False), {"lo": lo, "hi": hi})
                out[table] = [to_json_row(r) for r in result.mappings()]
        return out

    def fetch_event(self, index: int) -> dict[str, Row | None]:
        with self._connect() as conn:
            out: dict[str, Row | None] = {}
            for table in TABLES:
                row = conn.execute(_select(table, one=True), {"i": index}).mappings().first()
                out[table] = None if row is None else to_json_row(row)
        return out

    def indices(self) -> Sequence[int]:
        """Every event index (from `pinterest_data`), ascending."""
        name, col = SOURCE_TABLES["pin"], INDEX_COLUMNS["pin"]
        with self._connect() as conn:
            return [
                int(i)
                for (i,) in conn.execute(text(f"SELECT `{col}` FROM `{name}` ORDER BY `{col}`"))
            ]

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except (OperationalError, ProgrammingError) as exc:
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            error = _ServerGone if code in _SERVER_GONE else EmulatorError
            raise error(_explain(self.settings, exc)) from None


def _explain(settings: Settings, exc: DBAPIError) -> str:
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    where = f"{settings.mysql_host}:{settings.mysql_port}"
    if code == 1045:
        return (
            f"MySQL at {where} refused user {settings.mysql_user!r}: wrong credentials; "
            "check MYSQL_USER and MYSQL_PASSWORD (the read-only account `make seed` creates)"
        )
    if code == 1146:
        return (
            f"a source table is missing in database {settings.mysql_database!r} on {where} "
            f"({exc.orig}): run `make seed`, or fix MYSQL_DATABASE"
        )
    if code in (1044, 1049, 1142):
        return (
            f"user {settings.mysql_user!r} cannot open database {settings.mysql_database!r} "
            f"on {where}: check MYSQL_DATABASE, or run `make seed` to create and load it"
        )
    if code in (2003, 2005, 2006, 2013):
        return f"cannot reach MySQL at {where}: {clients_for(settings).setup_hint('mysql')}"
    return f"MySQL at {where} failed: {exc.orig}; check the MYSQL_* settings"
