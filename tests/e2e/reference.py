"""An independent computation of the nine answers in plain Python, from the MySQL rows.

Written from issue 6's rules, not from the Spark code, so the end-to-end tests compare two
implementations: placeholders and empty strings become null in pin; follower counts like
"51k"/"6M" become whole numbers; joins are inner on `ind`; ties go to the smaller name;
medians are exact; ages under 18 belong to no group; rows with a null in the grouped or
ranked column are left out.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

Row = dict[str, Any]

PLACEHOLDERS = {
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
AGE_ORDER = ["18-24", "25-35", "36-50", "+50"]


def followers(value: str | None) -> int | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)([kM]?)", value)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1_000, "M": 1_000_000}[m.group(2)]


def clean_pin(rows: Iterable[Row]) -> dict[int, Row]:
    out: dict[int, Row] = {}
    for raw in rows:
        row = {k: (None if v == "" else v) for k, v in raw.items()}
        for col, bad in PLACEHOLDERS.items():
            if row.get(col) in bad:
                row[col] = None
        row["follower_count"] = followers(row["follower_count"])
        out.setdefault(int(raw["index"]), row)
    return out


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def clean_geo(rows: Iterable[Row]) -> dict[int, Row]:
    return {int(r["ind"]): {**r, "timestamp": _ts(r["timestamp"])} for r in rows}


def clean_user(rows: Iterable[Row]) -> dict[int, Row]:
    out = {}
    for r in rows:
        name = (
            None
            if r["first_name"] is None or r["last_name"] is None
            else (f"{r['first_name']} {r['last_name']}")
        )
        out[int(r["ind"])] = {
            "user_name": name,
            "age": int(r["age"]),
            "date_joined": _ts(r["date_joined"]),
        }
    return out


def age_group(age: int) -> str | None:
    if age < 18:
        return None
    if age <= 24:
        return "18-24"
    if age <= 35:
        return "25-35"
    if age <= 50:
        return "36-50"
    return "+50"


def _top(counts: Counter[tuple[Any, str]]) -> dict[Any, tuple[str, int]]:
    """Per key: (name, count) with the highest count, ties to the smaller name."""
    best: dict[Any, tuple[str, int]] = {}
    for (key, name), n in counts.items():
        cur = best.get(key)
        if cur is None or n > cur[1] or (n == cur[1] and name < cur[0]):
            best[key] = (name, n)
    return best


def answers(
    pin_rows: Iterable[Row], geo_rows: Iterable[Row], user_rows: Iterable[Row]
) -> dict[str, list[Row]]:
    pin, geo, user = clean_pin(pin_rows), clean_geo(geo_rows), clean_user(user_rows)
    pg = [(pin[i], geo[i]) for i in pin if i in geo]
    pu = [(pin[i], user[i]) for i in pin if i in user]
    out: dict[str, list[Row]] = {}

    by_country = Counter(
        (g["country"], p["category"]) for p, g in pg if g["country"] and p["category"]
    )
    out["popular_category_by_country"] = [
        {"country": c, "category": cat, "category_count": n}
        for c, (cat, n) in sorted(_top(by_country).items())
    ]
    by_year = Counter(
        (g["timestamp"].year, p["category"])
        for p, g in pg
        if 2018 <= g["timestamp"].year <= 2022 and p["category"]
    )
    out["popular_category_by_year"] = [
        {"post_year": y, "category": cat, "category_count": n}
        for y, (cat, n) in sorted(_top(by_year).items())
    ]

    most: dict[str, tuple[str, int]] = {}
    for p, g in pg:
        if g["country"] is None or p["poster_name"] is None or p["follower_count"] is None:
            continue
        cur = most.get(g["country"])
        cand = (p["poster_name"], p["follower_count"])
        if cur is None or cand[1] > cur[1] or (cand[1] == cur[1] and cand[0] < cur[0]):
            most[g["country"]] = cand
    out["most_followed_user_by_country"] = [
        {"country": c, "poster_name": name, "follower_count": n}
        for c, (name, n) in sorted(most.items())
    ]
    top_country = min(most.items(), key=lambda kv: (-kv[1][1], kv[0]))
    out["top_country_by_most_followed_user"] = [
        {"country": top_country[0], "follower_count": top_country[1][1]}
    ]

    by_age = Counter(
        (age_group(u["age"]), p["category"]) for p, u in pu if age_group(u["age"]) and p["category"]
    )
    out["popular_category_by_age_group"] = [
        {"age_group": a, "category": cat, "category_count": n}
        for a, (cat, n) in sorted(_top(by_age).items(), key=lambda kv: AGE_ORDER.index(kv[0]))
    ]

    per_age: dict[str, list[int]] = defaultdict(list)
    per_join: dict[int, list[int]] = defaultdict(list)
    per_both: dict[tuple[str, int], list[int]] = defaultdict(list)
    for p, u in pu:
        fc, group, year = p["follower_count"], age_group(u["age"]), u["date_joined"].year
        if fc is None:
            continue
        if group:
            per_age[group].append(fc)
        if 2015 <= year <= 2020:
            per_join[year].append(fc)
            if group:
                per_both[(group, year)].append(fc)
    out["median_followers_by_age_group"] = [
        {"age_group": a, "median_follower_count": float(statistics.median(per_age[a]))}
        for a in AGE_ORDER
        if per_age.get(a)
    ]
    users = {(u["user_name"], u["age"], u["date_joined"]) for u in user.values()}
    joined = Counter(d.year for _n, _a, d in users if 2015 <= d.year <= 2020)
    out["users_joined_by_year"] = [
        {"post_year": y, "number_users_joined": n} for y, n in sorted(joined.items())
    ]
    out["median_followers_by_join_year"] = [
        {"post_year": y, "median_follower_count": float(statistics.median(v))}
        for y, v in sorted(per_join.items())
    ]
    out["median_followers_by_join_year_and_age_group"] = [
        {"age_group": a, "post_year": y, "median_follower_count": float(statistics.median(v))}
        for (a, y), v in sorted(
            per_both.items(), key=lambda kv: (AGE_ORDER.index(kv[0][0]), kv[0][1])
        )
    ]
    return out


def normalise(rows: list[Row]) -> list[Row]:
    """Answers as comparable plain values (timestamps as years are already ints)."""
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
