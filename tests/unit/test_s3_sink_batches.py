from __future__ import annotations

import pytest

from services.s3_sink.batches import Batch, DeadLetter, PartitionState

pytestmark = pytest.mark.unit


def state(flush_records: int = 3, flush_seconds: float = 2.0) -> PartitionState:
    return PartitionState("u.pin", 0, flush_records, flush_seconds)


def test_seals_on_record_count() -> None:
    s = state(flush_records=3)
    for offset in range(7):
        s.add(offset, b'{"i":%d}' % offset, now=0.0)
    batches = list(s.pending)
    assert [(b.start_offset, b.end_offset) for b in batches if isinstance(b, Batch)] == [
        (0, 2),
        (3, 5),
    ]
    assert s.open_records == 1
    assert s.buffered_records == 7


def test_seals_on_time_only_when_due() -> None:
    s = state(flush_records=1000, flush_seconds=2.0)
    s.add(10, b"{}", now=100.0)
    s.add(11, b"{}", now=101.5)
    assert s.deadline() == 102.0
    s.tick(now=101.9)
    assert not s.pending
    s.tick(now=102.0)
    (batch,) = s.pending
    assert isinstance(batch, Batch)
    assert (batch.start_offset, batch.next_offset) == (10, 12)
    assert s.deadline() is None


def test_dead_letter_cuts_the_object_so_offsets_stay_contiguous() -> None:
    s = state(flush_records=100)
    s.add(0, b"{}", now=0)
    s.add(1, b"{}", now=0)
    s.add(2, b"oops", now=0)
    s.add(3, b"{}", now=0)
    s.seal()
    items = list(s.pending)
    assert isinstance(items[0], Batch) and (items[0].start_offset, items[0].end_offset) == (0, 1)
    assert isinstance(items[1], DeadLetter) and items[1].offset == 2 and items[1].value == b"oops"
    assert isinstance(items[2], Batch) and items[2].start_offset == 3
    assert [i.next_offset for i in items] == [2, 3, 4]


def test_offset_gap_starts_a_new_object() -> None:
    s = state(flush_records=100)
    s.add(5, b"{}", now=0)
    s.add(9, b"{}", now=0)  # e.g. a transaction marker or compaction in between
    s.seal()
    assert [(b.start_offset, b.next_offset) for b in s.pending if isinstance(b, Batch)] == [
        (5, 6),
        (9, 10),
    ]
    assert len(s.pending) == 2


def test_seal_of_empty_buffer_adds_nothing() -> None:
    s = state()
    s.seal()
    s.tick(now=1e9)
    assert not s.pending and s.buffered_records == 0


def test_a_record_delivered_again_is_ignored_not_landed_twice() -> None:
    s = state(flush_records=100)
    for offset in (0, 1, 2, 1, 2, 3):
        s.add(offset, b"{}", now=0)
    s.seal()
    assert [(b.start_offset, b.next_offset) for b in s.pending if isinstance(b, Batch)] == [(0, 4)]
    assert s.redelivered == 2


def test_skip_below_drops_what_another_writer_landed_and_cuts_the_straddler() -> None:
    s = state(flush_records=4)
    for offset in range(10):
        s.add(offset, b"{}", now=0)
    # pending: 0..3, 4..7; open: 8, 9
    assert s.skip_below(6) == 6
    items = list(s.pending)
    assert [(b.start_offset, b.next_offset) for b in items if isinstance(b, Batch)] == [(6, 8)]
    assert s.open_records == 2
    s.add(5, b"{}", now=0)  # a redelivery below what landed: ignored
    assert s.redelivered == 1 and s.buffered_records == 4


def test_skip_below_past_everything_buffered_ignores_records_up_to_it() -> None:
    s = state(flush_records=4)
    for offset in range(3):
        s.add(offset, b"{}", now=0)
    assert s.skip_below(20) == 3
    assert s.buffered_records == 0
    for offset in range(3, 22):
        s.add(offset, b"{}", now=0)
    s.seal()
    assert [(b.start_offset, b.next_offset) for b in s.pending if isinstance(b, Batch)] == [
        (20, 22)
    ]


def test_from_offset_cuts_a_batch_strictly_inside_it() -> None:
    b = Batch("u.pin", 0, 10, (b"a", b"b", b"c"))
    assert b.from_offset(12) == Batch("u.pin", 0, 12, (b"c",))
    with pytest.raises(ValueError, match=r"does not cut 10\.\.12"):
        b.from_offset(13)
