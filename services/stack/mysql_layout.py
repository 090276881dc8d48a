"""Where the native MariaDB keeps its files, which OS user it runs as, and how the stack
reaches it as its superuser (the unix socket; never TCP).

- When `make up` runs as root, `mariadbd` runs as Debian's unprivileged `mysql` user
  (created by the `mariadb-server` package) and owns its folders; as anyone else, it runs
  as that user, who owns everything anyway.
- The superuser is `<the OS user running make up>@localhost IDENTIFIED VIA unix_socket`:
  the server checks the peer's uid on its socket, so there is no password to leak and
  nothing to reach over TCP (`localhost` matches socket connections only under
  `--skip-name-resolve`).
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Any

from services.settings import Settings

#: The OS account mariadbd drops to when `make up` runs as root.
SERVER_OS_USER = "mysql"

# Access denied (password or plugin) and "unix_socket: you are not that OS user".
_ACCESS_DENIED = {1045, 1698}


def datadir(settings: Settings) -> Path:
    return settings.data_dir / "mysql"


def files_dir(settings: Settings) -> Path:
    """`secure_file_priv`: the only folder LOAD_FILE / INTO OUTFILE / LOAD DATA may touch."""
    return settings.data_dir / "mysql-files"


def tmp_dir(settings: Settings) -> Path:
    """The server's temporary files (large sorts), inside the project instead of /tmp."""
    return settings.data_dir / "mysql-tmp"


def run_dir(settings: Settings) -> Path:
    """Socket and pid file: a folder of their own that the server's user may write."""
    return settings.run_dir / "mysql"


def socket_path(settings: Settings) -> Path:
    return run_dir(settings) / "mysqld.sock"


def pid_path(settings: Settings) -> Path:
    return run_dir(settings) / "mysqld.pid"


def owned_dirs(settings: Settings) -> tuple[Path, ...]:
    """Every folder the server writes; owned by the server's OS user."""
    return (datadir(settings), files_dir(settings), tmp_dir(settings), run_dir(settings))


def server_user() -> str | None:
    """The OS user mariadbd switches to (`--user`), or None: it stays the invoking user."""
    return SERVER_OS_USER if os.geteuid() == 0 else None


def superuser() -> str:
    """The MariaDB account of the OS user running the stack (unix_socket authentication)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def first_blocked_dir(path: Path, uid: int, gids: set[int]) -> Path | None:
    """The first folder on the way to `path` (from /) that `uid` may not enter, or None.

    Plain mode bits only: a home folder of mode 0700 or 0750 stops another user here,
    which is the usual reason a server that drops to `mysql` cannot open its data folder.
    """
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        if not current.exists():
            return None  # created later by us, with a mode we choose
        if not _searchable(current.stat(), uid, gids):
            return current
    return None


def _searchable(st: os.stat_result, uid: int, gids: set[int]) -> bool:
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def connect_superuser(settings: Settings, *, timeout: float = 5) -> Any:
    """A PyMySQL connection over the socket as this OS user's socket-authenticated account.

    A data folder initialised before the lock-down has a passwordless `root@localhost`
    instead; that one is tried second so `make up` can migrate it.
    """
    import pymysql

    sock = str(socket_path(settings))
    me = superuser()
    attempts = [(me, "")] if me == "root" else [(me, ""), ("root", "")]
    last: Exception | None = None
    for user, password in attempts:
        try:
            return pymysql.connect(
                unix_socket=sock,
                user=user,
                password=password,
                connect_timeout=timeout,
                autocommit=True,
            )
        except pymysql.err.OperationalError as exc:
            if exc.args[0] not in _ACCESS_DENIED:
                raise
            last = exc
    assert last is not None
    raise last
