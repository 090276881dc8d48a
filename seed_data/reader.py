"""The emulator's read-only MySQL account: SELECT on the seeded database only.

Locally, `make up` owns every account (services/stack/mysql_accounts.py): it creates the
reader, sets its password from MYSQL_PASSWORD and grants it SELECT on MYSQL_DATABASE.
The loader only checks that the reader can read the database, and never revokes or
changes a grant: seeding a scratch database must leave the shared reader as it was.
Against a server whose admin may create accounts (RDS's master user) a missing reader is
created here, with SELECT on the database and nothing else.
"""

from __future__ import annotations

from typing import Any

import pymysql

from seed_data.errors import SeedConnectionError, SeedInputError, SeedPermissionError
from seed_data.schema import quote_ident
from services.clients import clients_for
from services.settings import Settings

# RDS: '%' covers the emulator wherever it runs; 'localhost' and '127.0.0.1' as well,
# because an anonymous ''@localhost account would outrank 'user'@'%' for local clients.
READER_HOSTS: tuple[str, ...] = ("%", "localhost", "127.0.0.1")

_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_NO_PRIVILEGE = {1044, 1142, 1143, 1227, 1410}


def db_grant_pattern(database: str) -> str:
    # In a database-level GRANT, `_` and `%` are wildcards: escape them so the grant
    # covers exactly this database (`pinterest_data`, not also `pinterestXdata`).
    return quote_ident(database.replace("_", "\\_").replace("%", "\\%"))


def reader_problem(settings: Settings) -> tuple[int, str] | None:
    """None if MYSQL_USER logs in and may use MYSQL_DATABASE; else (error code, message)."""
    try:
        conn = pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user=settings.mysql_user,
            password=settings.mysql_password.get_secret_value(),
            database=settings.mysql_database,
            connect_timeout=5,
            **clients_for(settings).mysql_connect_args(),
        )
    except pymysql.err.OperationalError as exc:
        if exc.args[0] in (_ACCESS_DENIED, _DB_ACCESS_DENIED):
            return exc.args[0], str(exc.args[1])
        raise
    conn.close()
    return None


def ensure_reader(cursor: Any, settings: Settings) -> None:
    """Make sure MYSQL_USER can read MYSQL_DATABASE; the database must exist already.

    Creates or fixes the account only where the admin is allowed to (RDS); locally a
    SeedPermissionError says to run `make up`, which owns the accounts.
    """
    user = settings.mysql_user
    if not user:
        raise SeedInputError("MYSQL_USER is empty: set the read-only account's name")
    if user == settings.mysql_admin_user:
        raise SeedInputError(
            f"MYSQL_USER and MYSQL_ADMIN_USER are both {user!r}: the emulator's account must "
            "be a separate, read-only one. Set MYSQL_USER to another name."
        )
    problem = reader_problem(settings)
    if problem is None:
        return
    code, detail = problem
    password = settings.mysql_password.get_secret_value()
    pattern = db_grant_pattern(settings.mysql_database)
    try:
        for host in READER_HOSTS:
            cursor.execute(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password)
            )
            if code == _ACCESS_DENIED:
                cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
            cursor.execute(f"GRANT SELECT ON {pattern}.* TO %s@%s", (user, host))
    except pymysql.err.MySQLError as exc:
        if exc.args[0] not in _NO_PRIVILEGE:
            raise
        error = SeedConnectionError if code == _ACCESS_DENIED else SeedPermissionError
        raise error(
            f"the read-only account MYSQL_USER={user!r} cannot read database "
            f"{settings.mysql_database!r} ({detail}), and MYSQL_ADMIN_USER may not create "
            "accounts (by design: SECURITY.md). On the local stack `make up` creates the "
            "reader with SELECT on MYSQL_DATABASE and sets its password from MYSQL_PASSWORD: "
            "check MYSQL_USER and MYSQL_PASSWORD, run `make up`, then seed again. Scratch "
            "databases (`<MYSQL_DATABASE>_<suffix>`) are read by `<MYSQL_USER>_scratch`."
        ) from None
