"""An old-style MariaDB data folder (as every version before the lock-down created it) is
migrated by the code `make up` runs: the passwordless TCP roots and the global admin grant
are gone, the server runs unprivileged with `secure_file_priv` set.

The folder and its server are private: a temp folder and a free loopback port, never the
shared stack.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest

from services.runner.child import ChildProcess, free_port
from services.settings import Settings, load_settings
from services.stack import (
    bootstrap,
    definitions,
    install,
    mysql_accounts,
    mysql_layout,
    standalone,
)
from services.stack.errors import StackError

pytestmark = pytest.mark.integration

# Small InnoDB files: this server lives for seconds.
SMALL = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"]


def _binary(name: str) -> str:
    path = install.find_binary(name)
    assert path, f"{name} is missing: `make up` installs Debian's mariadb-server"
    return path


def _legacy_folder(settings: Settings) -> None:
    """What 97a4b4c's `make up` left: install-db with `normal` root authentication,
    mariadbd as root without secure_file_priv, the admin with ALL ON *.* WITH GRANT
    OPTION and the reader at '%'."""
    datadir = settings.data_dir / "mysql"
    datadir.mkdir(parents=True)
    root = ["--user=root"] if os.geteuid() == 0 else []
    log = settings.state_dir / "legacy.log"
    init = [
        _binary("mariadb-install-db"),
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        *root,
    ]
    with log.open("ab") as out:
        assert subprocess.run(init, stdout=out, stderr=subprocess.STDOUT).returncode == 0
    sock = settings.run_dir / "mysqld.sock"
    sock.parent.mkdir(parents=True)

    def root_answers() -> str:
        pymysql.connect(unix_socket=str(sock), user="root", autocommit=True).close()
        return "root answers on the socket"

    server = ChildProcess(
        "legacy-mariadbd",
        [
            _binary("mariadbd"),
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={sock}",
            f"--pid-file={settings.run_dir / 'mysqld.pid'}",
            f"--port={settings.mysql_port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            *SMALL,
            *root,
        ],
        log=log,
        probe=root_answers,
        start_timeout=60,
        stop_timeout=60,
    )
    with server:
        conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        admin, pw = settings.mysql_admin_user, settings.mysql_admin_password.get_secret_value()
        with conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost", "::1"):
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (admin, host, pw))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (admin, host))
            reader, rpw = settings.mysql_user, settings.mysql_password.get_secret_value()
            for host in ("%", "localhost", "127.0.0.1"):
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (reader, host, rpw))
                cur.execute("GRANT SELECT ON `pinterest\\_data`.* TO %s@%s", (reader, host))
            cur.execute("CREATE DATABASE pinterest_data")
            cur.execute("SELECT user, host FROM mysql.user WHERE user = 'root'")
            roots = {h for _, h in cur.fetchall()}
        assert {"127.0.0.1", "::1", "localhost"} <= roots  # the old style really is old


def _tcp(settings: Settings, user: str, password: str) -> pymysql.Connection:
    return pymysql.connect(
        host="127.0.0.1",
        port=settings.mysql_port,
        user=user,
        password=password,
        connect_timeout=5,
    )


@pytest.fixture
def private(request: pytest.FixtureRequest) -> Iterator[Settings]:
    # The server may run as `mysql`: its state folder must be enterable (mkdtemp is 0700).
    state = Path(tempfile.mkdtemp(prefix="pipeline-mysql-migration-"))
    state.chmod(0o755)
    settings = load_settings().model_copy(
        update={"state_dir": state, "mysql_port": free_port(), "mysql_database": "pinterest_data"}
    )
    settings.logs_dir.mkdir(parents=True)
    try:
        yield settings
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_make_up_migrates_an_old_style_data_folder(private: Settings) -> None:
    settings = private
    _legacy_folder(settings)
    # Before: anyone on the machine is root over TCP, with no password.
    # (The legacy server is stopped now; what it allowed was checked above.)

    # What `make up` runs for mysql: its before_start hook (ownership; init, a no-op here),
    # start, accounts.
    mysql = definitions.mysql(settings)
    server = standalone.child(replace(mysql, command=(*mysql.command, *SMALL)), settings)
    with server:
        bootstrap.mysql_accounts(settings)
        bootstrap.mysql_accounts(settings)  # idempotent: a second `make up` changes nothing

        for password in ("", settings.mysql_admin_password.get_secret_value(), "root"):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                _tcp(settings, "root", password)
            assert refused.value.args[0] in (1045, 1130, 1698)

        su = mysql_layout.connect_superuser(settings)
        with su, su.cursor() as cur:
            cur.execute("SELECT user, host, plugin FROM mysql.user ORDER BY user, host")
            accounts = {(u, h): p for u, h, p in cur.fetchall()}
            cur.execute(
                f"SELECT user, host FROM mysql.global_priv WHERE {mysql_accounts.PASSWORDLESS}"
            )
            passwordless = cur.fetchall()
            grants = {}
            for user, host in accounts:
                if user == settings.mysql_admin_user:
                    cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
                    grants[host] = mysql_accounts.parse_grants(r[0] for r in cur.fetchall())
            cur.execute("SELECT @@secure_file_priv")
            (priv,) = cur.fetchone()
        assert passwordless == ()
        assert [h for u, h in accounts if u == "root"] == ["localhost"]
        assert accounts[("root", "localhost")] == "unix_socket"
        assert not any(h == "%" for _, h in accounts), accounts
        assert set(grants) == set(mysql_accounts.ACCOUNT_HOSTS)
        for host, lines in grants.items():
            assert lines == {
                "GRANT ALL PRIVILEGES ON `pinterest\\_data`.*",
                "GRANT ALL PRIVILEGES ON `pinterest\\_data\\_%`.*",
            }, host
        assert Path(priv) == mysql_layout.files_dir(settings)

        # The admin still works, and only on the project's databases.
        admin = _tcp(
            settings,
            settings.mysql_admin_user,
            settings.mysql_admin_password.get_secret_value(),
        )
        with admin, admin.cursor() as cur:
            cur.execute("SELECT LOAD_FILE('/etc/passwd')")
            assert cur.fetchone() == (None,)
            with pytest.raises(pymysql.err.OperationalError) as denied:
                cur.execute("CREATE DATABASE not_the_project")
            assert denied.value.args[0] == 1044

        status = Path(f"/proc/{server.pid}/status").read_text()
        euid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[2])
        if os.geteuid() == 0:
            assert euid != 0 and euid == pwd.getpwnam("mysql").pw_uid
            assert mysql_layout.datadir(settings).stat().st_uid == euid
            owners = {p.stat().st_uid for p in mysql_layout.datadir(settings).rglob("*")}
            assert owners == {euid}
        else:
            assert euid == os.geteuid()


def test_a_folder_the_server_user_cannot_enter_is_named_with_the_fix() -> None:
    private = Path(tempfile.mkdtemp(prefix="pipeline-private-"))  # mode 0700, like a home
    settings = load_settings().model_copy(update={"state_dir": private / "proj" / ".local"})
    try:
        if os.geteuid() == 0:
            # mariadbd will run as `mysql`, which cannot pass through `private`.
            with pytest.raises(StackError, match=r"chmod o\+x") as refused:
                bootstrap.prepare_mysql(settings)
            assert f"cannot enter {private} " in str(refused.value)
            assert "STATE_DIR" in str(refused.value)
        else:
            # mariadbd runs as this user, who can enter its own folders.
            bootstrap.prepare_mysql(settings)
            for folder in mysql_layout.owned_dirs(settings):
                assert folder.stat().st_uid == os.geteuid()
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_a_fresh_data_folder_starts_locked_down(private: Settings) -> None:
    settings = private
    mysql = definitions.mysql(settings)  # its before_start hook inits the data folder
    with standalone.child(replace(mysql, command=(*mysql.command, *SMALL)), settings):
        su = mysql_layout.connect_superuser(settings)
        with su, su.cursor() as cur:
            cur.execute("SELECT user, host, plugin FROM mysql.user ORDER BY user, host")
            fresh = cur.fetchall()
        # Before any account is set: only the socket superuser(s) and MariaDB's locked one.
        me = mysql_layout.superuser()
        expected = {("mariadb.sys", "localhost"), ("root", "localhost"), (me, "localhost")}
        assert {(u, h) for u, h, _ in fresh} == expected
        bootstrap.mysql_accounts(settings)
        with pytest.raises(pymysql.err.OperationalError):
            _tcp(settings, "root", "")
        reader = _tcp(settings, settings.mysql_user, settings.mysql_password.get_secret_value())
        with reader, reader.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone() == (f"{settings.mysql_user}@127.0.0.1",)
