"""The emulator's exceptions: each message names the problem and the setting or flag to fix."""

from __future__ import annotations


class EmulatorError(Exception):
    """Bad input or configuration (exit 2): an unreachable service, a wrong setting or flag."""


class DeliveryError(Exception):
    """Records could not be delivered (exit 1): a 4xx answer, a permanent Kafka error, or
    retries exhausted. The checkpoint stays before the first unacknowledged event."""

    def __init__(self, message: str, failed: int) -> None:
        super().__init__(message)
        self.failed = failed
