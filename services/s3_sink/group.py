"""One sink per consumer group: refuse to start while the group has live members.

Two sinks in one group would split the partitions between them, and every rebalance between
them is a hand-over during which S3 may be down; a stray consumer in the group (say, one
created through the REST proxy with group `s3-sink`) commits offsets for records it never
landed. The group's membership is the lease: a member that stops heart-beating (a crashed
sink) is dropped by the broker after its session timeout (10 s for the sink), so a crashed
sink cannot hold it, and a restart right after a crash waits for that instead of failing.

What this cannot see (two sinks starting in the same instant, or sinks of two groups writing
one bucket) the conditional PUTs of `store.py` make harmless.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_result,
    stop_after_delay,
    stop_any,
    stop_when_event_set,
    wait_fixed,
)

log = logging.getLogger(__name__)

#: Longer than the sink's session timeout (10 s): a crashed predecessor is gone by then.
GROUP_SETTLE_S = 16.0
_UNKNOWN = None


class GroupTaken(RuntimeError):
    """Another consumer is live in the sink's group; the message names it and the fix."""


def live_members(admin: AdminClient, group_id: str) -> list[str] | None:
    """`client id (host)` of each live member of the group, or None if Kafka did not answer."""
    try:
        description = admin.describe_consumer_groups([group_id], request_timeout=5)[
            group_id
        ].result(10)
    except KafkaException as exc:
        log.warning("cannot describe consumer group %s: %s", group_id, exc)
        return _UNKNOWN
    return [f"{m.client_id} ({m.host.lstrip('/')})" for m in description.members]


def claim_group(
    admin: AdminClient,
    group_id: str,
    stop: threading.Event,
    settle_s: float = GROUP_SETTLE_S,
) -> None:
    """Return once the group has no live member; raise GroupTaken if it keeps one."""
    retrying = Retrying(
        retry=retry_if_result(lambda found: found is _UNKNOWN or bool(found)),
        wait=wait_fixed(1.0),
        stop=stop_any(stop_after_delay(settle_s), stop_when_event_set(stop)),
        # Sleeps end early on SIGTERM; the stop condition then ends the wait.
        sleep=lambda seconds: _wait(stop, seconds),
        before_sleep=lambda state: _waiting(group_id, state, settle_s),
    )
    members: list[str] | None
    try:
        members = retrying(live_members, admin, group_id)
    except RetryError as exc:
        members = exc.last_attempt.result()
    if stop.is_set():
        return  # stopping anyway: the caller's loop ends at once
    if members is _UNKNOWN:
        log.warning(
            "Kafka did not say who is in consumer group %s: starting anyway (conditional "
            "PUTs still keep any second writer from replacing what landed)",
            group_id,
        )
        return
    if members:
        raise GroupTaken(
            f"consumer group {group_id} already has {len(members)} live member(s): "
            f"{', '.join(members)}. Another sink (or a consumer created with this group) is "
            "landing these partitions, and two writers of one partition are refused. Stop it "
            "first (`make status` shows the stack's sink), or run this one for its own "
            "namespace and group: --user-id <id> --group-id <group>."
        )
    log.info("consumer group %s has no live member: this sink takes it", group_id)


def _wait(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)


def _waiting(group_id: str, state: RetryCallState, settle_s: float) -> None:
    if state.attempt_number != 1 or state.outcome is None:
        return
    members = state.outcome.result()
    if members:
        log.info(
            "consumer group %s has live members %s: waiting up to %.0f s for them to leave "
            "(a crashed sink drops out after its session timeout)",
            group_id,
            ", ".join(members),
            settle_s,
        )
