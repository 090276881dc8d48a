"""The deterministic event generator: one pin, its geolocation and its user per event.

    >>> from seed_data.generate import events
    >>> first = next(iter(events(size=3, seed=0)))
    >>> first.pin["index"], first.geo["ind"], first.user["ind"]
    (0, 0, 0)

Determinism: every value is drawn from one `random.Random(seed)` through `random()` and
`getrandbits()` only, whose output for an integer seed is the same on every platform and
Python version since 3.2 (the library's `choice`/`sample` helpers are avoided on purpose:
their algorithms are not promised to stay put). Floats are rounded with `round()`
(correctly rounded) and serialised with `repr()` (shortest round-trip form).

Events are generated in order and nothing depends on `size`, so the events of a smaller
size are a prefix of the events of a larger one with the same seed.
"""

from __future__ import annotations

import hashlib
import uuid
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from itertools import accumulate
from random import Random
from typing import Any, NamedTuple

from seed_data import words

#: Bump when any change here or in `words.py` changes the rows for a given seed and size:
#: the loader stores it, so `make seed` reloads instead of trusting stale tables.
GENERATOR_VERSION = 1

DEFAULT_SIZE = 11_153  # the original data set's number of events
DEFAULT_SEED = 0

PIN_COLUMNS: tuple[str, ...] = (
    "index",
    "unique_id",
    "title",
    "description",
    "poster_name",
    "follower_count",
    "tag_list",
    "is_image_or_video",
    "image_src",
    "downloaded",
    "save_location",
    "category",
)
GEO_COLUMNS: tuple[str, ...] = ("ind", "timestamp", "latitude", "longitude", "country")
USER_COLUMNS: tuple[str, ...] = ("ind", "first_name", "last_name", "age", "date_joined")

# The placeholders the original data holds instead of values (the cleaning step's work).
NO_TITLE = "No Title Data Available"
NO_DESCRIPTION_STORY = "No description available Story format"
NO_DESCRIPTION = "No description available"
UNTITLED = "Untitled"
USER_INFO_ERROR = "User Info Error"
NO_TAGS = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_ERROR = "Image src error."

IMAGE = "image"
VIDEO = "video"
STORY = "multi-video(story page format)"

#: Every (column, placeholder) pair of `pinterest_data`; each occurs in the default data set.
PLACEHOLDERS: tuple[tuple[str, str], ...] = (
    ("title", NO_TITLE),
    ("title", ""),
    ("description", NO_DESCRIPTION_STORY),
    ("description", NO_DESCRIPTION),
    ("description", UNTITLED),
    ("description", ""),
    ("poster_name", USER_INFO_ERROR),
    ("poster_name", ""),
    ("follower_count", USER_INFO_ERROR),
    ("tag_list", NO_TAGS),
    ("tag_list", ""),
    ("image_src", IMAGE_SRC_ERROR),
)

TIMESTAMP_START = datetime(2017, 10, 1)
TIMESTAMP_END = datetime(2022, 12, 31, 23, 59, 59)
JOINED_START = datetime(2015, 1, 1)
JOINED_END = datetime(2020, 12, 31, 23, 59, 59)


