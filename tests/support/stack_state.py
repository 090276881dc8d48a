"""What a test session may change on the user's stack, and how it puts it back.

`take()` lists the stack's topics, buckets, consumer groups, Kafka Connect connectors,
databases, MySQL accounts and the shared accounts' grants. The session takes one snapshot
when it first needs the stack (tests/conftest.py); at the end `sweep()` removes what appeared
since (tests namespaces and their connectors, throwaway databases and accounts, check
consumer groups), even when tests failed, and the last test
(tests/integration/test_zz_stack_left_as_found.py) asserts that nothing is left over.

Several sessions against one stack (a developer running two terminals) would see each other's
names: each live session leaves a pid file under `.local/test-sessions/`, and a session sweeps
only the names it registered itself while another is alive.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.settings import Settings
from services.stack.mysql_accounts import scratch_reader

log = logging.getLogger(__name__)

SYSTEM_DATABASES = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
# SHOW GRANTS carries the password hash; a changed password is not what we compare, and the
# hash has no place in a failure message.
_PASSWORD = re.compile(r" IDENTIFIED BY PASSWORD '[^']*'")


def shared_names(settings: Settings) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(user ids, databases, MySQL users) that belong to the user's stack, never swept."""
    defaults = Settings.model_fields
    user_ids = {settings.pipeline_user_id, str(defaults["pipeline_user_id"].default)}
    databases = {settings.mysql_database, str(defaults["mysql_database"].default)}
    readers = {settings.mysql_user, str(defaults["mysql_user"].default)}
    admins = {settings.mysql_admin_user, str(defaults["mysql_admin_user"].default)}
    # `make up` also creates the scratch reader the tests' throwaway databases are read by.
    users = (
        readers
        | admins
        | {scratch_reader(settings.model_copy(update={"mysql_user": r})) for r in readers}
    )
    return frozenset(user_ids), frozenset(databases), frozenset(users)


def _is_internal_topic(name: str) -> bool:
    # __consumer_offsets, _connect-*: Kafka's and Connect's own, created on first use.
    return name.startswith("_")


@dataclass(frozen=True)
class StackState:
    topics: frozenset[str]
    buckets: frozenset[str]
    groups: frozenset[str]
    databases: frozenset[str]
    accounts: frozenset[tuple[str, str]]
    # Grants of the shared accounts that exist: (user, host) -> sorted SHOW GRANTS lines.
    grants: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # Connectors on the stack's Connect worker (each namespace's S3 sink, tests' own).
    connectors: frozenset[str] = frozenset()

    def intersection(self, other: StackState) -> StackState:
        """What both snapshots hold (grants: this one's)."""
        return StackState(
            self.topics & other.topics,
            self.buckets & other.buckets,
            self.groups & other.groups,
            self.databases & other.databases,
            self.accounts & other.accounts,
            self.grants,
            self.connectors & other.connectors,
        )

    def added_since(self, before: StackState) -> dict[str, list[str]]:
        return {
            "topics": sorted(self.topics - before.topics),
            "buckets": sorted(self.buckets - before.buckets),
            "consumer groups": sorted(self.groups - before.groups),
            "databases": sorted(self.databases - before.databases),
            "accounts": [f"{u}@{h}" for u, h in sorted(self.accounts - before.accounts)],
            "connectors": sorted(self.connectors - before.connectors),
        }

    def removed_since(self, before: StackState) -> dict[str, list[str]]:
        return {
            "topics": sorted(before.topics - self.topics),
            "buckets": sorted(before.buckets - self.buckets),
            "databases": sorted(before.databases - self.databases),
            "accounts": [f"{u}@{h}" for u, h in sorted(before.accounts - self.accounts)],
            "connectors": sorted(before.connectors - self.connectors),
        }


def connector_names(settings: Settings) -> set[str]:
    import requests

    resp = requests.get(settings.kafka_connect_url.rstrip("/") + "/connectors", timeout=15)
    resp.raise_for_status()
    return set(resp.json())


