"""A source row as JSON values: what the emulator posts and every later stage reads.

Values go out as MySQL holds them, except datetimes, sent as `YYYY-MM-DD HH:MM:SS` text
as the original project did (Spark's schemas read them as strings), dates as ISO text,
decimals as floats and bytes as UTF-8 text. Standard library only (see the package doc).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

#: The column holding the event number in each table's rows (pin calls it `index`).
KEY_COLUMNS: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}

#: How a datetime travels: text, to the second, no zone (the source's are UTC).
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

Row = dict[str, Any]


def to_json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def to_json_row(row: Mapping[Any, Any]) -> Row:
    """The row with every value as JSON can carry it (see the module doc)."""
    return {key: to_json_value(value) for key, value in row.items()}
