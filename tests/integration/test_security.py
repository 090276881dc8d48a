"""The shared stack's MariaDB is locked down (issue 12; SECURITY.md lists what is proved here).

Root is reachable through the socket only; no account logs in over TCP without a password;
no project account can read or write the machine's files; the admin is confined to the
project's databases, the readers to SELECT; mariadbd does not run as root. Every test uses
its own scratch names and leaves the accounts as it found them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from seed_data.load import load
from services.settings import Settings
from services.stack import bootstrap, definitions, lifecycle, mysql_accounts, mysql_layout
from services.stack.supervisor import Supervisor

pytestmark = pytest.mark.integration

DENIED = {1044, 1045, 1142, 1227}  # access denied: database, login, table, privilege


def _connect(
    settings: Settings, user: str, password: str, host: str = "127.0.0.1"
) -> pymysql.Connection:
    return pymysql.connect(
        host=host,
        port=settings.mysql_port,
        user=user,
        password=password,
        connect_timeout=5,
        autocommit=True,
    )


def _accounts(settings: Settings) -> dict[str, tuple[str, str]]:
    """name -> (user, password) of every account the project creates."""
    reader = settings.mysql_password.get_secret_value()
    return {
        "admin": (settings.mysql_admin_user, settings.mysql_admin_password.get_secret_value()),
        "reader": (settings.mysql_user, reader),
        "scratch reader": (mysql_accounts.scratch_reader(settings), reader),
    }


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_root_over_tcp_is_refused_with_and_without_a_password(stack: Settings, host: str) -> None:
    if host == "::1" and not _ipv6_loopback():
        # No IPv6 loopback on this machine: nothing can reach ::1 at all; say so, don't skip.
        with pytest.raises(OSError), socket.create_connection(("::1", stack.mysql_port), 2):
            pass
        return
    for password in ("", "root", stack.mysql_admin_password.get_secret_value()):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            _connect(stack, "root", password, host)
        # 1045/1130: the server refused the login; 2003: nothing listens there (127.0.0.1
        # is the only bind address). Either way root got no session.
        assert refused.value.args[0] in (1045, 1130, 1698, 2003), refused.value


def test_no_account_reachable_over_tcp_has_an_empty_password(stack: Settings) -> None:
    su = mysql_layout.connect_superuser(stack)
    with su, su.cursor() as cur:
        cur.execute(
            f"SELECT user, host FROM mysql.global_priv WHERE {mysql_accounts.PASSWORDLESS} "
            "AND host <> 'localhost'"
        )
        passwordless = cur.fetchall()
        cur.execute("SELECT host, plugin FROM mysql.user WHERE user = 'root'")
        roots = cur.fetchall()
        cur.execute("SELECT @@skip_name_resolve, @@bind_address")
        skip_resolve, bind = cur.fetchone()
    assert passwordless == ()
    assert roots == (("localhost", "unix_socket"),)
    # `localhost` accounts stay socket-only because the server never resolves 127.0.0.1.
    assert skip_resolve == 1 and bind == "127.0.0.1"


@pytest.mark.parametrize("who", ["admin", "reader", "scratch reader"])
def test_no_project_account_reads_or_writes_the_machines_files(stack: Settings, who: str) -> None:
    user, password = _accounts(stack)[who]
    target = Path(f"/tmp/pipeline-outfile-{uuid.uuid4().hex}")
    conn = _connect(stack, user, password)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT LOAD_FILE('/etc/passwd')")
            assert cur.fetchone() == (None,)
            with pytest.raises(pymysql.err.MySQLError) as refused:
                cur.execute(f"SELECT 'x' INTO OUTFILE '{target}'")
            assert refused.value.args[0] in DENIED | {1290}, refused.value  # 1290: secure_file_priv
    finally:
        conn.close()
    assert not target.exists()


def test_even_the_superuser_is_confined_to_secure_file_priv(stack: Settings) -> None:
    target = Path(f"/tmp/pipeline-outfile-{uuid.uuid4().hex}")
    su = mysql_layout.connect_superuser(stack)
    with su, su.cursor() as cur:
        cur.execute("SELECT @@secure_file_priv")
        (priv,) = cur.fetchone()
        cur.execute("SELECT LOAD_FILE('/etc/passwd')")
        assert cur.fetchone() == (None,)
        with pytest.raises(pymysql.err.MySQLError) as refused:
            cur.execute(f"SELECT 'x' INTO OUTFILE '{target}'")
        assert refused.value.args[0] == 1290  # "running with --secure-file-priv"
    assert Path(priv) == mysql_layout.files_dir(stack)
    assert stack.state_dir in Path(priv).parents
    assert not target.exists()


@pytest.fixture
def scratch_db(stack: Settings) -> Iterator[str]:
    name = mysql_accounts.scratch_database(stack, f"sec_{uuid.uuid4().hex[:8]}")
    yield name
    conn = _connect(stack, *_accounts(stack)["admin"])
    with conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def test_admin_is_confined_to_the_projects_databases(stack: Settings, scratch_db: str) -> None:
    other = f"not_the_project_{uuid.uuid4().hex[:8]}"
    conn = _connect(stack, *_accounts(stack)["admin"])
    with conn, conn.cursor() as cur:
        # What it may do: the project's database and a scratch one.
        cur.execute(f"CREATE DATABASE `{scratch_db}`")
        cur.execute(f"CREATE TABLE `{scratch_db}`.t (x INT)")
        cur.execute(f"INSERT INTO `{scratch_db}`.t VALUES (1)")
        # What it may not: another database, the system tables, accounts, global privileges.
        for sql in (
            f"CREATE DATABASE `{other}`",
            "SELECT COUNT(*) FROM mysql.user",
            "SELECT COUNT(*) FROM mysql.global_priv",
            "CREATE USER 'sneaky'@'%' IDENTIFIED BY 'x'",
            "ALTER USER 'root'@'localhost' IDENTIFIED BY 'x'",
            f"GRANT SELECT ON `{scratch_db}`.* TO 'nobody_{uuid.uuid4().hex[:8]}'@'127.0.0.1'",
            # Harmless if it ran; it must not run (no SUPER).
            "SET GLOBAL max_connections = @@max_connections",
        ):
            with pytest.raises(pymysql.err.MySQLError) as refused:
                cur.execute(sql)
            assert refused.value.args[0] in DENIED, (sql, refused.value)
        cur.execute("SHOW DATABASES")
        visible = {r[0] for r in cur.fetchall()}
        cur.execute("SHOW GRANTS")
        grants = mysql_accounts.parse_grants(r[0] for r in cur.fetchall())
    assert other not in visible and "mysql" not in visible
    assert visible <= {"information_schema", stack.mysql_database} | {
        d for d in visible if d.startswith(f"{stack.mysql_database}_")
    }
    db = stack.mysql_database
    assert grants == {
        f"GRANT ALL PRIVILEGES ON {mysql_accounts.grant_pattern(db)}.*",
        f"GRANT ALL PRIVILEGES ON {mysql_accounts.scratch_pattern(db)}.*",
    }


@pytest.mark.parametrize("who", ["reader", "scratch reader"])
def test_readers_cannot_write(stack: Settings, scratch_db: str, who: str) -> None:
    admin = _connect(stack, *_accounts(stack)["admin"])
    with admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{scratch_db}`")
        cur.execute(f"CREATE TABLE `{scratch_db}`.t (x INT)")
        cur.execute(f"INSERT INTO `{scratch_db}`.t VALUES (1)")
    db = stack.mysql_database if who == "reader" else scratch_db
    conn = _connect(stack, *_accounts(stack)[who])
    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{db}'")
        assert cur.fetchone() == (1,)  # it does see the database it reads
        if who == "scratch reader":
            cur.execute(f"SELECT x FROM `{scratch_db}`.t")
            assert cur.fetchall() == ((1,),)
        for sql in (
            f"CREATE TABLE `{db}`.w (x INT)",
            f"INSERT INTO `{scratch_db}`.t VALUES (2)",
            f"DROP DATABASE `{db}`",
            "CREATE DATABASE `anything`",
        ):
            with pytest.raises(pymysql.err.MySQLError) as refused:
                cur.execute(sql)
            assert refused.value.args[0] in DENIED, (sql, refused.value)


def test_mariadbd_does_not_run_as_root(stack: Settings) -> None:
    pid = int(Supervisor(stack).info("mysql")["pid"])
    assert pid > 0, "supervisord reports no mariadbd process"
    status = Path(f"/proc/{pid}/status").read_text()
    real, effective, saved, _ = (
        int(x) for x in next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
    )
    if os.geteuid() == 0:
        # `make up` ran as root: the server dropped to `mysql` for good (all three ids).
        assert effective != 0 and real != 0 and saved != 0
        owner = mysql_layout.datadir(stack).stat().st_uid
        assert owner == effective
    else:
        assert effective == os.geteuid()


def _grants(stack: Settings) -> dict[tuple[str, str], set[str]]:
    """Every account (user, host) with its grants, as the superuser sees them."""
    su = mysql_layout.connect_superuser(stack)
    out = {}
    with su, su.cursor() as cur:
        cur.execute("SELECT user, host FROM mysql.user")
        for user, host in cur.fetchall():
            cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
            out[(user, host)] = mysql_accounts.parse_grants(r[0] for r in cur.fetchall())
    return out


def test_seeding_and_make_up_leave_the_shared_accounts_as_they_were(stack: Settings) -> None:
    before = _grants(stack)
    scratch = stack.model_copy(
        update={
            "mysql_database": mysql_accounts.scratch_database(stack, f"sec_{uuid.uuid4().hex[:8]}"),
            "mysql_user": mysql_accounts.scratch_reader(stack),
        }
    )
    try:
        assert load(scratch, 20).loaded  # with its reader check, as the e2e tests seed
        bootstrap.mysql_accounts(stack)  # what every `make up` runs
    finally:
        conn = _connect(stack, *_accounts(stack)["admin"])
        with conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{scratch.mysql_database}`")
    assert _grants(stack) == before
    assert before[(stack.mysql_user, "127.0.0.1")] == {
        f"GRANT SELECT ON {mysql_accounts.grant_pattern(stack.mysql_database)}.*"
    }


def test_a_restart_with_a_scratch_databases_settings_leaves_the_accounts(stack: Settings) -> None:
    # What a fault test does: restart MariaDB with the settings of its seeded scratch database.
    before = _grants(stack)
    scratch = stack.model_copy(
        update={
            "mysql_database": mysql_accounts.scratch_database(stack, "sec_restart"),
            "mysql_user": mysql_accounts.scratch_reader(stack),
        }
    )
    lifecycle._after_healthy(scratch, definitions.mysql(scratch))
    assert _grants(stack) == before
    lifecycle._after_healthy(stack, definitions.mysql(stack))  # the configured ones: applied
    assert _grants(stack) == before


def _listening() -> dict[int, str]:
    """inode -> address of every listening TCP socket of this network namespace."""
    out = {}
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            hex_ip, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_ip)
            # The kernel prints each 32-bit word in host (little-endian) order.
            ip = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            out[int(fields[9])] = f"{ipaddress.ip_address(ip)}:{int(hex_port, 16)}"
    return out


def _tree(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        found.add(p)
        todo += children.get(p, [])
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def test_every_listener_of_the_stack_is_on_loopback(stack: Settings) -> None:
    sup = Supervisor(stack)
    listening = _listening()
    seen: dict[str, list[str]] = {}
    for name in ("mysql", "kafka", "connect", "s3", "rest-proxy"):
        pid = int(sup.info(name)["pid"])
        assert pid > 0, f"{name} is not running"
        for p in _tree(pid):
            try:
                fds = list(Path(f"/proc/{p}/fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inode = int(link[8:-1])
                    if inode in listening:
                        seen.setdefault(name, []).append(listening[inode])
    # Each server was found listening (the test sees their sockets), and only on loopback.
    assert set(seen) == {"mysql", "kafka", "connect", "s3", "rest-proxy"}, seen
    assert f"127.0.0.1:{stack.mysql_port}" in seen["mysql"]
    wide = {name: [a for a in addrs if not _is_loopback(a)] for name, addrs in seen.items()}
    assert all(not addrs for addrs in wide.values()), wide
