"""The DDL in `schema.sql`, one CREATE TABLE at a time, optionally under another name."""

from __future__ import annotations

import re
from importlib import resources

#: The three source tables, in the order of the pipeline's topics (pin, geo, user).
SOURCE_TABLES: tuple[str, ...] = ("pinterest_data", "geolocation_data", "user_data")
META_TABLE = "_seed_meta"

_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS `([^`]+)`")


def schema_sql() -> str:
    return resources.files("seed_data").joinpath("schema.sql").read_text(encoding="utf-8")


def statements() -> dict[str, str]:
    """Each CREATE TABLE of `schema.sql`, keyed by table name."""
    lines = [ln for ln in schema_sql().splitlines() if not ln.lstrip().startswith("--")]
    out: dict[str, str] = {}
    for stmt in "\n".join(lines).split(";"):
        match = _CREATE.search(stmt)
        if match:
            out[match[1]] = stmt.strip()
    return out


def create_statement(table: str, as_name: str | None = None) -> str:
    """The CREATE TABLE of one table of `schema.sql`, optionally under another name."""
    stmt = statements()[table]
    return _CREATE.sub(f"CREATE TABLE IF NOT EXISTS {quote_ident(as_name or table)}", stmt, 1)


def quote_ident(name: str) -> str:
    """A MySQL identifier in backticks; names holding a backtick are refused, not escaped."""
    if not name or "`" in name or "\x00" in name or len(name) > 64:
        raise ValueError(f"not a usable MySQL name: {name!r}")
    return f"`{name}`"
