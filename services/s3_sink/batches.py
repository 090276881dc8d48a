"""Per-partition buffering and rotation: which records go into which object, and when.

Pure logic, no I/O. Records of one partition arrive in offset order; they collect in an open
batch that is sealed when it reaches the record limit, when it has been open for the rotation
interval, or when the next record cannot join it (an offset gap, or a record that must be
dead-lettered). Sealed items wait in `pending`, in offset order, until the writer stores them;
the writer must store them strictly in that order and commit only what it has stored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from services.s3_sink.layout import InvalidRecord, to_line

# Also rotate on size, so one partition cannot buffer without bound between rotations.
MAX_OBJECT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Batch:
    """Records `start_offset .. start_offset + len(lines) - 1`, one object."""

    topic: str
    partition: int
    start_offset: int
    lines: tuple[bytes, ...]

    @property
    def end_offset(self) -> int:
        return self.start_offset + len(self.lines) - 1

    @property
    def next_offset(self) -> int:
        return self.start_offset + len(self.lines)

    def from_offset(self, offset: int) -> Batch:
        """The part of this batch at `offset` and after (a new object, named for `offset`)."""
        if not self.start_offset < offset < self.next_offset:
            raise ValueError(f"offset {offset} does not cut {self.start_offset}..{self.end_offset}")
        cut = offset - self.start_offset
        return Batch(self.topic, self.partition, offset, self.lines[cut:])


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    reason: str

    @property
    def next_offset(self) -> int:
        return self.offset + 1


Pending = Batch | DeadLetter


@dataclass
class PartitionState:
    topic: str
    partition: int
    flush_records: int
    flush_seconds: float
    pending: deque[Pending] = field(default_factory=deque)
    _start: int = -1
    _lines: list[bytes] = field(default_factory=list)
    _bytes: int = 0
    _opened_at: float = 0.0
    _next: int = -1
    #: Records delivered again below an offset already taken (ignored, counted).
    redelivered: int = 0

    # --- incoming records ----------------------------------------------------------------
    def add(self, offset: int, value: bytes | None, now: float) -> None:
        if offset < self._next:
            # Taking it again would start an object inside one already sealed: a double.
            self.redelivered += 1
            return
        self._next = offset + 1
        try:
            line = to_line(value)
        except InvalidRecord as exc:
            # Seal first: objects cover contiguous offsets, so line i is offset start + i.
            self.seal()
            self.pending.append(DeadLetter(self.topic, self.partition, offset, value, str(exc)))
            return
        if self._lines and offset != self._start + len(self._lines):
            self.seal()
        if not self._lines:
            self._start = offset
            self._opened_at = now
        self._lines.append(line)
        self._bytes += len(line) + 1
        if len(self._lines) >= self.flush_records or self._bytes >= MAX_OBJECT_BYTES:
            self.seal()

    def skip_below(self, offset: int) -> int:
        """Everything below `offset` is already in S3 (another writer stored it): drop it.

        Pending and open records below it are dropped, a batch straddling it is cut so the
        next object starts exactly at `offset`, and records below it that arrive later are
        ignored. Returns how many buffered records were dropped.
        """
        dropped = 0
        kept: deque[Pending] = deque()
        for item in self.pending:
            if item.next_offset <= offset:
                dropped += len(item.lines) if isinstance(item, Batch) else 1
                continue
            if isinstance(item, Batch) and item.start_offset < offset:
                dropped += offset - item.start_offset
                item = item.from_offset(offset)
            kept.append(item)
        self.pending = kept
        if self._lines and self._start < offset:
            cut = min(offset - self._start, len(self._lines))
            dropped += cut
            self._lines = self._lines[cut:]
            self._start = offset
            self._bytes = sum(len(line) + 1 for line in self._lines)
        self._next = max(self._next, offset)
        return dropped

    def tick(self, now: float) -> None:
        """Seal the open batch if it has been open for the rotation interval."""
        if self._lines and now - self._opened_at >= self.flush_seconds:
            self.seal()

    def seal(self) -> None:
        if self._lines:
            self.pending.append(Batch(self.topic, self.partition, self._start, tuple(self._lines)))
            self._lines = []
            self._bytes = 0

    # --- what the loop needs to know ------------------------------------------------------
    def deadline(self) -> float | None:
        """When the open batch is due by time, or None if nothing is open."""
        return self._opened_at + self.flush_seconds if self._lines else None

    @property
    def open_records(self) -> int:
        return len(self._lines)

    @property
    def pending_records(self) -> int:
        return sum(len(p.lines) if isinstance(p, Batch) else 1 for p in self.pending)

    @property
    def buffered_records(self) -> int:
        return self.open_records + self.pending_records
