"""An independent plain-Python computation of the batch job's answers, to check Spark against.

Written from issue 6's rules, not from `spark.clean`/`spark.questions`: it shares no code with
them, so a bug in one is caught by the other.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

Row = dict[str, Any]

_MISSING = {
    "title": {"No Title Data Available"},
    "description": {
        "No description available Story format",
        "No description available",
        "Untitled",
    },
    "poster_name": {"User Info Error"},
    "follower_count": {"User Info Error"},
    "tag_list": {"N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"},
    "image_src": {"Image src error."},
}


#: Numeric columns per key column's table: a value of another JSON type spoils the line
#: (text columns take any scalar, as Spark's JSON reader does).
NUMERIC: dict[str, dict[str, Any]] = {
    "pin": {"index": int, "downloaded": int},
    "geo": {"ind": int, "latitude": (int, float), "longitude": (int, float)},
    "user": {"ind": int, "age": int},
}


def parse_lines(
    lines: Iterable[bytes], key: str, numeric: dict[str, Any] | None = None
) -> tuple[list[Row], int]:
    """(valid rows, bad line count): a bad line does not parse, has no integer key, or has
    a non-numeric value in a numeric column."""
    rows: list[Row] = []
    bad = 0
    for line in lines:
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(row, dict) or not isinstance(row.get(key), int):
            bad += 1
            continue
        types = numeric or {}
        if any(row.get(c) is not None and not isinstance(row[c], t) for c, t in types.items()):
            bad += 1
            continue
        rows.append(row)
    return rows, bad


def dedupe(rows: list[Row], key: str) -> dict[int, Row]:
    out: dict[int, Row] = {}
    for row in rows:
        out.setdefault(row[key], row)
    return out


def followers(text: str | None) -> int | None:
    if text is None:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not m:
        return None
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(Decimal(m.group(1)) * scale)


def clean_pin(row: Row) -> Row:
    out = dict(row)
    for col, value in row.items():
        if value == "" or value in _MISSING.get(col, ()):
            out[col] = None
    out["follower_count"] = followers(out["follower_count"])
    return out


def year(text: str | None) -> int | None:
    return None if text is None else datetime.strptime(text, "%Y-%m-%d %H:%M:%S").year


def age_group(age: int | None) -> str | None:
    if age is None or age < 18:
        return None
    if age <= 24:
        return "18-24"
    if age <= 35:
        return "25-35"
    if age <= 50:
        return "36-50"
    return "+50"


_GROUP_ORDER = {"18-24": 0, "25-35": 1, "36-50": 2, "+50": 3}


def _most(counts: Counter[tuple[Any, str]]) -> list[tuple[Any, str, int]]:
    best: dict[Any, tuple[int, str]] = {}
    for (group, name), n in counts.items():
        cand = (-n, name)
        if group not in best or cand < best[group]:
            best[group] = cand
    return [(g, name, -neg) for g, (neg, name) in best.items()]


def answers(
    pins: dict[int, Row], geos: dict[int, Row], users: dict[int, Row]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every output's rows as tuples, in the job's row order."""
    pin = {i: clean_pin(r) for i, r in pins.items()}
    pg = [(p, geos[i]) for i, p in pin.items() if i in geos]
    pu = [(p, users[i]) for i, p in pin.items() if i in users]
    out: dict[str, list[tuple[Any, ...]]] = {}

    by_country: Counter[tuple[Any, str]] = Counter(
        (g["country"], p["category"]) for p, g in pg if g["country"] and p["category"]
    )
    out["popular_category_by_country"] = sorted(_most(by_country))

    by_year: Counter[tuple[Any, str]] = Counter(
        (year(g["timestamp"]), p["category"])
        for p, g in pg
        if p["category"] and 2018 <= (year(g["timestamp"]) or 0) <= 2022
    )
    out["popular_category_by_year"] = sorted(_most(by_year))

    top: dict[str, tuple[int, str]] = {}
    for p, g in pg:
        if g["country"] and p["poster_name"] and p["follower_count"] is not None:
            cand = (-p["follower_count"], p["poster_name"])
            if g["country"] not in top or cand < top[g["country"]]:
                top[g["country"]] = cand
    most_followed = sorted((c, name, -neg) for c, (neg, name) in top.items())
    out["most_followed_user_by_country"] = most_followed
    if most_followed:
        country, _, count = min(most_followed, key=lambda r: (-r[2], r[0]))
        out["top_country_by_most_followed_user"] = [(country, count)]
    else:
        out["top_country_by_most_followed_user"] = []

    by_group: Counter[tuple[Any, str]] = Counter(
        (age_group(u["age"]), p["category"]) for p, u in pu if age_group(u["age"]) and p["category"]
    )
    out["popular_category_by_age_group"] = sorted(_most(by_group), key=lambda r: _GROUP_ORDER[r[0]])

    group_followers: dict[str, list[int]] = defaultdict(list)
    for p, u in pu:
        grp = age_group(u["age"])
        if grp and p["follower_count"] is not None:
            group_followers[grp].append(p["follower_count"])
    out["median_followers_by_age_group"] = sorted(
        ((g, float(statistics.median(v))) for g, v in group_followers.items()),
        key=lambda r: _GROUP_ORDER[r[0]],
    )

    joined: Counter[int] = Counter()
    seen: set[tuple[Any, ...]] = set()
    for u in users.values():
        name = (
            None
            if u["first_name"] is None or u["last_name"] is None
            else (f"{u['first_name']} {u['last_name']}")
        )
        triple = (name, u["age"], u["date_joined"])
        y = year(u["date_joined"])
        if triple not in seen and y is not None and 2015 <= y <= 2020:
            joined[y] += 1
        seen.add(triple)
    out["users_joined_by_year"] = sorted(joined.items())

    year_followers: dict[int, list[int]] = defaultdict(list)
    year_group_followers: dict[tuple[str, int], list[int]] = defaultdict(list)
    for p, u in pu:
        y = year(u["date_joined"])
        if y is None or not 2015 <= y <= 2020 or p["follower_count"] is None:
            continue
        year_followers[y].append(p["follower_count"])
        grp = age_group(u["age"])
        if grp:
            year_group_followers[(grp, y)].append(p["follower_count"])
    out["median_followers_by_join_year"] = sorted(
        (y, float(statistics.median(v))) for y, v in year_followers.items()
    )
    out["median_followers_by_join_year_and_age_group"] = sorted(
        ((g, y, float(statistics.median(v))) for (g, y), v in year_group_followers.items()),
        key=lambda r: (_GROUP_ORDER[r[0]], r[1]),
    )
    return out
