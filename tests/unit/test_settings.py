"""Settings: defaults, names that mirror the AWS project, and clear errors."""

from __future__ import annotations

import pytest

from services.settings import Settings, SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_defaults_point_at_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MYSQL_HOST", "KAFKA_BOOTSTRAP_SERVERS", "S3_ENDPOINT", "PIPELINE_USER_ID"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    assert s.pipeline_target == "local"
    assert s.mysql_host == "127.0.0.1" and s.mysql_port == 3306
    assert s.mysql_database == "pinterest_data"
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka_connect_url == "http://127.0.0.1:8083"
    assert s.rest_proxy_url == "http://127.0.0.1:8082"
    assert s.s3_endpoint == "http://127.0.0.1:9000"
    assert s.bind_host == "127.0.0.1"


def test_names_mirror_the_aws_project() -> None:
    s = load_settings(pipeline_user_id="0a1b2c3d4e5f")
    assert s.topics == ["0a1b2c3d4e5f.pin", "0a1b2c3d4e5f.geo", "0a1b2c3d4e5f.user"]
    assert s.bucket == "user-0a1b2c3d4e5f-bucket"
    assert s.streaming_topic("geo") == "streaming-0a1b2c3d4e5f-geo"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_USER_ID", "alice")
    monkeypatch.setenv("MYSQL_PORT", "13306")
    s = load_settings()
    assert s.bucket == "user-alice-bucket"
    assert s.mysql_port == 13306


@pytest.mark.parametrize("bad", ["Alice", "a_b", "-ab", "ab-", "", "x" * 52, "a.b"])
def test_bad_user_id_names_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="PIPELINE_USER_ID"):
        load_settings(pipeline_user_id=bad)


def test_bad_port_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYSQL_PORT", "three")
    with pytest.raises(SettingsError, match="MYSQL_PORT"):
        load_settings()


def test_unknown_table_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown table"):
        load_settings().topic("pins")


def test_masked_hides_every_secret() -> None:
    s = load_settings()
    masked = s.masked()
    assert masked["mysql_password"] == "****"
    assert masked["s3_secret_key"] == "****"
    assert s.s3_secret_key.get_secret_value() not in str(masked)


def test_to_env_makes_a_child_load_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    original = load_settings(
        pipeline_user_id="envtrip",
        kafka_bootstrap_servers="127.0.0.1:19092",
        s3_secret_key="s3-secret-for-the-child",
        seaweedfs_filer_port=29335,
    )
    env = original.to_env()
    assert env["S3_SECRET_KEY"] == "s3-secret-for-the-child"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None) == original
    public = original.to_env(secrets=False)
    assert "S3_SECRET_KEY" not in public and public["PIPELINE_USER_ID"] == "envtrip"
