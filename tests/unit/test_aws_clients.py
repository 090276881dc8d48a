"""The AWS client factory builds real clients with AWS endpoints, TLS and the standard chain.

No AWS account here, so the tests inspect what the clients would send: a presigned S3 URL
and an MSK IAM token are computed locally, from credentials the standard chain found.
"""

from __future__ import annotations

import base64
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import certifi
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from services.aws_settings import VARIABLES
from services.clients import clients_for
from services.clients.aws import AwsClients, AwsCredentialsError
from services.settings import Settings, SettingsError
from tests.support import fake_aws

pytestmark = pytest.mark.unit

USER = "0a1b2c3d4e5f"
BROKERS = (
    "b-1.pinterest.abc123.c2.kafka.eu-west-1.amazonaws.com:9098,"
    "b-2.pinterest.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"
)
CONFIG: dict[str, Any] = {
    "pipeline_user_id": USER,
    "mysql_host": "pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com",
    "mysql_user": "admin",
    "mysql_password": "rds pw/&?",
    "rest_proxy_url": "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    "kafka_bootstrap_servers": BROKERS,
    "s3_region": "eu-central-1",
}
ENV_KEY = fake_aws.access_key_id("env")
PROFILE_KEY = fake_aws.access_key_id("profile")


@pytest.fixture(autouse=True)
def isolated_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty standard chain: no env keys, no profile files, no instance metadata."""
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def aws(**overrides: Any) -> AwsClients:
    settings = Settings(_env_file=None, pipeline_target="aws", **{**CONFIG, **overrides})
    clients = clients_for(settings)
    assert isinstance(clients, AwsClients)
    return clients


def env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ENV_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")


# --- S3 -------------------------------------------------------------------------------------


def test_s3_is_aws_virtual_hosted_tls_in_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch)
    url = aws().s3().presigned_get_object(f"user-{USER}-bucket", "pin/a.json", timedelta(hours=1))
    parts = urlsplit(url)
    assert parts.scheme == "https"
    # Virtual-hosted: the bucket is in the host name, not the path.
    assert parts.hostname == f"user-{USER}-bucket.s3.eu-central-1.amazonaws.com"
    assert parts.path == "/pin/a.json"
    credential = parse_qs(parts.query)["X-Amz-Credential"][0]
    assert credential.startswith(f"{ENV_KEY}/") and "/eu-central-1/s3/" in credential


def test_s3_credentials_come_from_a_named_profile(
    monkeypatch: pytest.MonkeyPatch, isolated_chain: Path
) -> None:
    (isolated_chain / "credentials").write_text(
        f"[pipeline]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = p-secret\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "pipeline")
    url = aws().s3().presigned_get_object(f"user-{USER}-bucket", "x", timedelta(minutes=5))
    assert f"X-Amz-Credential={PROFILE_KEY}" in url


def test_s3_without_credentials_says_how_to_provide_them() -> None:
    client = aws().s3()  # building the client never touches the chain
    with pytest.raises(AwsCredentialsError, match="export AWS_PROFILE") as info:
        client.presigned_get_object(f"user-{USER}-bucket", "x", timedelta(minutes=5))
    assert "do not read .env" in str(info.value)


def test_s3_ignores_the_local_sandbox_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    env_credentials(monkeypatch)
    url = aws(s3_access_key="pipeline-local", s3_endpoint="http://127.0.0.1:9000").s3()
    signed = url.presigned_get_object(f"user-{USER}-bucket", "x", timedelta(minutes=5))
    assert "pipeline-local" not in signed and "127.0.0.1" not in signed


def test_spark_s3a_uses_the_default_chain_and_no_endpoint() -> None:
    conf = aws(s3_access_key="pipeline-local").spark_s3a_conf()
    assert "fs.s3a.endpoint" not in conf
    assert not {"fs.s3a.access.key", "fs.s3a.secret.key"} & set(conf)
    assert conf["fs.s3a.aws.credentials.provider"] == (
        "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
    )
    assert conf["fs.s3a.endpoint.region"] == "eu-central-1"
    assert conf["fs.s3a.path.style.access"] == "false"
    assert conf["fs.s3a.connection.ssl.enabled"] == "true"


def test_s3_endpoint_override_reaches_minio_spark_and_botocore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_credentials(monkeypatch)
    clients = aws(
        aws_endpoint_url_s3="http://127.0.0.1:4566",
        aws_endpoint_url_sts="https://sts.vpce.example:8443",
    )
    signed = clients.s3().presigned_get_object(f"user-{USER}-bucket", "x", timedelta(minutes=5))
    # Path-style on the override, no TLS for an http URL.
    assert signed.startswith(f"http://127.0.0.1:4566/user-{USER}-bucket/x?")
    conf = clients.spark_s3a_conf()
    assert conf["fs.s3a.endpoint"] == "http://127.0.0.1:4566"
    assert conf["fs.s3a.path.style.access"] == "true"
    assert conf["fs.s3a.connection.ssl.enabled"] == "false"
    assert clients.botocore_client("sts").meta.endpoint_url == "https://sts.vpce.example:8443"
    assert clients.botocore_client("s3").meta.endpoint_url == "http://127.0.0.1:4566"


@pytest.mark.parametrize("bad", ["127.0.0.1:4566", "ftp://host", "http://host/some/path"])
def test_a_malformed_endpoint_override_names_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match=r"AWS_ENDPOINT_URL_S3=.* is not an endpoint URL"):
        aws(aws_endpoint_url_s3=bad).s3()


# --- Kafka ----------------------------------------------------------------------------------


def offline(conf: dict[str, Any]) -> dict[str, Any]:
    """The same configuration with the brokers swapped for a loopback port nobody listens on:
    librdkafka connects as soon as a client is built, and a unit test stays on this machine."""
    return {**conf, "bootstrap.servers": f"127.0.0.1:{fake_aws.free_port()}"}


def test_kafka_iam_is_sasl_ssl_oauthbearer_with_a_signed_msk_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env_credentials(monkeypatch)
    conf = aws().kafka_config()
    assert conf["bootstrap.servers"] == BROKERS
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanisms"] == "OAUTHBEARER"
    assert conf["ssl.ca.location"] == certifi.where()
    assert "sasl.password" not in conf

    token, expiry = conf["oauth_cb"]("")
    signed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urlsplit(signed)
    # Signed for the cluster's region (from the broker names), with the chain's key.
    assert parts.hostname == "kafka.eu-west-1.amazonaws.com"
    query = parse_qs(parts.query)
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith(f"{ENV_KEY}/")
    assert "/eu-west-1/kafka-cluster/" in query["X-Amz-Credential"][0]
    assert expiry > 0

    # librdkafka accepts the configuration (unknown or conflicting keys fail here).
    assert Producer(offline(conf)) is not None
    assert AdminClient(offline(conf)) is not None


def test_kafka_scram_is_sasl_ssl_scram_sha_512() -> None:
    conf = aws(
        kafka_auth="scram", kafka_sasl_username="alice", kafka_sasl_password="s3cr"
    ).kafka_config()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("alice", "s3cr")
    assert "oauth_cb" not in conf
    assert Producer(offline(conf)) is not None  # librdkafka accepts it


class _Recorded:
    """Stands in for a librdkafka client: keeps the configuration it was built with."""

    built: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        self.built.append((type(self).__name__, dict(conf)))

    def poll(self, _timeout: float) -> None:
        return None


def test_kafka_clients_built_by_the_factory_carry_the_aws_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import services.clients.base as base

    built: list[tuple[str, dict[str, Any]]] = []
    for name in ("Producer", "Consumer", "AdminClient"):
        monkeypatch.setattr(base, name, type(name, (_Recorded,), {"built": built}))
    clients = aws(kafka_auth="scram", kafka_sasl_username="alice", kafka_sasl_password="s3cr")

    clients.kafka_producer()
    clients.kafka_consumer("g")
    clients.kafka_admin()

    assert [kind for kind, _ in built] == ["Producer", "Consumer", "AdminClient"]
    for kind, conf in built:
        assert conf["bootstrap.servers"] == BROKERS, kind
        assert conf["security.protocol"] == "SASL_SSL", kind
        assert conf["sasl.mechanisms"] == "SCRAM-SHA-512", kind
        assert (conf["sasl.username"], conf["sasl.password"]) == ("alice", "s3cr"), kind
    producer, consumer = built[0][1], built[1][1]
    assert producer["acks"] == "all" and producer["enable.idempotence"] is True
    assert consumer["group.id"] == "g" and consumer["enable.auto.commit"] is False


# --- MySQL ----------------------------------------------------------------------------------


def test_mysql_points_at_rds_with_tls() -> None:
    clients = aws()
    url = clients.mysql_url()
    assert "@pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com:3306/pinterest_data" in url
    assert "rds+pw%2F%26%3F" in url  # the password is URL-escaped
    ctx = clients.mysql_connect_args()["ssl"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    # No CA bundle given: encrypted, not verified (RDS roots are in no system store).
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    engine = clients.mysql_engine()
    assert engine.url.host == "pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com"
    engine.dispose()


def test_mysql_verifies_rds_with_the_ca_bundle() -> None:
    ctx = aws(mysql_ssl_ca=certifi.where()).mysql_connect_args()["ssl"]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


# --- REST -----------------------------------------------------------------------------------


def test_rest_base_url_is_the_invoke_url_with_its_stage() -> None:
    url = aws(rest_proxy_url=CONFIG["rest_proxy_url"] + "/").rest_proxy_url()
    assert url == "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
    assert f"{url}/topics/{USER}.pin".endswith("/prod/topics/0a1b2c3d4e5f.pin")
