"""Fixtures shared by every test layer.

- `stack`: the real local services, brought up once per session (idempotent `make up`).
- `ns`: settings for a fresh namespace (PIPELINE_USER_ID) with its topics and bucket,
  so runs and tests never collide.
Unit tests use neither and run without services.

The session leaves the user's stack as it found it: the first use of `stack` snapshots it
(tests/support/stack_state.py), the last test asserts nothing was left over, and
`pytest_sessionfinish` sweeps whatever appeared anyway, even after failures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from services.settings import Settings, load_settings
from tests.support import stack_state
from tests.support.namespaces import drop_namespace, fresh_namespace
from tests.support.stack_state import SESSION

LAST = "tests/integration/test_stack_left_as_found.py"


def pytest_configure(config: pytest.Config) -> None:
    # The supervisor-based tests (kills, restarts, status) need the native runtime. With
    # RUNTIME=auto a machine whose `docker info` answers would get the compose stack instead.
    if os.environ.get("RUNTIME", "auto") == "auto":
        os.environ["RUNTIME"] = "native"
    # Spark runs in the test process (tests share one session); the warm batch service's own
    # tests (test_spark_service.py) start a private one. Without this, `make demo`'s path
    # would leave a service running in the user's stack.
    os.environ["SPARK_SERVICE"] = "0"
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
