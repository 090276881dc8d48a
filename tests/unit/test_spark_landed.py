"""The sink's object layout written without Kafka: later deliveries get new object keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.landed import LayoutWriter

pytestmark = pytest.mark.unit


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.json"))


def test_a_later_delivery_starts_after_the_earlier_offsets(tmp_path: Path) -> None:
    with LayoutWriter(tmp_path, {"pin": "t.pin"}, per_object=2) as first:
        for _ in range(3):
            first.write("pin", b"{}")
    with LayoutWriter(tmp_path, {"pin": "t.pin"}, per_object=2, first_offset=3) as later:
        for _ in range(3):
            later.write("pin", b"{}")
    # Counts are this delivery's lines; no key of the first delivery is written again.
    assert later.counts == {"pin": 3}
    assert _names(tmp_path) == [
        "t.pin+0+0000000000.json",
        "t.pin+0+0000000002.json",
        "t.pin+0+0000000003.json",
        "t.pin+0+0000000005.json",
    ]


def test_an_object_is_sealed_at_the_byte_cap_like_the_sink(tmp_path: Path) -> None:
    # 10-byte lines, cap 25 bytes: sealed after the 3rd line (30 bytes), before 100 lines.
    with LayoutWriter(tmp_path, {"pin": "t.pin"}, per_object=100, max_bytes=25) as writer:
        for i in range(7):
            writer.write("pin", b'{"i":%04d}' % i)
    assert _names(tmp_path) == [
        "t.pin+0+0000000000.json",
        "t.pin+0+0000000003.json",
        "t.pin+0+0000000006.json",
    ]
