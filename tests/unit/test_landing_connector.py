from __future__ import annotations

import re
from typing import Any

import pytest

from services.landing.connector import SinkConfigError, render_connector_config, sink_config
from services.settings import Settings

pytestmark = pytest.mark.unit


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)


def test_rendered_config_mirrors_msk_connect() -> None:
    rendered = render_connector_config(
        settings(pipeline_user_id="0a1b", sink_flush_records=500, sink_flush_seconds=2.5)
    )
    cfg = rendered["config"]
    assert rendered["name"] == "0a1b-s3-sink"
    assert cfg["topics.regex"] == r"0a1b\..*"
    assert cfg["s3.bucket.name"] == "user-0a1b-bucket"
    assert cfg["flush.size"] == "500"
    assert cfg["rotate.schedule.interval.ms"] == "2500"
    assert cfg["value.converter.schemas.enable"] == "false"
    assert cfg["s3.path.style.access.enabled"] == "true"
    assert cfg["errors.tolerance"] == "all"
    assert not any("${" in v for v in cfg.values())
    # The dead-letter topic must not match the sink's own topics.regex.
    assert not re.fullmatch(cfg["topics.regex"], cfg["errors.deadletterqueue.topic.name"])


def test_subscription_takes_batch_topics_of_every_namespace_and_nothing_else() -> None:
    pattern = re.compile(sink_config(settings()).subscription)
    for topic in ("local.pin", "0a1b.geo", "t-9.user"):
        assert pattern.search(topic), topic
    for topic in (
        "streaming-local-pin",
        "local.dlq",
        "dlq-local",
        "local.pin.x",
        "__consumer_offsets",
    ):
        assert not pattern.search(topic), topic


def test_one_namespace_subscription() -> None:
    cfg = sink_config(settings(), user_id="ab-1")
    pattern = re.compile(cfg.subscription)
    assert pattern.search("ab-1.pin") and not pattern.search("xab-1.pin")
    assert cfg.name == "ab-1-s3-sink" and cfg.user_id == "ab-1"


def test_the_connector_of_a_namespace_lands_its_batch_topics_and_not_its_streams() -> None:
    s = settings(pipeline_user_id="ab-1")
    regex = render_connector_config(s)["config"]["topics.regex"]
    assert all(re.fullmatch(regex, t) for t in s.topics)
    assert not any(re.fullmatch(regex, t) for t in s.streaming_topics)
    assert not re.fullmatch(regex, "ab-12.pin")


@pytest.mark.parametrize(
    ("knobs", "variable"),
    [
        ({"sink_flush_records": 0}, "SINK_FLUSH_RECORDS"),
        ({"sink_flush_seconds": 0}, "SINK_FLUSH_SECONDS"),
    ],
)
def test_bad_knobs_name_the_setting(knobs: dict[str, Any], variable: str) -> None:
    with pytest.raises(SinkConfigError, match=variable):
        sink_config(settings(**knobs))


def test_dead_letter_topics_regex_matches_the_connectors_dlq_names() -> None:
    ns = settings(pipeline_user_id="abc-1")
    dlq = render_connector_config(ns)["config"]["errors.deadletterqueue.topic.name"]
    every = re.compile(sink_config(ns).dead_letter_topics)
    own = re.compile(sink_config(ns, user_id="abc-1").dead_letter_topics)
    assert dlq == "dlq-abc-1"
    assert every.match(dlq) and every.match("dlq-other") and own.match(dlq)
    assert not own.match("dlq-other")
    assert not every.match("streaming-abc-1-pin") and not every.match("abc-1.pin")
