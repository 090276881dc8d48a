"""Namespaces and scratch databases for tests: each test's own names, removed afterwards.

`fresh_namespace` gives settings for a new PIPELINE_USER_ID with its topics, bucket and
connector; `drop_namespace` removes them; `seeded_database` is a throwaway scratch database.
Every name is recorded in the session (stack_state.SESSION), so the end-of-session sweep
removes it even when a test dies before its own cleanup.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from services.settings import Settings
from tests.support.stack_state import SESSION


def fresh_namespace(stack: Settings, prefix: str = "t") -> Settings:
    """Settings for a new PIPELINE_USER_ID with its topics and bucket created."""
    from services.stack import lifecycle

    settings = stack.model_copy(update={"pipeline_user_id": f"{prefix}{uuid.uuid4().hex[:10]}"})
    SESSION.user_ids.add(settings.pipeline_user_id)
    lifecycle.ensure_namespace(settings)
    return settings


def drop_namespace(settings: Settings) -> None:
    """Best effort: a namespace that cannot be dropped must not fail the test that used it."""
    import logging

    from services.stack import bootstrap

    try:
        # The connector goes first and its consumer group is deleted only once its task has
        # left: nothing writes into the bucket after it is emptied.
        bootstrap.drop_namespace(settings)
    except Exception as exc:  # cleanup only; the test's own result stands
        logging.getLogger(__name__).warning("could not drop %s: %s", settings.pipeline_user_id, exc)


@contextmanager
def seeded_database(stack: Settings, prefix: str, size: int) -> Iterator[Settings]:
    """Settings for a throwaway scratch database of `size` events, read by the scratch
    reader `<MYSQL_USER>_scratch` (created by `make up`); the database is dropped
    afterwards. Neither the shared database nor the shared reader is touched."""
    from seed_data.load import load
    from services.stack.mysql_accounts import scratch_database, scratch_reader

    name = scratch_database(stack, f"{prefix}_{uuid.uuid4().hex[:8]}")
    SESSION.databases.add(name)
    settings = stack.model_copy(
        update={"mysql_database": name, "mysql_user": scratch_reader(stack)}
    )
    try:
        load(settings, size=size)
        yield settings
    finally:
        drop_database(settings)


def drop_database(settings: Settings) -> None:
    """Drop the settings' scratch database (never the shared one)."""
    from sqlalchemy import text

    from services.clients import clients_for

    shared = Settings.model_fields["mysql_database"].default
    assert settings.mysql_database != shared, "refusing to drop the shared database"
    admin = clients_for(settings).mysql_engine(admin=True, database=False)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{settings.mysql_database}`"))
    finally:
        admin.dispose()
