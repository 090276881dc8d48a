"""Where the streaming job keeps its tables and checkpoints, and what it calls them.

Everything lives in the namespace's bucket, so a namespace is one bucket to inspect or drop:
    s3a://<bucket>/delta/{pin,geo,user,quarantine}/   the Delta tables
    s3a://<bucket>/checkpoints/{pin,geo,user}/         one checkpoint per streaming query
"""

from __future__ import annotations

from services.settings import TABLES, Settings, SettingsError

QUARANTINE = "quarantine"
DELTA_PREFIX = "delta"
CHECKPOINT_PREFIX = "checkpoints"


def _known(table: str, *, quarantine: bool) -> str:
    names = all_tables() if quarantine else TABLES
    if table not in names:
        raise SettingsError(f"unknown table {table!r}: expected one of {', '.join(names)}")
    return table


def table_path(settings: Settings, table: str) -> str:
    """`s3a://<bucket>/delta/<table>` for pin, geo, user or quarantine."""
    _known(table, quarantine=True)
    return f"s3a://{settings.bucket}/{DELTA_PREFIX}/{table}"


def checkpoint_path(settings: Settings, table: str) -> str:
    return f"s3a://{settings.bucket}/{CHECKPOINT_PREFIX}/{_known(table, quarantine=False)}"


def table_name(settings: Settings, table: str) -> str:
    """`<user_id>_pin_table`: the original's Databricks table names.

    A user id may hold hyphens, which an SQL identifier may not: callers quote it.
    """
    _known(table, quarantine=True)
    return f"{settings.pipeline_user_id}_{table}_table"


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def query_name(settings: Settings, table: str) -> str:
    # Shown in Spark's logs and progress; one per table and namespace.
    return f"stream_{table_name(settings, table)}".replace("-", "_")


def all_tables() -> tuple[str, ...]:
    return (*TABLES, QUARANTINE)
