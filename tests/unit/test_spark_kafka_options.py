"""Spark's Kafka source options come from the client factory, per target: no JVM, no network.

PIPELINE_TARGET=aws must reach MSK with IAM or SCRAM; the Java client's settings are written
out here and compared key by key, and the SCRAM password must not leak into a log line.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from services.clients import clients_for
from services.clients.aws import MSK_IAM_AUTH_JAR
from services.settings import Settings, SettingsError
from spark.streaming.source import kafka_options

pytestmark = pytest.mark.unit

BROKERS = (
    "b-1.pinterest.abc123.c2.kafka.eu-west-1.amazonaws.com:9098,"
    "b-2.pinterest.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"
)
AWS: dict[str, Any] = {
    "pipeline_target": "aws",
    "pipeline_user_id": "0a1b2c3d4e5f",
    "kafka_bootstrap_servers": BROKERS,
    "s3_region": "eu-west-1",
}
# A password with everything a JAAS line must escape, and a marker to search logs for.
PASSWORD = 'pa"ss\\word-S3CRET'


def aws(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**AWS, **overrides})


def test_local_reads_the_sandbox_listener_in_plaintext() -> None:
    clients = clients_for(Settings(_env_file=None, kafka_bootstrap_servers="127.0.0.1:9192"))
    assert clients.spark_kafka_options() == {"kafka.bootstrap.servers": "127.0.0.1:9192"}
    assert clients.spark_kafka_jars() == ()


def test_aws_iam_uses_the_msk_iam_login_module_and_its_jar() -> None:
    clients = clients_for(aws(kafka_auth="iam"))
    assert clients.spark_kafka_options() == {
        "kafka.bootstrap.servers": BROKERS,
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "AWS_MSK_IAM",
        "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
        "kafka.sasl.client.callback.handler.class": (
            "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
        ),
    }
    assert clients.spark_kafka_jars() == (MSK_IAM_AUTH_JAR,)
    assert MSK_IAM_AUTH_JAR.startswith("software.amazon.msk:aws-msk-iam-auth:")


def test_aws_without_kafka_auth_means_iam() -> None:
    # KAFKA_AUTH=none (a copied .env.example) reads as MSK's default under aws.
    options = clients_for(aws(kafka_auth="none")).spark_kafka_options()
    assert options["kafka.sasl.mechanism"] == "AWS_MSK_IAM"


def test_aws_scram_writes_a_quoted_escaped_jaas_line_and_needs_no_extra_jar() -> None:
    clients = clients_for(
        aws(kafka_auth="scram", kafka_sasl_username="pipe\\line", kafka_sasl_password=PASSWORD)
    )
    assert clients.spark_kafka_options() == {
        "kafka.bootstrap.servers": BROKERS,
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            'username="pipe\\\\line" password="pa\\"ss\\\\word-S3CRET";'
        ),
    }
    assert clients.spark_kafka_jars() == ()


def test_the_scram_password_is_never_logged_or_shown(caplog: pytest.LogCaptureFixture) -> None:
    settings = aws(kafka_auth="scram", kafka_sasl_username="pipeline", kafka_sasl_password=PASSWORD)
    clients = clients_for(settings)
    with caplog.at_level(logging.DEBUG):
        options = kafka_options(clients)
    # It is in the options Spark gets ...
    assert "S3CRET" in options["kafka.sasl.jaas.config"]
    # ... and nowhere a person reads: the log line, the options' repr and str, the settings.
    assert "Kafka source options" in caplog.text
    assert "kafka.sasl.jaas.config" in caplog.text
    for shown in (caplog.text, repr(options), str(options), repr(settings), repr(clients)):
        assert "S3CRET" not in shown
    assert "<hidden>" in repr(options)


def test_scram_without_its_credentials_names_the_missing_variables() -> None:
    with pytest.raises(SettingsError, match="KAFKA_SASL_PASSWORD"):
        clients_for(aws(kafka_auth="scram", kafka_sasl_username="u")).spark_kafka_options()
