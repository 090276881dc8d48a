"""Fixtures shared by every test layer.

- `stack`: the real local services, brought up once per session (idempotent `make up`).
- `ns`: settings for a fresh namespace (PIPELINE_USER_ID) with its topics and bucket,
  so runs and tests never collide.
Unit tests use neither and run without services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.settings import Settings, load_settings


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def stack(base_settings: Settings) -> Iterator[Settings]:
    from services.stack import lifecycle

    lifecycle.up(base_settings)
    yield base_settings


def fresh_namespace(stack: Settings, prefix: str = "t") -> Settings:
    """Settings for a new PIPELINE_USER_ID with its topics and bucket created."""
    from services.stack import lifecycle

    settings = stack.model_copy(update={"pipeline_user_id": f"{prefix}{uuid.uuid4().hex[:10]}"})
    lifecycle.ensure_namespace(settings)
    return settings


def drop_namespace(settings: Settings) -> None:
    """Best effort: a namespace that cannot be dropped must not fail the test that used it."""
    import logging

    from services.stack import bootstrap

    try:
        bootstrap.drop_namespace(settings)
    except Exception as exc:  # cleanup only; the test's own result stands
        logging.getLogger(__name__).warning("could not drop %s: %s", settings.pipeline_user_id, exc)


@pytest.fixture
def ns(stack: Settings) -> Iterator[Settings]:
    settings = fresh_namespace(stack)
    yield settings
    drop_namespace(settings)


@pytest.fixture(scope="module")
def module_ns(stack: Settings) -> Iterator[Settings]:
    settings = fresh_namespace(stack)
    yield settings
    drop_namespace(settings)
