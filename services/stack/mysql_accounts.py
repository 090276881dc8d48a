"""The local MariaDB's accounts and the database names they cover (SECURITY.md lists them).

    mysql_accounts.apply(settings)   # what `make up` runs once the server answers

Naming rule: `MYSQL_DATABASE` (default `pinterest_data`) is the project's database;
`<MYSQL_DATABASE>_<suffix>` are its scratch databases (tests, benchmarks). The admin
account holds ALL on both and nothing global; the reader SELECT on the first; the scratch
reader `<MYSQL_USER>_scratch` SELECT on the second, so tests never touch the shared reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pymysql

from services.settings import Settings
from services.stack import mysql_layout
from services.stack.errors import StackError

#: Hosts of the admin and reader accounts: TCP over loopback (v4, v6) and the socket.
ACCOUNT_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")

#: WHERE clause on mysql.global_priv: accounts that log in with an empty password.
PASSWORDLESS = (
    "JSON_VALUE(priv, '$.authentication_string') = '' "
    "AND IFNULL(JSON_VALUE(priv, '$.plugin'), '') IN "
    "    ('', 'mysql_native_password', 'mysql_old_password') "
    "AND JSON_EXISTS(priv, '$.auth_or') = 0 "
    "AND IFNULL(JSON_VALUE(priv, '$.account_locked'), 'false') NOT IN ('true', '1')"
)

_DB_NAME = re.compile(r"^[A-Za-z0-9_$]{1,48}$")


def check_database(name: str) -> str:
    """A database name the grants can cover exactly, or a StackError naming the setting."""
    if not _DB_NAME.match(name):
        raise StackError(
            f"MYSQL_DATABASE={name!r} is not usable: use 1-48 letters, digits, `_` or `$` "
            "(e.g. MYSQL_DATABASE=pinterest_data)"
        )
    return name


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _escape(name: str) -> str:
    # In a database-level GRANT, `_` and `%` are wildcards: escaped, the grant covers
    # exactly this name (`pinterest_data`, not also `pinterestXdata`).
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def grant_pattern(database: str) -> str:
    """The GRANT target of exactly `database` (as SHOW GRANTS prints it)."""
    return quote(_escape(database))


def scratch_pattern(database: str) -> str:
    """The GRANT target of every scratch database `<database>_<suffix>`."""
    return quote(_escape(database) + "\\_%")


def scratch_database(settings: Settings, tag: str) -> str:
    """The name of a scratch database: covered by the admin's and scratch reader's grants."""
    return f"{settings.mysql_database}_{tag}"


def scratch_reader(settings: Settings) -> str:
    """The read-only account of the scratch databases (also when `settings` already are a
    scratch database's, as in a scratch database seeded from another one's settings)."""
    user = settings.mysql_user
    return user if user.endswith("_scratch") else f"{user}_scratch"


def parse_grants(lines: Iterable[str]) -> set[str]:
    """SHOW GRANTS lines as `GRANT <privileges> ON <target>`, without the account and the
    password; a grant WITH GRANT OPTION keeps that suffix, so it never equals a wanted one.
    The bare `GRANT USAGE ON *.*` every account has is left out."""
    out = set()
    for line in lines:
        head, _, tail = line.partition(" TO ")
        grant = head + (" WITH GRANT OPTION" if tail.endswith("WITH GRANT OPTION") else "")
        if grant != "GRANT USAGE ON *.*":
            out.add(grant)
    return out


def apply(settings: Settings) -> None:
    """Bring the accounts to exactly what SECURITY.md lists; idempotent, run by every `make up`.

    - the superuser: this OS user over the socket only (and `root`, likewise); every
      passwordless account and every `root` reachable over TCP (older data folders had
      both) is dropped;
    - MYSQL_ADMIN_USER: ALL on MYSQL_DATABASE and its scratch databases, nothing global
      (with FILE it could read the server's files, with CREATE USER take over the
      superuser), no GRANT OPTION;
    - MYSQL_USER: SELECT on MYSQL_DATABASE; `<MYSQL_USER>_scratch`: SELECT on the scratch
      databases.
    Grants are revoked only when an account holds more than that, so `make up` while a
    replay reads never interrupts it.
    """
    for name in ("mysql_admin_password", "mysql_password"):
        if not getattr(settings, name).get_secret_value():
            raise StackError(
                f"{name.upper()} is empty: MySQL accounts reachable over TCP must have a "
                f"password. Set {name.upper()} in .env (see .env.example), then `make up`."
            )
    db = check_database(settings.mysql_database)
    names = {settings.mysql_admin_user, settings.mysql_user, scratch_reader(settings)}
    if len(names) < 3:
        raise StackError(
            f"MYSQL_USER and MYSQL_ADMIN_USER are both {settings.mysql_user!r}: the reader "
            "must be a separate, read-only account. Set MYSQL_USER to another name."
        )
    try:
        conn = mysql_layout.connect_superuser(settings)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] not in (1045, 1698):  # not "access denied": the server's own problem
            raise
        raise StackError(
            f"cannot administer MariaDB through {mysql_layout.socket_path(settings)} as the OS "
            f"user {mysql_layout.superuser()!r} ({exc.args[-1]}): its data folder was set up "
            "by `make up` as another user. Run `make up` as that user, or `make clean` to "
            "start this project's data over."
        ) from None
    with conn, conn.cursor() as cur:
        _lock_superusers(cur, names)
        _account(
            cur,
            settings.mysql_admin_user,
            settings.mysql_admin_password.get_secret_value(),
            {
                f"GRANT ALL PRIVILEGES ON {grant_pattern(db)}.*",
                f"GRANT ALL PRIVILEGES ON {scratch_pattern(db)}.*",
            },
        )
        password = settings.mysql_password.get_secret_value()
        _account(cur, settings.mysql_user, password, {f"GRANT SELECT ON {grant_pattern(db)}.*"})
        _account(
            cur, scratch_reader(settings), password, {f"GRANT SELECT ON {scratch_pattern(db)}.*"}
        )
        cur.execute(
            f"CREATE DATABASE IF NOT EXISTS {quote(db)} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )


def _lock_superusers(cur: Any, project_accounts: set[str]) -> None:
    me = mysql_layout.superuser()
    for user in dict.fromkeys((me, "root")):
        cur.execute("CREATE USER IF NOT EXISTS %s@'localhost' IDENTIFIED VIA unix_socket", (user,))
        cur.execute("ALTER USER %s@'localhost' IDENTIFIED VIA unix_socket", (user,))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'localhost' WITH GRANT OPTION", (user,))
    # Older data folders: root@127.0.0.1, root@::1 and root@<hostname> with no password,
    # and the project's accounts at '%'. Anything else that logs in with an empty password
    # goes too, except locked system accounts (mariadb.sys).
    accounts = sorted(project_accounts)
    cur.execute(
        "SELECT user, host FROM mysql.global_priv WHERE (user = 'root' AND host <> 'localhost') "
        "OR user = '' "
        f"OR (user IN ({', '.join(['%s'] * len(accounts))}) "
        "    AND host NOT IN ('127.0.0.1', '::1', 'localhost')) "
        f"OR ({PASSWORDLESS})",
        accounts,
    )
    for user, host in cur.fetchall():
        cur.execute("DROP USER %s@%s", (user, host))


def _account(cur: Any, user: str, password: str, wanted: set[str]) -> None:
    for host in ACCOUNT_HOSTS:
        cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
        cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
        cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
        have = parse_grants(line for (line,) in cur.fetchall())
        if have - wanted:
            cur.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", (user, host))
            have = set()
        for grant in sorted(wanted - have):
            # `%` in a scratch pattern is SQL's wildcard, not a PyMySQL placeholder.
            cur.execute(grant.replace("%", "%%") + " TO %s@%s", (user, host))
