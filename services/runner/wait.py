"""The one polling loop: call a check until it answers or a deadline passes.

A check returns a short detail string when the condition holds and raises `NotReady` (or
any exception in `retry_on`) when it does not yet; the last reason is kept so a timeout
says what was still wrong, never just "timed out".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

T = TypeVar("T")


class NotReady(Exception):
    """The condition does not hold yet; the message says why."""


class WaitTimeout(TimeoutError):
    """The condition did not hold before the deadline; `last` is the last reason seen."""

    def __init__(self, what: str, timeout: float, last: str) -> None:
        super().__init__(f"{what}: not ready within {timeout:g} s (last: {last})")
        self.what = what
        self.timeout = timeout
        self.last = last


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str = "condition",
    interval: float = 0.25,
    retry_on: tuple[type[BaseException], ...] = (NotReady,),
) -> T:
    """Return `check()`'s first answer that does not raise one of `retry_on`.

    Any other exception ends the wait at once (a child that died is not worth waiting on).
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_exception_type(retry_on),
        reraise=False,
    )
    try:
        return retrying(check)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise WaitTimeout(what, timeout, str(last) if last else "no answer yet") from None


def sleep_until(moment: float) -> None:
    """Block until `time.monotonic()` reaches `moment`: pacing a sender, not polling.

    Rate-limited loops (the emulator's live mode, the benchmarks' offered load) wait for a
    point in time, not for a condition; this is the one place they do it.
    """
    remaining = moment - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def every(interval: float, *, until: float) -> Iterator[float]:
    """Yield now, then every `interval` seconds, until `time.monotonic()` reaches `until`;
    return only once it has. A look taken at a steady pace for a fixed time (a fault's
    hold-down watching the sink), not a wait for a condition.
    """
    moment = time.monotonic()
    while moment < until:
        yield moment
        # A slow caller skips ticks rather than piling them up.
        moment = max(moment + interval, time.monotonic())
        sleep_until(min(moment, until))
