"""The generator: determinism, placeholders and their rates, value shapes, repeated users."""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from dataclasses import fields
from datetime import datetime
from itertools import islice

import pytest

from seed_data import generate, words
from seed_data.generate import (
    DEFAULT_SEED,
    DEFAULT_SIZE,
    PLACEHOLDERS,
    Rates,
    checksum,
    event_lines,
    events,
    expected_shares,
    format_followers,
    rows,
)

pytestmark = pytest.mark.unit

# sha256 of the default data set (11,153 events, seed 0) as serialised by event_lines.
# If you change the generator or the word lists on purpose, bump GENERATOR_VERSION and
# replace this value with `python -m seed_data checksum`.
DEFAULT_CHECKSUM = "ff0f4abe26769608698e579d039b085d02e72dfe384896cb2eb909d4aa837731"


@pytest.fixture(scope="module")
def default_events() -> list[generate.Event]:
    return list(events(DEFAULT_SIZE, DEFAULT_SEED))


def test_default_data_set_matches_the_committed_checksum() -> None:
    assert checksum(DEFAULT_SIZE, DEFAULT_SEED) == DEFAULT_CHECKSUM


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    assert list(rows(500, 7)) == list(rows(500, 7))
    assert checksum(500, 7) == checksum(500, 7)
    assert checksum(500, 7) != checksum(500, 8)


def test_a_smaller_size_is_a_prefix_of_a_larger_one() -> None:
    assert list(rows(300, 3)) == list(islice(rows(1_000, 3), 300))


def test_events_and_rows_agree_and_keys_are_the_table_columns() -> None:
    for event, row in zip(events(50, 1), rows(50, 1), strict=True):
        assert tuple(event.pin) == generate.PIN_COLUMNS
        assert tuple(event.geo) == generate.GEO_COLUMNS
        assert tuple(event.user) == generate.USER_COLUMNS
        assert tuple(event.pin.values()) == row[0]
        assert tuple(event.geo.values()) == row[1]
        assert tuple(event.user.values()) == row[2]


def test_every_placeholder_occurs_in_the_default_data_set(
    default_events: list[generate.Event],
) -> None:
    seen = {(column, e.pin[column]) for e in default_events for column, _ in PLACEHOLDERS}
    missing = [p for p in PLACEHOLDERS if p not in seen]
    assert not missing


def _within(observed: int, n: int, share: float) -> bool:
    # Five binomial standard deviations, plus one row of slack for tiny shares.
    sigma = math.sqrt(n * share * (1 - share))
    return abs(observed - n * share) <= 5 * sigma + 1


def test_placeholder_rates_match_the_configured_rates(
    default_events: list[generate.Event],
) -> None:
    n = len(default_events)
    for (column, value), share in expected_shares().items():
        observed = sum(1 for e in default_events if e.pin[column] == value)
        assert _within(observed, n, share), (column, value, observed / n, share)
        assert 0.002 <= share <= 0.06  # "a few percent per column"


def test_rates_are_configurable() -> None:
    high = Rates(no_title=0.3, user_info_error=0.25, no_tags=0.2, image_src_error=0.2)
    sample = list(events(4_000, 5, high))
    for (column, value), share in expected_shares(high).items():
        observed = sum(1 for e in sample if e.pin[column] == value)
        assert _within(observed, len(sample), share), (column, value, observed, share)
    assert checksum(200, 5, high) != checksum(200, 5)


def test_zero_rates_give_clean_rows() -> None:
    clean = Rates(**{f.name: 0.0 for f in fields(Rates)})
    for e in events(2_000, 9, clean):
        for column, value in PLACEHOLDERS:
            assert e.pin[column] != value, (column, value)
        assert e.pin["is_image_or_video"] == "image"
        assert e.pin["downloaded"] == 1


def test_several_placeholders_in_one_row(default_events: list[generate.Event]) -> None:
    def count(e: generate.Event) -> int:
        return sum(1 for column, value in PLACEHOLDERS if e.pin[column] == value)

    assert sum(1 for e in default_events if count(e) >= 3) > 50


def test_rates_refuse_shares_outside_0_1() -> None:
    with pytest.raises(ValueError, match="no_title"):
        Rates(no_title=1.5)
    with pytest.raises(ValueError, match="description"):
        Rates(no_description=0.6, untitled_description=0.6)


FOLLOWERS = re.compile(r"^(0|[1-9][0-9]{0,2}|[1-9][0-9]{0,2}k|[1-9][0-9]*M)$")


