"""What landed versus what Kafka holds: the pure accounting behind `landing verify`.

Each object covers contiguous offsets (its start offset, from the name, plus its line
count), and each dead letter one offset, so the accounting is a sweep over ranges: no
per-record bookkeeping, however many records landed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

_COUNTS = ("expected", "landed", "dead_lettered", "missing", "doubled", "unparseable")

#: How many missing or doubled offset ranges a report lists (the counts are always exact).
SAMPLE_RANGES = 5


@dataclass(frozen=True)
class ObjectSummary:
    key: str
    partition: int
    start_offset: int
    lines: int
    unparseable: int


@dataclass
class PartitionLanding:
    topic: str
    partition: int
    #: Kafka's watermarks: offsets `low .. high - 1` exist in the log.
    low: int
    high: int
    landed: int = 0
    dead_lettered: int = 0
    missing: int = 0
    doubled: int = 0
    unparseable: int = 0
    #: Offsets found in S3 outside `[low, high)` (older than retention, or wrongly named).
    outside: int = 0
    objects: int = 0
    missing_ranges: list[tuple[int, int]] = field(default_factory=list)
    doubled_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return max(0, self.high - self.low)

    @property
    def complete(self) -> bool:
        return self.missing == 0 and self.doubled == 0 and self.unparseable == 0


@dataclass
class TopicLanding:
    topic: str
    exists: bool = True
    partitions: list[PartitionLanding] = field(default_factory=list)
    #: Keys under `topics/<topic>/` that do not follow the layout.
    stray_keys: list[str] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.partitions)

    @property
    def complete(self) -> bool:
        return self.exists and not self.stray_keys and all(p.complete for p in self.partitions)


@dataclass
class LandingReport:
    user_id: str
    bucket: str
    topics: list[TopicLanding] = field(default_factory=list)
    #: At least this many offsets per topic must exist in Kafka (e.g. what a run produced).
    expect: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(t.complete for t in self.topics) and not self._shortfalls()

    def _shortfalls(self) -> list[str]:
        have = {t.topic: t.total("expected") for t in self.topics}
        return [
            f"{topic}: Kafka holds {have.get(topic, 0)} records, expected at least {count}"
            for topic, count in sorted(self.expect.items())
            if have.get(topic, 0) < count
        ]

    def total(self, name: str) -> int:
        return sum(t.total(name) for t in self.topics)

    def topic(self, name: str) -> TopicLanding:
        for t in self.topics:
            if t.topic == name:
                return t
        raise KeyError(name)

    def problems(self) -> list[str]:
        """One line per thing that keeps the landing from being complete."""
        out = self._shortfalls()
        for t in self.topics:
            if not t.exists:
                out.append(f"{t.topic}: topic does not exist in Kafka")
            for key in t.stray_keys[:SAMPLE_RANGES]:
                out.append(f"{t.topic}: object outside the layout: {key}")
            for p in t.partitions:
                where = f"{p.topic}[{p.partition}]"
                if p.missing:
                    eg = _ranges(p.missing_ranges)
                    out.append(f"{where}: {p.missing} offsets missing, e.g. {eg}")
                if p.doubled:
                    eg = _ranges(p.doubled_ranges)
                    out.append(f"{where}: {p.doubled} offsets in two objects, e.g. {eg}")
                if p.unparseable:
                    out.append(f"{where}: {p.unparseable} lines are not valid JSON")
        return out

    def to_dict(self) -> dict[str, Any]:
        topics = []
        for t in self.topics:
            entry = asdict(t)
            entry["complete"] = t.complete
            for p_entry, p in zip(entry["partitions"], t.partitions, strict=True):
                p_entry["expected"] = p.expected
                p_entry["complete"] = p.complete
            for name in _COUNTS:
                entry[name] = t.total(name)
            topics.append(entry)
        return {
            "user_id": self.user_id,
            "bucket": self.bucket,
            "complete": self.complete,
            **{name: self.total(name) for name in _COUNTS},
            "topics": topics,
            "problems": self.problems(),
        }


def _ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def tally(
    topic: str,
    partition: int,
    low: int,
    high: int,
    objects: list[ObjectSummary],
    dead_letters: list[int],
) -> PartitionLanding:
    """Account for every offset of one partition from its objects and dead letters."""
    result = PartitionLanding(topic, partition, low, high, objects=len(objects))
    # (start, end exclusive, is dead letter)
    spans = [(o.start_offset, o.start_offset + o.lines, False) for o in objects if o.lines]
    spans += [(d, d + 1, True) for d in dead_letters]
    result.unparseable = sum(o.unparseable for o in objects)
    bounds = sorted({low, high, *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    events: dict[int, list[tuple[int, bool]]] = {}
    for start, end, dead in spans:
        events.setdefault(start, []).append((1, dead))
        events.setdefault(end, []).append((-1, dead))
    data_depth = dead_depth = 0
    for here, nxt in pairwise(bounds):
        for delta, dead in events.get(here, []):
            if dead:
                dead_depth += delta
            else:
                data_depth += delta
        width = nxt - here
        depth = data_depth + dead_depth
        inside = low <= here and nxt <= high
        if depth > 1:
            result.doubled += width
            _sample(result.doubled_ranges, here, nxt - 1)
        if not inside:
            result.outside += width if depth else 0
            continue
        if depth == 0:
            result.missing += width
            _sample(result.missing_ranges, here, nxt - 1)
        elif data_depth:
            result.landed += width
        else:
            result.dead_lettered += width
    return result


def _sample(ranges: list[tuple[int, int]], first: int, last: int) -> None:
    if ranges and ranges[-1][1] == first - 1:
        ranges[-1] = (ranges[-1][0], last)
    elif len(ranges) < SAMPLE_RANGES:
        ranges.append((first, last))
