"""Idempotent set-up inside the running servers: accounts, database, topics, bucket."""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from confluent_kafka.admin import NewTopic

from services.clients import clients_for
from services.settings import Settings, load_settings
from services.stack import install, mysql_layout, probes
from services.stack import mysql_accounts as mysql_accounts_module
from services.stack.errors import StackError


def prepare_mysql(settings: Settings) -> None:
    """The server's folders exist and belong to the OS user it runs as.

    Run before every start: a data folder from an older version (owned by root, the
    server ran as root) is handed over to `mysql` here, which is half of its migration;
    `mysql_accounts` does the other half once the server answers.
    """
    dirs = mysql_layout.owned_dirs(settings)
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    user = mysql_layout.server_user()
    if user is None:
        for d in dirs:
            d.chmod(0o755 if d == mysql_layout.run_dir(settings) else 0o700)
        return
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise StackError(
            f"the system user '{user}' is missing: MariaDB runs as it when `make up` runs as "
            "root. It comes with Debian's mariadb-server package: apt-get install "
            "mariadb-server (or `useradd --system mysql`), then `make up` again."
        ) from None
    gids = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {account.pw_gid}
    for d in dirs:
        blocked = mysql_layout.first_blocked_dir(d, account.pw_uid, gids)
        if blocked is not None:
            raise StackError(
                f"MariaDB runs as the unprivileged user '{user}' when `make up` runs as root, "
                f"and that user cannot enter {blocked} (mode {blocked.stat().st_mode & 0o777:o}) "
                f"on the way to {d}. Either let other users pass through it without listing "
                f"it (`chmod o+x {blocked}`), or put the project's state elsewhere "
                "(STATE_DIR=/srv/pinterest-pipeline in .env), or run `make up` as a normal user."
            )
    for d in dirs:
        _chown_tree(d, account.pw_uid, account.pw_gid)
        d.chmod(0o755 if d == mysql_layout.run_dir(settings) else 0o700)


def before_mysql_start(settings: Settings) -> None:
    """MariaDB's `before_start` hook: its folders (handed to `mysql` when run as root) and,
    the first time, its system tables."""
    prepare_mysql(settings)
    init_mysql_datadir(settings)


#: The settings that define MariaDB's accounts and what they may use (SECURITY.md).
ACCOUNT_SETTINGS = (
    "mysql_database",
    "mysql_user",
    "mysql_password",
    "mysql_admin_user",
    "mysql_admin_password",
)


def after_mysql_healthy(settings: Settings) -> None:
    """MariaDB's `after_healthy` hook: the accounts, then the TCP login users make."""
    # Accounts follow the configuration (.env, environment), never a caller's copy aimed at
    # a scratch database: a fault test restarting MariaDB with its seeded settings must not
    # move the shared accounts' grants to its throwaway database.
    configured = load_settings()
    if all(getattr(settings, f) == getattr(configured, f) for f in ACCOUNT_SETTINGS):
        mysql_accounts(settings)
    probes.wait_until(probes.mysql_tcp, settings, timeout=10)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    # Symlinks are not followed: a link inside the data folder must not hand `mysql`
    # a file elsewhere on the machine.
    os.chown(root, uid, gid, follow_symlinks=False)
    for folder, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = os.path.join(folder, name)
            if os.lstat(path).st_uid != uid:
                os.chown(path, uid, gid, follow_symlinks=False)


def init_mysql_datadir(settings: Settings) -> None:
    """Create MariaDB's system tables once. The only superuser is the OS user running the
    stack, through the unix socket (unix_socket authentication, no password)."""
    datadir = mysql_layout.datadir(settings)
    if (datadir / "mysql").is_dir():
        return
    binary = install.find_binary("mariadb-install-db")
    if binary is None:
        raise StackError("mariadb-install-db is missing; run `make up` as root to install it")
    log = settings.logs_dir / "install.log"
    cmd = [
        binary,
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=socket",
        f"--auth-root-socket-user={mysql_layout.superuser()}",
        "--skip-test-db",
    ]
    if (user := mysql_layout.server_user()) is not None:
        cmd.append(f"--user={user}")
    with log.open("a") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise StackError(f"mariadb-install-db failed (exit {rc}); see {log}")


