"""The S3 sink's configuration: the committed connector config, rendered from settings.

`connector.json` is the MSK Connect configuration with `${...}` placeholders. Settings fill
them (flush size and rotation interval come from SINK_FLUSH_RECORDS and SINK_FLUSH_SECONDS),
so the AWS connector (`make export-aws`) and each namespace's local connector
(services/stack/connectors.py) can never disagree about those knobs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from services.settings import TABLES, Settings

CONNECTOR_FILE = Path(__file__).with_name("connector.json")
_PLACEHOLDER = re.compile(r"\$\{([a-z0-9_]+)\}")


class SinkConfigError(ValueError):
    """The sink cannot start with this configuration; the message names the fix."""


@dataclass(frozen=True)
class SinkConfig:
    name: str
    #: The batch topics the S3 sink lands, as a regex (`^` anchored): `<id>.pin|geo|user`.
    subscription: str
    #: `user-${user_id}-bucket`: the bucket of topic `<user_id>.<table>`.
    bucket_template: str
    flush_records: int
    flush_seconds: float
    #: None: every namespace on the broker; else only this one.
    user_id: str | None
    #: The connectors' dead-letter topics (`dlq-<id>`), as a regex (`^` anchored): Connect's
    #: to write, never a stream or a topic to produce to.
    dead_letter_topics: str = ""


@cache
def _template() -> dict[str, Any]:
    with CONNECTOR_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _fill(text: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise SinkConfigError(
                f"{CONNECTOR_FILE.name} uses the placeholder ${{{key}}}, which nothing fills: "
                f"use one of {', '.join(sorted(values))}"
            )
        return values[key]

    return _PLACEHOLDER.sub(sub, text)


def _check_knobs(settings: Settings) -> None:
    if settings.sink_flush_records < 1:
        raise SinkConfigError(
            f"SINK_FLUSH_RECORDS={settings.sink_flush_records} cannot rotate objects: set it to "
            "the number of records per object, at least 1 (default 1000)"
        )
    if not settings.sink_flush_seconds > 0:
        raise SinkConfigError(
            f"SINK_FLUSH_SECONDS={settings.sink_flush_seconds} cannot rotate objects by time: "
            "set it to a positive number of seconds (default 2)"
        )


def render_connector_config(settings: Settings) -> dict[str, Any]:
    """`{"name": ..., "config": {...}}` for settings.pipeline_user_id, every placeholder filled.

    What Kafka Connect's `PUT /connectors/<name>/config` takes is the `config` part.
    """
    _check_knobs(settings)
    values = {
        "user_id": settings.pipeline_user_id,
        "s3_region": settings.s3_region,
        "s3_endpoint": settings.s3_endpoint,
        "flush_size": str(settings.sink_flush_records),
        "rotate_ms": str(round(settings.sink_flush_seconds * 1000)),
    }
    template = _template()
    return {
        "name": _fill(template["name"], values),
        "config": {k: _fill(str(v), values) for k, v in template["config"].items()},
    }


def sink_config(settings: Settings, *, user_id: str | None = None) -> SinkConfig:
    """What the S3 sink lands; `user_id` restricts it to one namespace."""
    _check_knobs(settings)
    template = _template()
    bucket_template = template["config"]["s3.bucket.name"]
    if "${user_id}" not in bucket_template:
        raise SinkConfigError(
            f"{CONNECTOR_FILE}: s3.bucket.name must contain ${{user_id}} "
            "(e.g. user-${user_id}-bucket) so each namespace lands in its own bucket"
        )
    if user_id is None:
        subscription = template["local"]["subscription_regex"]
    else:
        # The user id is already validated (lowercase letters, digits, hyphens): no regex
        # metacharacters to escape.
        subscription = rf"^{user_id}\.({'|'.join(TABLES)})$"
    return SinkConfig(
        name=template["name"].replace("${user_id}", user_id or "all"),
        subscription=subscription,
        bucket_template=bucket_template,
        flush_records=settings.sink_flush_records,
        flush_seconds=settings.sink_flush_seconds,
        user_id=user_id,
        dead_letter_topics=_dead_letter_regex(template, user_id),
    )


def _dead_letter_regex(template: dict[str, Any], user_id: str | None) -> str:
    name = str(template["config"]["errors.deadletterqueue.topic.name"])
    # User ids are lowercase letters, digits and hyphens (Settings validates them).
    head, _, tail = name.partition("${user_id}")
    ident = user_id if user_id is not None else "[a-z0-9-]+"
    return f"^{re.escape(head)}{ident}{re.escape(tail)}$"