def take(settings: Settings) -> StackState:
    from sqlalchemy import text

    from services.clients import clients_for

    clients = clients_for(settings)
    admin = clients.kafka_admin()
    topics = {t for t in admin.list_topics(timeout=15).topics if not _is_internal_topic(t)}
    groups = {g.group_id for g in admin.list_consumer_groups(request_timeout=15).result().valid}
    buckets = {b.name for b in clients.s3().list_buckets()}
    _, _, shared_users = shared_names(settings)
    engine = clients.mysql_engine(admin=True, database=False)
    try:
        with engine.connect() as conn:
            databases = set(conn.execute(text("SHOW DATABASES")).scalars()) - SYSTEM_DATABASES
    finally:
        engine.dispose()
    # Accounts and grants are the superuser's to read: the admin sees its databases only.
    from services.stack.mysql_layout import connect_superuser

    su = connect_superuser(settings)
    with su, su.cursor() as cur:
        cur.execute("SELECT user, host FROM mysql.user")
        accounts = {(str(u), str(h)) for u, h in cur.fetchall()}
        grants = {}
        for u, h in sorted(accounts):
            if u in shared_users:
                cur.execute("SHOW GRANTS FOR %s@%s", (u, h))
                grants[(u, h)] = tuple(sorted(_PASSWORD.sub("", r[0]) for r in cur.fetchall()))
    return StackState(
        frozenset(topics),
        frozenset(buckets),
        frozenset(groups),
        frozenset(databases),
        frozenset(accounts),
        grants,
        frozenset(connector_names(settings)),
    )


def namespace_of(name: str) -> str | None:
    """The PIPELINE_USER_ID a topic or bucket belongs to (`<id>.<table>`,
    `streaming-<id>-<table>`, `user-<id>-bucket`, the dead-letter topic `dlq-<id>`), or None."""
    if name.startswith("dlq-") and "." not in name:
        return name[len("dlq-") :]
    if name.startswith("user-") and name.endswith("-bucket"):
        return name[len("user-") : -len("-bucket")]
    if name.startswith("streaming-") and name.count("-") >= 2:
        return name[len("streaming-") :].rsplit("-", 1)[0]
    if "." in name:
        return name.rsplit(".", 1)[0]
    return None


def connector_namespace(name: str) -> str:
    """`<id>-s3-sink` (what `make up` registers) or a test's own `<id>-<word>` -> `<id>`."""
    if name.endswith("-s3-sink"):
        return name[: -len("-s3-sink")]
    return name.rsplit("-", 1)[0]


@dataclass
class Leftovers:
    """What a sweep should remove."""

    topics: set[str] = field(default_factory=set)
    buckets: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    databases: set[str] = field(default_factory=set)
    accounts: set[tuple[str, str]] = field(default_factory=set)
    connectors: set[str] = field(default_factory=set)


def leftovers(settings: Settings, before: StackState, now: StackState) -> Leftovers:
    """Everything that appeared since `before`, minus the user's shared names."""
    user_ids, shared_dbs, shared_users = shared_names(settings)
    return Leftovers(
        topics={t for t in now.topics - before.topics if namespace_of(t) not in user_ids},
        buckets={b for b in now.buckets - before.buckets if namespace_of(b) not in user_ids},
        groups=set(now.groups - before.groups),
        databases=set(now.databases - before.databases - shared_dbs),
        accounts={(u, h) for u, h in now.accounts - before.accounts if u not in shared_users},
        connectors={
            c for c in now.connectors - before.connectors if connector_namespace(c) not in user_ids
        },
    )


def registered(
    settings: Settings, now: StackState, user_ids: Iterable[str], databases: Iterable[str]
) -> Leftovers:
    """The names of namespaces and databases this session created itself."""
    ids = set(user_ids) - shared_names(settings)[0]
    dbs = set(databases) - shared_names(settings)[1]
    return Leftovers(
        topics={t for t in now.topics if namespace_of(t) in ids},
        buckets={b for b in now.buckets if namespace_of(b) in ids},
        databases={d for d in now.databases if d in dbs},
        # An account named after its database (older fixtures made one per database).
        accounts={(u, h) for u, h in now.accounts if u in dbs},
        connectors={c for c in now.connectors if connector_namespace(c) in ids},
    )


# The test prefixes: the namespaces, consumer groups and databases that tests and benchmarks
# make (a word and a random hex tail). Leftovers of an earlier run that died are swept by
# these names; a 12-hex-digit id is left alone, since it looks like an AWS user id.
TEST_NAMESPACE = re.compile(
    r"^(?:(?:t|e|gw|af|drop|side|leak|nobucket)[0-9a-f]{8,10}"
    r"|(?:e2e|fault|bench|benchaf|overload)-?[0-9a-f]{8})$"
)
TEST_GROUP = re.compile(
    r"^(?:check|g|a|b|other|test-sink|landing-verify|fault-watch|e2e-count)-[0-9a-z]{6,32}$"
)
_AWS_LIKE_ID = re.compile(r"^[0-9a-f]{12}$")


def is_test_namespace(user_id: str | None) -> bool:
    return bool(user_id and TEST_NAMESPACE.match(user_id) and not _AWS_LIKE_ID.match(user_id))