def format_kafka_storage(settings: Settings) -> None:
    """Format the KRaft log folder once (`kafka-storage.sh format --standalone`)."""
    from services.stack import configs

    if (settings.data_dir / "kafka" / "meta.properties").exists():
        return
    cmd = [
        "java",
        "-cp",
        f"{install.kafka_libs(settings)}/*",
        f"-Dlog4j2.configurationFile={configs.log4j2_properties(settings)}",
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "--ignore-formatted",
        "-t",
        configs.kafka_cluster_id(settings),
        "-c",
        str(configs.kafka_properties(settings)),
    ]
    log = settings.logs_dir / "install.log"
    with log.open("a") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise StackError(f"formatting Kafka's storage failed (exit {rc}); see {log}")


def mysql_accounts(settings: Settings) -> None:
    """The accounts, their grants and the database (see `mysql_accounts.apply`)."""
    mysql_accounts_module.apply(settings)


def kafka_topics(settings: Settings, names: list[str]) -> list[str]:
    """Create the topics that do not exist yet; return the ones created."""
    admin = clients_for(settings).kafka_admin()
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(name, num_partitions=settings.kafka_topic_partitions, replication_factor=1)
        for name in names
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=15).items():
        try:
            future.result(timeout=20)
            created.append(name)
        except Exception as exc:  # KafkaException wraps a KafkaError
            err = exc.args[0] if exc.args else exc
            if getattr(err, "name", lambda: "")() != "TOPIC_ALREADY_EXISTS":
                raise StackError(f"kafka: could not create topic {name}: {err}") from None
    _wait_visible(admin, [t.topic for t in wanted])
    return created


def _wait_visible(admin: object, names: list[str], timeout: float = 15.0) -> None:
    """CreateTopics returns once the controller commits; the broker's metadata follows a
    moment later. Return only when clients can see every new topic, so a producer or the
    REST proxy asked right after `make up` never answers "unknown topic"."""
    from services.runner.wait import NotReady, WaitTimeout, wait_until

    def visible() -> str:
        md = admin.list_topics(timeout=5)  # type: ignore[attr-defined]
        missing = {n for n in names if n not in md.topics or md.topics[n].error is not None}
        if missing:
            raise NotReady(f"topics {sorted(missing)} not visible yet")
        return "visible"

    try:
        wait_until(visible, timeout=timeout, what="kafka topics", interval=0.1)
    except WaitTimeout:
        raise StackError(
            f"kafka: topics {sorted(names)} not all visible {timeout:.0f} s after creation"
        ) from None


def s3_bucket(settings: Settings) -> bool:
    client = clients_for(settings).s3()
    if client.bucket_exists(settings.bucket):
        return False
    client.make_bucket(settings.bucket)
    return True


def namespace(settings: Settings) -> None:
    """Everything one PIPELINE_USER_ID needs: its topics and its bucket."""
    kafka_topics(settings, settings.topics + settings.streaming_topics)
    s3_bucket(settings)


def drop_namespace(settings: Settings) -> None:
    """Delete one namespace's connector, topics, objects and bucket (tests and benchmarks
    clean up)."""
    from minio.deleteobjects import DeleteObject

    from services.stack import connectors

    # First: a connector still landing would keep writing into the bucket being emptied.
    connectors.drop(settings)

    admin = clients_for(settings).kafka_admin()
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [t for t in settings.topics + settings.streaming_topics if t in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=15).values():
            future.result(timeout=20)
    s3 = clients_for(settings).s3()
    if s3.bucket_exists(settings.bucket):
        objects = (
            DeleteObject(o.object_name)
            for o in s3.list_objects(settings.bucket, recursive=True)
            if o.object_name
        )
        for error in s3.remove_objects(settings.bucket, objects):
            raise StackError(f"s3: could not delete {error.name} from {settings.bucket}: {error}")
        s3.remove_bucket(settings.bucket)
