"""The emulator's read-only MySQL account: SELECT on the seeded database only."""

from __future__ import annotations

from typing import Any

from seed_data.errors import SeedInputError
from seed_data.schema import quote_ident
from services.settings import Settings

# '%' covers remote clients; 'localhost' and '127.0.0.1' are needed as well because a
# default MariaDB install has an anonymous ''@'localhost' account, which outranks
# 'user'@'%' for local connections and would make the reader's login fail.
READER_HOSTS: tuple[str, ...] = ("%", "localhost", "127.0.0.1")


def db_grant_pattern(database: str) -> str:
    # In a database-level GRANT, `_` and `%` are wildcards: escape them so the grant
    # covers exactly this database (`pinterest_data`, not also `pinterestXdata`).
    return quote_ident(database.replace("_", "\\_").replace("%", "\\%"))


def ensure_reader(cursor: Any, settings: Settings) -> None:
    """Create or update the reader so it has exactly SELECT on `settings.mysql_database`.*.

    Idempotent; the password is reset to `MYSQL_PASSWORD` each time so it stays in sync.
    """
    user = settings.mysql_user
    if not user:
        raise SeedInputError("MYSQL_USER is empty: set the read-only account's name")
    if user == settings.mysql_admin_user:
        raise SeedInputError(
            f"MYSQL_USER and MYSQL_ADMIN_USER are both {user!r}: the emulator's account must "
            "be a separate, read-only one. Set MYSQL_USER to another name."
        )
    password = settings.mysql_password.get_secret_value()
    pattern = db_grant_pattern(settings.mysql_database)
    for host in READER_HOSTS:
        cursor.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
        cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
        if _has_other_grants(cursor, user, host, pattern):
            # Revoking only when needed: a reader busy replaying keeps its grant meanwhile.
            cursor.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", (user, host))
        cursor.execute(f"GRANT SELECT ON {pattern}.* TO %s@%s", (user, host))


def _has_other_grants(cursor: Any, user: str, host: str, pattern: str) -> bool:
    cursor.execute("SHOW GRANTS FOR %s@%s", (user, host))
    for (line,) in cursor.fetchall():
        if line.startswith("GRANT USAGE ON *.* TO "):
            continue
        if line.startswith(f"GRANT SELECT ON {pattern}.* TO "):
            continue
        return True
    return False
