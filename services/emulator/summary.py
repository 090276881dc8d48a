"""What a run did, for the final report line and for callers of the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.settings import TABLES

INTERRUPTED = "interrupted"


@dataclass
class Summary:
    mode: str
    target: str
    events_read: int = 0
    records_sent: int = 0  # includes re-sends
    acknowledged_by_table: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    retried: int = 0  # requests sent again after a retriable failure
    failed: int = 0  # records given up on (the run stopped)
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def acknowledged(self) -> int:
        return sum(self.acknowledged_by_table.values())

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    def line(self) -> str:
        per_table = ", ".join(f"{t} {n}" for t, n in self.acknowledged_by_table.items())
        return (
            f"{self.mode} ({self.target}): events read {self.events_read}, records sent "
            f"{self.records_sent}, acknowledged {self.acknowledged} ({per_table}), retried "
            f"{self.retried}, failed {self.failed}, in {self.elapsed_s:.1f} s"
        )


@dataclass
class ReplaySummary(Summary):
    start_index: int = 0
    next_index: int = 0  # every event below it is acknowledged
    last_index: int = 0
    complete: bool = False
    already_complete: bool = False

    def line(self) -> str:
        if self.already_complete:
            return (
                "replay: already complete according to the checkpoint, nothing sent "
                "(--restart replays every event again)"
            )
        state = "complete" if self.complete else f"stopped before index {self.next_index}"
        return f"{super().line()}; indexes {self.start_index}..{self.last_index} {state}"
