"""Names, paths and options of the streaming job: no services, no Spark."""

from __future__ import annotations

import pytest

from services.clients import clients_for
from services.settings import Settings, SettingsError, load_settings
from spark.streaming.__main__ import main
from spark.streaming.job import StreamOptions
from spark.streaming.layout import (
    checkpoint_path,
    query_name,
    quoted,
    table_name,
    table_path,
)
from spark.streaming.source import StreamingConfigError, kafka_options

pytestmark = pytest.mark.unit


@pytest.fixture
def settings() -> Settings:
    return load_settings(pipeline_user_id="a1-b2")


def test_tables_and_checkpoints_live_in_the_namespace_bucket(settings: Settings) -> None:
    assert table_path(settings, "pin") == "s3a://user-a1-b2-bucket/delta/pin"
    assert table_path(settings, "quarantine") == "s3a://user-a1-b2-bucket/delta/quarantine"
    assert checkpoint_path(settings, "user") == "s3a://user-a1-b2-bucket/checkpoints/user"


def test_table_names_mirror_the_original_and_quote_safely(settings: Settings) -> None:
    assert table_name(settings, "geo") == "a1-b2_geo_table"
    assert quoted(table_name(settings, "geo")) == "`a1-b2_geo_table`"
    assert quoted("odd`name") == "`odd``name`"
    assert query_name(settings, "pin") == "stream_a1_b2_pin_table"


def test_unknown_tables_are_refused(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="unknown table 'pins'"):
        table_path(settings, "pins")
    # The quarantine table has no topic and so no checkpoint of its own.
    with pytest.raises(SettingsError, match="quarantine"):
        checkpoint_path(settings, "quarantine")


def test_options_are_checked() -> None:
    assert StreamOptions().trigger_seconds == 2.0
    with pytest.raises(StreamingConfigError, match="--trigger-seconds=0"):
        StreamOptions(trigger_seconds=0)
    with pytest.raises(StreamingConfigError, match="--tables=pin,pins"):
        StreamOptions(tables=("pin", "pins"))
    with pytest.raises(StreamingConfigError, match="--tables"):
        StreamOptions(tables=())


def test_kafka_options_come_from_the_client_factory(settings: Settings) -> None:
    # The per-target options (MSK IAM, SCRAM) are tested in test_spark_kafka_options.py.
    assert kafka_options(clients_for(settings)) == {"kafka.bootstrap.servers": "127.0.0.1:9092"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--trigger-seconds", "-1"], "--trigger-seconds=-1.0 must be above 0"),
        (["once", "--tables", "pin,board"], "--tables=pin,board"),
    ],
)
def test_cli_bad_input_is_one_message_and_exit_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
