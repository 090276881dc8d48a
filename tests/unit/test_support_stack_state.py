"""What the session-end sweep removes, decided from two snapshots of the stack."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from services.settings import Settings
from tests.support.stack_state import (
    StackState,
    connector_namespace,
    is_test_namespace,
    leftovers,
    namespace_of,
    registered,
    stale,
)

pytestmark = pytest.mark.unit


def state(
    topics: set[str],
    buckets: set[str],
    dbs: Iterable[str] = (),
    accounts: Iterable[tuple[str, str]] = (),
) -> StackState:
    return StackState(
        frozenset(topics),
        frozenset(buckets),
        frozenset(),
        frozenset(dbs),
        frozenset(accounts),
    )


def test_namespace_of_every_name_a_namespace_makes() -> None:
    assert namespace_of("t0a1b2c3d4e.pin") == "t0a1b2c3d4e"
    assert namespace_of("streaming-e2e-1234abcd-geo") == "e2e-1234abcd"
    assert namespace_of("user-bench-spark-11153-bucket") == "bench-spark-11153"
    assert namespace_of("plain") is None


def test_leftovers_are_what_appeared_minus_the_users_own() -> None:
    settings = Settings(_env_file=None)
    before = state({"local.pin", "mine.pin"}, {"user-local-bucket", "user-mine-bucket"})
    now = state(
        {"local.pin", "mine.pin", "t123.pin", "streaming-t123-pin"},
        {"user-local-bucket", "user-mine-bucket", "user-t123-bucket"},
        {"pinterest_data", "emu_test_1234"},
        {("emu_test_1234", "%"), ("pinterest_reader", "%")},
    )
    doomed = leftovers(settings, before, now)
    assert doomed.topics == {"t123.pin", "streaming-t123-pin"}
    assert doomed.buckets == {"user-t123-bucket"}
    # The shared database and reader account are never swept, even when new.
    assert doomed.databases == {"emu_test_1234"}
    assert doomed.accounts == {("emu_test_1234", "%")}


def test_registered_names_only_when_another_session_shares_the_stack() -> None:
    settings = Settings(_env_file=None)
    now = state(
        {"t1.pin", "other.pin"},
        {"user-t1-bucket", "user-other-bucket"},
        {"db_1", "db_other"},
        {("db_1", "%"), ("db_other", "%")},
    )
    mine = registered(settings, now, {"t1", "local"}, {"db_1"})
    assert (mine.topics, mine.buckets) == ({"t1.pin"}, {"user-t1-bucket"})
    assert (mine.databases, mine.accounts) == ({"db_1"}, {("db_1", "%")})


def test_the_test_prefixes_match_test_names_and_spare_the_users() -> None:
    made_by_tests = [
        "t0a1b2c3d4e",
        "drop12345678ab",
        "e2e-1234abcd",
        "bench-0badcafe",
        "e1234567890",
    ]
    for uid in made_by_tests:
        assert is_test_namespace(uid), uid
    for uid in ("local", "0a1b2c3d4e5f", "af6d33c1f550", "myproject", "bench-spark-11153"):
        assert not is_test_namespace(uid), uid
    settings = Settings(_env_file=None)
    now = state(
        {"t0a1b2c3d4e.pin", "local.pin", "0a1b2c3d4e5f.pin"},
        {"user-t0a1b2c3d4e-bucket", "user-bench-spark-11153-bucket"},
        {"pinterest_data", "pinterest_data_e2e_1234abcd", "other_db"},
    )
    found = stale(settings, now)
    assert found.topics == {"t0a1b2c3d4e.pin"}
    assert found.buckets == {"user-t0a1b2c3d4e-bucket"}
    assert found.databases == {"pinterest_data_e2e_1234abcd"}


def test_connectors_and_dead_letter_topics_belong_to_their_namespace() -> None:
    settings = Settings(_env_file=None)
    assert namespace_of("dlq-t0a1b2c3d4e") == "t0a1b2c3d4e"
    assert connector_namespace("bench-1234abcd-s3-sink") == "bench-1234abcd"
    assert connector_namespace("t0a1b2c3d4-secret") == "t0a1b2c3d4"
    before = StackState(
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset(),
        {},
        frozenset({"local-s3-sink"}),
    )
    now = StackState(
        frozenset({"dlq-t0a1b2c3d4"}),
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset(),
        {},
        frozenset({"local-s3-sink", "t0a1b2c3d4-s3-sink", "local-extra"}),
    )
    doomed = leftovers(settings, before, now)
    # A test's connector and dead-letter topic go; the user's namespace keeps its own.
    assert doomed.connectors == {"t0a1b2c3d4-s3-sink"}
    assert doomed.topics == {"dlq-t0a1b2c3d4"}
    assert now.added_since(before)["connectors"] == ["local-extra", "t0a1b2c3d4-s3-sink"]
    assert stale(settings, now).connectors == {"t0a1b2c3d4-s3-sink"}