def test_pin_value_shapes(default_events: list[generate.Event]) -> None:
    ids = set()
    categories: Counter[str] = Counter()
    for i, e in enumerate(default_events):
        pin = e.pin
        assert pin["index"] == i
        assert str(uuid.UUID(pin["unique_id"])) == pin["unique_id"]
        ids.add(pin["unique_id"])
        fc = pin["follower_count"]
        assert fc == generate.USER_INFO_ERROR or FOLLOWERS.match(fc), fc
        assert pin["is_image_or_video"] in {generate.IMAGE, generate.VIDEO, generate.STORY}
        src = pin["image_src"]
        assert src == generate.IMAGE_SRC_ERROR or re.fullmatch(
            r"https://i\.pinimg\.com/originals/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}\.jpg",
            src,
        )
        assert pin["downloaded"] in (0, 1)
        if src == generate.IMAGE_SRC_ERROR:
            assert pin["downloaded"] == 0
        assert pin["category"] in words.CATEGORIES
        assert pin["save_location"] == f"Local save in /data/{pin['category']}"
        categories[pin["category"]] += 1
        for text in pin.values():
            if isinstance(text, str):
                assert "\t" not in text and "\n" not in text
    assert len(ids) == len(default_events)
    assert set(categories) == set(words.CATEGORIES)
    # Follower counts cover all three display forms.
    shapes = {e.pin["follower_count"][-1] for e in default_events}
    assert {"k", "M"} <= shapes and shapes & set("0123456789")


def test_follower_counts_are_formatted_like_pinterest() -> None:
    assert format_followers(0) == "0"
    assert format_followers(437) == "437"
    assert format_followers(999) == "999"
    assert format_followers(1_000) == "1k"
    assert format_followers(51_234) == "51k"
    assert format_followers(999_999) == "999k"
    assert format_followers(6_400_000) == "6M"


def test_geolocation_shapes_and_country_skew(default_events: list[generate.Event]) -> None:
    countries: Counter[str] = Counter()
    for i, e in enumerate(default_events):
        geo = e.geo
        assert geo["ind"] == i
        assert datetime(2017, 10, 1) <= geo["timestamp"] <= datetime(2022, 12, 31, 23, 59, 59)
        assert geo["timestamp"].microsecond == 0
        assert -90 <= geo["latitude"] <= 90 and -180 <= geo["longitude"] <= 180
        countries[geo["country"]] += 1
    assert 200 <= len(words.COUNTRIES) <= 260 and len(set(words.COUNTRIES)) == len(words.COUNTRIES)
    assert len(countries) > 200  # nearly every country occurs
    n = len(default_events)
    top10 = sum(c for _, c in countries.most_common(10))
    assert top10 > 0.3 * n  # a few countries hold many rows
    assert sum(1 for c in countries.values() if c < 0.005 * n) > len(countries) / 2


def test_user_shapes_and_repeats(default_events: list[generate.Event]) -> None:
    n = len(default_events)
    ages: Counter[int] = Counter()
    keys: Counter[tuple[str, str, int, datetime]] = Counter()
    for i, e in enumerate(default_events):
        user = e.user
        assert user["ind"] == i
        assert 13 <= user["age"] <= 70
        assert datetime(2015, 1, 1) <= user["date_joined"] <= datetime(2020, 12, 31, 23, 59, 59)
        ages[user["age"]] += 1
        keys[(user["first_name"], user["last_name"], user["age"], user["date_joined"])] += 1
    under_18 = sum(c for age, c in ages.items() if age < 18)
    assert 0 < under_18 < 0.02 * n  # a few, not many
    assert 18 in ages and 70 >= max(ages) >= 60
    # About half as many distinct users as events, and users really repeat.
    assert abs(len(keys) - n / 2) < 0.05 * n
    assert max(keys.values()) >= 3


def test_event_lines_escape_what_load_data_would_misread() -> None:
    pin = (0, "u", "a\tb", "line\nbreak", "back\\slash", "1k", "t", "image", "s", 1, "l", "c")
    geo = (0, datetime(2020, 1, 2, 3, 4, 5), -1.5, 0.1 + 0.2, "X")
    user = (0, "F", "L", 30, datetime(2019, 5, 6, 7, 8, 9))
    pin_line, geo_line, user_line = event_lines((pin, geo, user))
    assert pin_line == b"0\tu\ta\\tb\tline\\nbreak\tback\\\\slash\t1k\tt\timage\ts\t1\tl\tc\n"
    assert geo_line == b"0\t2020-01-02 03:04:05\t-1.5\t0.30000000000000004\tX\n"
    assert user_line == b"0\tF\tL\t30\t2019-05-06 07:08:09\n"


def test_non_ascii_text_occurs_and_is_utf8_in_lines(
    default_events: list[generate.Event],
) -> None:
    assert any(not e.pin["title"].isascii() for e in default_events)
    assert any(not e.user["first_name"].isascii() for e in default_events)


def test_negative_size_and_bad_seed_are_refused() -> None:
    with pytest.raises(ValueError):
        list(rows(-1, 0))
    with pytest.raises(TypeError):
        list(rows(1, "0"))  # type: ignore[arg-type]
