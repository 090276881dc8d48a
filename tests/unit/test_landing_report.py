from __future__ import annotations

import pytest

from services.landing.report import LandingReport, ObjectSummary, TopicLanding, tally

pytestmark = pytest.mark.unit


def obj(start: int, lines: int, unparseable: int = 0) -> ObjectSummary:
    return ObjectSummary(f"k{start}", 0, start, lines, unparseable)


def test_exact_landing_is_complete() -> None:
    p = tally("u.pin", 0, 0, 10, [obj(0, 4), obj(4, 6)], [])
    assert (p.expected, p.landed, p.missing, p.doubled, p.objects) == (10, 10, 0, 0, 2)
    assert p.complete


def test_missing_ranges_are_counted_and_sampled() -> None:
    p = tally("u.pin", 0, 0, 10, [obj(0, 3), obj(5, 2)], [])
    assert p.missing == 5
    assert p.missing_ranges == [(3, 4), (7, 9)]
    assert not p.complete


def test_overlapping_objects_count_as_doubled() -> None:
    # A replay that started inside an existing object: offsets 3..4 are in two objects.
    p = tally("u.pin", 0, 0, 8, [obj(0, 5), obj(3, 5)], [])
    assert (p.landed, p.doubled, p.missing) == (8, 2, 0)
    assert p.doubled_ranges == [(3, 4)]
    assert not p.complete


def test_dead_letters_account_for_their_offsets() -> None:
    p = tally("u.pin", 0, 0, 5, [obj(0, 2), obj(3, 2)], [2])
    assert (p.landed, p.dead_lettered, p.missing, p.doubled) == (4, 1, 0, 0)
    assert p.complete
    both = tally("u.pin", 0, 0, 3, [obj(0, 3)], [1])
    assert both.doubled == 1


def test_unparseable_lines_make_it_incomplete() -> None:
    p = tally("u.pin", 0, 0, 3, [obj(0, 3, unparseable=1)], [])
    assert p.unparseable == 1 and not p.complete


def test_offsets_below_retention_are_outside_not_missing() -> None:
    p = tally("u.pin", 0, 5, 8, [obj(0, 8)], [])
    assert (p.expected, p.landed, p.outside, p.missing) == (3, 3, 5, 0)


def test_empty_topic_is_complete() -> None:
    assert tally("u.pin", 0, 0, 0, [], []).complete


def test_report_totals_shortfalls_and_problems() -> None:
    t = TopicLanding("u.pin", partitions=[tally("u.pin", 0, 0, 4, [obj(0, 2)], [])])
    report = LandingReport("u", "user-u-bucket", [t, TopicLanding("u.geo", exists=False)])
    assert report.total("missing") == 2 and not report.complete
    problems = report.problems()
    assert any("u.pin[0]: 2 offsets missing, e.g. 2-3" in p for p in problems)
    assert any("u.geo: topic does not exist" in p for p in problems)
    full = LandingReport(
        "u", "b", [TopicLanding("u.pin", partitions=[tally("u.pin", 0, 0, 2, [obj(0, 2)], [])])]
    )
    assert full.complete
    full.expect = {"u.pin": 3}
    assert not full.complete
    assert full.to_dict()["problems"] == ["u.pin: Kafka holds 2 records, expected at least 3"]