def stale(settings: Settings, now: StackState) -> Leftovers:
    """Names with the test prefixes, whoever made them (for a session alone on the stack)."""
    user_ids, shared_dbs, _ = shared_names(settings)
    scratch = f"{settings.mysql_database}_"
    return Leftovers(
        topics={
            t
            for t in now.topics
            if is_test_namespace(namespace_of(t)) and namespace_of(t) not in user_ids
        },
        buckets={
            b
            for b in now.buckets
            if is_test_namespace(namespace_of(b)) and namespace_of(b) not in user_ids
        },
        groups={g for g in now.groups if TEST_GROUP.match(g)},
        # `<MYSQL_DATABASE>_<suffix>` are scratch databases, for tests and benchmarks only.
        databases={d for d in now.databases if d.startswith(scratch) and d not in shared_dbs},
        connectors={
            c
            for c in now.connectors
            if is_test_namespace(connector_namespace(c)) and connector_namespace(c) not in user_ids
        },
    )


def merged(*parts: Leftovers) -> Leftovers:
    out = Leftovers()
    for part in parts:
        out.topics |= part.topics
        out.buckets |= part.buckets
        out.groups |= part.groups
        out.databases |= part.databases
        out.accounts |= part.accounts
        out.connectors |= part.connectors
    return out


def sweep(settings: Settings, doomed: Leftovers) -> list[str]:
    """Remove `doomed`; returns one line per thing that could not be removed."""
    from minio.deleteobjects import DeleteObject
    from sqlalchemy import text

    from services.clients import clients_for

    failures: list[str] = []
    clients = clients_for(settings)
    admin = clients.kafka_admin()
    # Connectors first: a task still running would re-create its consumer group, and write
    # into a bucket being emptied.
    from services.stack import connectors

    for name in sorted(doomed.connectors):
        try:
            connectors.unregister(settings, name)
        except Exception as exc:
            failures.append(f"connector {name}: {exc}")
    if doomed.groups:
        for group, future in admin.delete_consumer_groups(sorted(doomed.groups)).items():
            try:
                future.result(timeout=20)
            except Exception as exc:  # one group's error must not stop the rest of the sweep
                failures.append(f"consumer group {group}: {exc}")
    if doomed.topics:
        for topic, future in admin.delete_topics(
            sorted(doomed.topics), operation_timeout=15
        ).items():
            try:
                future.result(timeout=20)
            except Exception as exc:
                failures.append(f"topic {topic}: {exc}")
    s3 = clients.s3()
    for bucket in sorted(doomed.buckets):
        try:
            objects = (
                DeleteObject(o.object_name)
                for o in s3.list_objects(bucket, recursive=True)
                if o.object_name
            )
            errors = [f"{e.name}: {e.message}" for e in s3.remove_objects(bucket, objects)]
            if errors:
                failures.append(f"bucket {bucket}: {errors[:3]}")
                continue
            s3.remove_bucket(bucket)
        except Exception as exc:
            failures.append(f"bucket {bucket}: {exc}")
    if doomed.databases or doomed.accounts:
        engine = clients.mysql_engine(admin=True, database=False)
        try:
            with engine.begin() as conn:
                for db in sorted(doomed.databases):
                    conn.execute(text(f"DROP DATABASE IF EXISTS `{db.replace('`', '``')}`"))
                for user, host in sorted(doomed.accounts):
                    conn.execute(text("DROP USER IF EXISTS :u@:h"), {"u": user, "h": host})
        except Exception as exc:
            failures.append(f"mysql: {exc}")
        finally:
            engine.dispose()
    return failures


class SessionLock:
    """A pid file per live test session, so concurrent sessions can see each other."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.run_dir / "test-sessions"
        self.path = self.folder / str(os.getpid())

    def __enter__(self) -> SessionLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        return self

    def __exit__(self, *_exc: object) -> None:  # idempotent: also called at unconfigure
        self.path.unlink(missing_ok=True)

    def others_alive(self) -> list[int]:
        alive = []
        for entry in self.folder.iterdir() if self.folder.exists() else []:
            if not entry.name.isdigit() or entry == self.path:
                continue
            pid = int(entry.name)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                entry.unlink(missing_ok=True)  # a session that died without cleaning up
                continue
            except PermissionError:
                pass  # alive, someone else's
            alive.append(pid)
        return alive


@dataclass
class Session:
    """This session's snapshot and the names it created (filled by tests/conftest.py)."""

    before: StackState | None = None
    user_ids: set[str] = field(default_factory=set)
    databases: set[str] = field(default_factory=set)
    lock: SessionLock | None = None


SESSION = Session()
