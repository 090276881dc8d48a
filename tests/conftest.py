"""Fixtures shared by every test layer.

- `stack`: the real local services, brought up once per session (idempotent `make up`).
- `ns`: settings for a fresh namespace (PIPELINE_USER_ID) with its topics and bucket,
  so runs and tests never collide.
Unit tests use neither and run without services.

The session leaves the user's stack as it found it: the first use of `stack` snapshots it
(tests/tools/stack_state.py), the last test asserts nothing was left over, and
`pytest_sessionfinish` sweeps whatever appeared anyway, even after failures.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from services.settings import Settings, load_settings
from tests.tools import stack_state
from tests.tools.stack_state import SESSION

LAST = "tests/integration/test_stack_left_as_found.py"


def pytest_configure(config: pytest.Config) -> None:
    # The supervisor-based tests (kills, restarts, status) need the native runtime. With
    # RUNTIME=auto a machine whose `docker info` answers would get the compose stack instead.
    if os.environ.get("RUNTIME", "auto") == "auto":
        os.environ["RUNTIME"] = "native"
    # A background thread that dies (a fault injector, a producer) fails its test instead of
    # printing a warning nobody reads.
    config.addinivalue_line("filterwarnings", "error::pytest.PytestUnhandledThreadExceptionWarning")
    # Visible to other sessions from the start, so none sweeps names this one is still using.
    try:
        SESSION.lock = stack_state.SessionLock(load_settings()).__enter__()
    except Exception as exc:  # bad settings: the tests that need them say so themselves
        logging.getLogger(__name__).warning("no test-session lock: %s", exc)


def pytest_unconfigure(config: pytest.Config) -> None:
    if SESSION.lock is not None:
        SESSION.lock.__exit__()


LAYERS = {"tests/unit/": "unit", "tests/integration/": "integration", "tests/e2e/": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries the marker of the layer (folder) it is in, so `-m unit` selects
    exactly tests/unit even when a module forgot its `pytestmark`. The left-as-found check
    runs after every other test, e2e included."""
    for item in items:
        for folder, layer in LAYERS.items():
            if item.nodeid.startswith(folder):
                item.add_marker(layer)
    last = [i for i in items if i.nodeid.startswith(LAST)]
    if last:
        items[:] = [i for i in items if not i.nodeid.startswith(LAST)] + last


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove what the session's tests left behind, even after failures or Ctrl-C."""
    if SESSION.before is None or SESSION.lock is None:
        return  # the stack was never used
    log = logging.getLogger(__name__)
    settings = load_settings()
    try:
        now = stack_state.take(settings)
        if SESSION.lock.others_alive():
            # Another session shares this stack: its names are not ours to remove.
            doomed = stack_state.registered(settings, now, SESSION.user_ids, SESSION.databases)
        else:
            doomed = stack_state.merged(
                stack_state.leftovers(settings, SESSION.before, now),
                # An earlier run's that died: test-prefixed names already there at the start.
                stack_state.stale(settings, SESSION.before.intersection(now)),
            )
        for line in stack_state.sweep(settings, doomed):
            log.warning("test sweep: could not remove %s", line)
    except Exception as exc:  # the sweep is cleanup: it must not hide the tests' result
        log.warning("test sweep failed: %s", exc)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def stack(base_settings: Settings) -> Iterator[Settings]:
    from services.stack import lifecycle

    lifecycle.up(base_settings)
    if SESSION.before is None:
        SESSION.before = stack_state.take(base_settings)
    yield base_settings


def fresh_namespace(stack: Settings, prefix: str = "t") -> Settings:
    """Settings for a new PIPELINE_USER_ID with its topics and bucket created."""
    from services.stack import lifecycle

    settings = stack.model_copy(update={"pipeline_user_id": f"{prefix}{uuid.uuid4().hex[:10]}"})
    SESSION.user_ids.add(settings.pipeline_user_id)
    lifecycle.ensure_namespace(settings)
    return settings


def drop_namespace(settings: Settings) -> None:
    """Best effort: a namespace that cannot be dropped must not fail the test that used it."""
    import logging

    from services.stack import bootstrap

    try:
        # The connector goes first and its consumer group is deleted only once its task has
        # left: nothing writes into the bucket after it is emptied.
        bootstrap.drop_namespace(settings)
    except Exception as exc:  # cleanup only; the test's own result stands
        logging.getLogger(__name__).warning("could not drop %s: %s", settings.pipeline_user_id, exc)


@pytest.fixture
def ns(stack: Settings) -> Iterator[Settings]:
    settings = fresh_namespace(stack)
    yield settings
    drop_namespace(settings)


@pytest.fixture(scope="module")
def module_ns(stack: Settings) -> Iterator[Settings]:
    settings = fresh_namespace(stack)
    yield settings
    drop_namespace(settings)


@contextmanager
def seeded_database(stack: Settings, prefix: str, size: int) -> Iterator[Settings]:
    """Settings for a throwaway scratch database of `size` events, read by the scratch
    reader `<MYSQL_USER>_scratch` (created by `make up`); the database is dropped
    afterwards. Neither the shared database nor the shared reader is touched."""
    from seed_data.load import load
    from services.stack.mysql_accounts import scratch_database, scratch_reader

    name = scratch_database(stack, f"{prefix}_{uuid.uuid4().hex[:8]}")
    SESSION.databases.add(name)
    settings = stack.model_copy(
        update={"mysql_database": name, "mysql_user": scratch_reader(stack)}
    )
    try:
        load(settings, size=size)
        yield settings
    finally:
        drop_database(settings)


def drop_database(settings: Settings) -> None:
    """Drop the settings' scratch database (never the shared one)."""
    from sqlalchemy import text

    from services.clients import clients_for

    shared = Settings.model_fields["mysql_database"].default
    assert settings.mysql_database != shared, "refusing to drop the shared database"
    admin = clients_for(settings).mysql_engine(admin=True, database=False)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{settings.mysql_database}`"))
    finally:
        admin.dispose()
