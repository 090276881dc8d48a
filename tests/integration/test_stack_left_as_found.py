"""Runs after every other test (tests/conftest.py orders it last): the session left the user's
stack as it found it. Each test is meant to clean up after itself; this names any that did
not, before the session-end sweep removes the leftovers anyway."""

from __future__ import annotations

import pytest

from services.settings import Settings
from tests.support import stack_state
from tests.support.stack_state import SESSION

pytestmark = pytest.mark.integration


def test_topics_buckets_and_shared_grants_are_as_found(stack: Settings) -> None:
    before = SESSION.before
    assert before is not None, "the `stack` fixture takes the snapshot at session start"
    assert SESSION.lock is not None
    now = stack_state.take(stack)

    # The shared accounts (reader, admin) that existed keep exactly their grants: a test that
    # revokes or widens one breaks the user's `make emulate` or weakens its isolation.
    changed = {
        f"{u}@{h}": {"before": before.grants[(u, h)], "now": now.grants.get((u, h))}
        for (u, h) in before.grants
        if now.grants.get((u, h)) != before.grants[(u, h)]
    }
    assert not changed, f"shared accounts' grants changed: {changed}"

    # The user's own namespace and database, whatever else runs: still there.
    shared_ids, shared_dbs, _ = stack_state.shared_names(stack)
    gone = sorted(
        {n for n in before.topics - now.topics if stack_state.namespace_of(n) in shared_ids}
        | {n for n in before.buckets - now.buckets if stack_state.namespace_of(n) in shared_ids}
        | (before.databases - now.databases) & shared_dbs
    )
    assert not gone, f"tests removed the user's own: {gone}"

    others = SESSION.lock.others_alive()
    if others:
        # Another test session shares this stack (a second terminal): its namespaces come
        # and go, so only the names this session created are checked.
        mine = stack_state.registered(stack, now, SESSION.user_ids, SESSION.databases)
        left = {k: sorted(v) for k, v in vars(mine).items() if v}
        assert not left, f"left behind by this session (other sessions: {others}): {left}"
        return

    # Consumer groups are left out: Kafka keeps a group's committed offsets for days after
    # its consumers left, by design; the session-end sweep deletes the new ones anyway.
    added = {k: v for k, v in now.added_since(before).items() if v and k != "consumer groups"}
    removed = {k: v for k, v in now.removed_since(before).items() if v}
    assert not added, f"tests left these behind: {added}"
    assert not removed, f"tests removed these from the user's stack: {removed}"
    assert (len(now.topics), len(now.buckets)) == (len(before.topics), len(before.buckets))