@dataclass(frozen=True)
class Rates:
    """How often each kind of dirty value appears, as a share of events (0..1).

    `broken_row` rows carry every placeholder at once (a story page whose scrape failed,
    as in the original); the other rates apply independently to the remaining rows. Use
    `expected_shares()` for the share of rows each placeholder should end up with.
    """

    broken_row: float = 0.01
    story_page: float = 0.02  # intact story pages: story description, no image src
    video: float = 0.15
    no_title: float = 0.02
    empty_title: float = 0.005
    no_description: float = 0.02
    untitled_description: float = 0.01
    empty_description: float = 0.005
    user_info_error: float = 0.02  # poster_name and follower_count both
    empty_poster_name: float = 0.005
    zero_followers: float = 0.03
    no_tags: float = 0.02
    empty_tags: float = 0.005
    image_src_error: float = 0.015
    not_downloaded: float = 0.01  # image fine, download failed anyway
    under_18: float = 0.005
    repeat_user: float = 0.5  # share of events posted by a user seen before: ≈ N/2 users
    embellished_title: float = 0.03  # a non-ASCII decoration on the title

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Rates.{f.name}={value!r}: a share must lie in 0..1")
        if self.no_description + self.untitled_description + self.empty_description > 1:
            raise ValueError("Rates: the three description placeholders add up to more than 1")
        if self.story_page + self.video > 1:
            raise ValueError("Rates: story_page + video add up to more than 1")

    def fingerprint(self) -> str:
        """A short stable id of these rates (stored with a load to detect changes)."""
        text = ",".join(f"{k}={v!r}" for k, v in sorted(asdict(self).items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


DEFAULT_RATES = Rates()


class Event(NamedTuple):
    """One event: `pin`, `geo` and `user` rows keyed by column name, same index."""

    pin: dict[str, Any]
    geo: dict[str, Any]
    user: dict[str, Any]


def events(
    size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, rates: Rates = DEFAULT_RATES
) -> Iterator[Event]:
    """Yield `size` events; columns in table order, DATETIME values as naive `datetime`."""
    for pin, geo, user in rows(size, seed, rates):
        yield Event(
            dict(zip(PIN_COLUMNS, pin, strict=True)),
            dict(zip(GEO_COLUMNS, geo, strict=True)),
            dict(zip(USER_COLUMNS, user, strict=True)),
        )


PinRow = tuple[int, str, str, str, str, str, str, str, str, int, str, str]
GeoRow = tuple[int, datetime, float, float, str]
UserRow = tuple[int, str, str, int, datetime]


def rows(
    size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, rates: Rates = DEFAULT_RATES
) -> Iterator[tuple[PinRow, GeoRow, UserRow]]:
    """The same events as `events()`, as tuples in column order (faster; used to load)."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return _Generator(seed, rates).run(size)


def checksum(
    size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, rates: Rates = DEFAULT_RATES
) -> str:
    """sha256 (hex) of the rows serialised by `event_lines`, event by event."""
    digest = hashlib.sha256()
    for event in rows(size, seed, rates):
        for line in event_lines(event):
            digest.update(line)
    return digest.hexdigest()


def event_lines(event: tuple[PinRow, GeoRow, UserRow]) -> tuple[bytes, bytes, bytes]:
    """One event as three UTF-8 tab-separated lines (the loader's LOAD DATA format).

    Text escapes backslash, tab and newline with a backslash, as LOAD DATA expects;
    DATETIME is `YYYY-MM-DD HH:MM:SS`, DOUBLE is Python's shortest round-trip `repr`.
    """
    pin, geo, user = event
    return (
        "\t".join(
            (
                str(pin[0]),
                pin[1],
                _esc(pin[2]),
                _esc(pin[3]),
                _esc(pin[4]),
                _esc(pin[5]),
                _esc(pin[6]),
                pin[7],
                _esc(pin[8]),
                str(pin[9]),
                _esc(pin[10]),
                pin[11],
            )
        ).encode()
        + b"\n",
        f"{geo[0]}\t{geo[1]}\t{geo[2]!r}\t{geo[3]!r}\t{_esc(geo[4])}\n".encode(),
        f"{user[0]}\t{_esc(user[1])}\t{_esc(user[2])}\t{user[3]}\t{user[4]}\n".encode(),
    )


def _esc(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def expected_shares(rates: Rates = DEFAULT_RATES) -> dict[tuple[str, str], float]:
    """The share of rows each `PLACEHOLDERS` entry should hold under `rates`."""
    r = rates
    ok = 1.0 - r.broken_row
    story = r.broken_row + ok * r.story_page
    plain = ok * (1.0 - r.story_page)  # rows that draw a description of their own
    return {
        ("title", NO_TITLE): r.broken_row + ok * r.no_title,
        ("title", ""): ok * r.empty_title,
        ("description", NO_DESCRIPTION_STORY): story,
        ("description", NO_DESCRIPTION): plain * r.no_description,
        ("description", UNTITLED): plain * r.untitled_description,
        ("description", ""): plain * r.empty_description,
        ("poster_name", USER_INFO_ERROR): r.broken_row + ok * r.user_info_error,
        ("poster_name", ""): ok * (1.0 - r.user_info_error) * r.empty_poster_name,
        ("follower_count", USER_INFO_ERROR): r.broken_row + ok * r.user_info_error,
        ("tag_list", NO_TAGS): r.broken_row + ok * r.no_tags,
        ("tag_list", ""): ok * (1.0 - r.no_tags) * r.empty_tags,
        ("image_src", IMAGE_SRC_ERROR): story + plain * r.image_src_error,
    }


def format_followers(count: int) -> str:
    """Pinterest's display form: 437, 51k (thousands), 6M (millions), floored."""
    if count < 1_000:
        return str(count)
    if count < 1_000_000:
        return f"{count // 1_000}k"
    return f"{count // 1_000_000}M"


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(accumulate(weights))


_CATEGORY_CUM = _cumulative(words.CATEGORY_WEIGHTS)
_COUNTRY_CUM = _cumulative([1.0 / (rank + 1) for rank in range(len(words.COUNTRIES))])
_MIN_POOL = 20
# Each power of ten once, small accounts a little more often than 10M+ ones.
_FOLLOWER_MAGNITUDES = (
    1,
    1,
    10,
    10,
    100,
    100,
    1_000,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
)
_TIMESTAMP_SPAN = int((TIMESTAMP_END - TIMESTAMP_START).total_seconds()) + 1
_JOINED_SPAN = int((JOINED_END - JOINED_START).total_seconds()) + 1


class _Generator:
    def __init__(self, seed: int, rates: Rates) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        self.rng = Random(seed)
        self.random = self.rng.random  # bound once: called ~50 times per event
        self.rates = rates
        # Every user seen so far, in order of first appearance (repeats draw from it).
        self.users: list[tuple[str, str, int, datetime]] = []

    # Only rng.random() and rng.getrandbits() are used below: see the module docstring.
    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.random() * len(seq))]

    def pick_weighted(self, seq: Sequence[Any], cum: list[float]) -> Any:
        return seq[bisect(cum, self.random() * cum[-1], 0, len(cum) - 1)]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def chance(self, share: float) -> bool:
        return self.random() < share

    def run(self, size: int) -> Iterator[tuple[PinRow, GeoRow, UserRow]]:
        for i in range(size):
            # Fixed draw order per event: pin, geo, user.
            yield self.pin(i), self.geo(i), self.user(i)

    def pin(self, i: int) -> PinRow:
        r = self.rates
        rnd = self.random
        category: str = self.pick_weighted(words.CATEGORIES, _CATEGORY_CUM)
        subjects = words.SUBJECTS[category]
        unique_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        broken = rnd() < r.broken_row
        if broken:
            # A failed scrape of a story page: every field is a placeholder at once.
            return (
                i,
                unique_id,
                NO_TITLE,
                NO_DESCRIPTION_STORY,
                USER_INFO_ERROR,
                USER_INFO_ERROR,
                NO_TAGS,
                STORY,
                IMAGE_SRC_ERROR,
                0,
                f"Local save in /data/{category}",
                category,
            )
        u = rnd()
        media = STORY if u < r.story_page else VIDEO if u < r.story_page + r.video else IMAGE

        u = rnd()
        if u < r.no_title:
            title = NO_TITLE
        elif u < r.no_title + r.empty_title:
            title = ""
        else:
            title = self.title(subjects)

        if media == STORY:
            description = NO_DESCRIPTION_STORY
        else:
            u = rnd()
            if u < r.no_description:
                description = NO_DESCRIPTION
            elif u < r.no_description + r.untitled_description:
                description = UNTITLED
            elif u < r.no_description + r.untitled_description + r.empty_description:
                description = ""
            else:
                description = self.description(category, subjects)

        if rnd() < r.user_info_error:
            poster_name = follower_count = USER_INFO_ERROR
        else:
            poster_name = "" if rnd() < r.empty_poster_name else self.poster_name(subjects)
            follower_count = self.followers()

        if rnd() < r.no_tags:
            tag_list = NO_TAGS
        elif rnd() < r.empty_tags:
            tag_list = ""
        else:
            tag_list = self.tags(subjects)

        if media == STORY or rnd() < r.image_src_error:
            image_src = IMAGE_SRC_ERROR
            downloaded = 0
        else:
            digest = f"{self.rng.getrandbits(128):032x}"
            image_src = (
                f"https://i.pinimg.com/originals/{digest[:2]}/{digest[2:4]}/{digest[4:6]}/"
                f"{digest}.jpg"
            )
            downloaded = 0 if rnd() < r.not_downloaded else 1
        return (
            i,
            unique_id,
            title,
            description,
            poster_name,
            follower_count,
            tag_list,
            media,
            image_src,
            downloaded,
            f"Local save in /data/{category}",
            category,
        )

    def fill(self, template: str, subjects: Sequence[str], category: str = "") -> str:
        return template.format(
            n=3 + self.below(28),
            adj=self.pick(words.ADJECTIVES),
            subject=self.pick(subjects),
            year=2017 + self.below(6),
            category=category.replace("-", " "),
        )

    def title(self, subjects: Sequence[str]) -> str:
        text = self.fill(self.pick(words.TITLE_TEMPLATES), subjects)
        text = text[0].upper() + text[1:]
        if self.chance(self.rates.embellished_title):
            text = f"{text} {self.pick(words.EMBELLISHMENTS)}"
        return text

    def description(self, category: str, subjects: Sequence[str]) -> str:
        opener = self.fill(self.pick(words.DESCRIPTION_OPENERS), subjects, category)
        closer = self.fill(self.pick(words.DESCRIPTION_CLOSERS), subjects, category)
        opener = opener[0].upper() + opener[1:]
        return f"{opener} {closer}" if closer else opener

    def poster_name(self, subjects: Sequence[str]) -> str:
        style = self.below(3)
        if style == 0:
            return f"{self.pick(words.FIRST_NAMES)} {self.pick(words.LAST_NAMES)}"
        subject = self.pick(subjects).title()
        if style == 1:
            return (
                f"{self.pick(words.POSTER_PREFIXES)} {subject} {self.pick(words.POSTER_SUFFIXES)}"
            )
        return f"{self.pick(words.FIRST_NAMES)} | {subject}"

    def followers(self) -> str:
        if self.chance(self.rates.zero_followers):
            return "0"
        # Roughly log-uniform from 1 to 99M: most accounts are small, a few are huge. Plain
        # arithmetic on purpose: libm's pow/log may differ in the last bit across platforms.
        magnitude = _FOLLOWER_MAGNITUDES[self.below(len(_FOLLOWER_MAGNITUDES))]
        return format_followers(int((1.0 + 9.0 * self.rng.random()) * magnitude))

    def tags(self, subjects: Sequence[str]) -> str:
        wanted = 3 + self.below(5)
        tags: list[str] = []
        # Bounded attempts: duplicates are skipped, so the list may come out shorter.
        for _ in range(wanted * 2):
            pool = subjects if self.chance(0.7) else words.GENERIC_TAGS
            tag = self.pick(pool)
            if tag not in tags:
                tags.append(tag)
                if len(tags) == wanted:
                    break
        return ",".join(tags)

    def geo(self, i: int) -> GeoRow:
        rnd = self.random
        timestamp = TIMESTAMP_START + timedelta(seconds=int(rnd() * _TIMESTAMP_SPAN))
        # As in the original, the coordinates are random and unrelated to the country.
        latitude = round(rnd() * 180.0 - 90.0, 5)
        longitude = round(rnd() * 360.0 - 180.0, 5)
        country: str = self.pick_weighted(words.COUNTRIES, _COUNTRY_CUM)
        return (i, timestamp, latitude, longitude, country)

    def user(self, i: int) -> UserRow:
        # The first few events all bring new users: with a tiny pool, the opening events
        # would otherwise all repeat the very first user.
        if len(self.users) >= _MIN_POOL and self.chance(self.rates.repeat_user):
            first, last, age, joined = self.users[self.below(len(self.users))]
        else:
            first = self.pick(words.FIRST_NAMES)
            last = self.pick(words.LAST_NAMES)
            if self.chance(self.rates.under_18):
                age = 13 + self.below(5)
            else:
                # Skewed young, like the original (the lower of two uniform draws).
                age = 18 + int(53 * min(self.rng.random(), self.rng.random()))
            joined = JOINED_START + timedelta(seconds=int(self.rng.random() * _JOINED_SPAN))
            self.users.append((first, last, age, joined))
        return (i, first, last, age, joined)
