"""Under aws, Kafka clients speak SASL_SSL only; aimed at the local plaintext broker they fail
the TLS handshake, and the preflight says so, for IAM and for SCRAM.

With IAM, reaching the TLS handshake at all proves the client got its OAUTHBEARER token: without
one librdkafka does not even connect (it asks `oauth_cb` only while the application polls).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from services import aws_settings as aws_profile
from services.aws import preflight
from services.aws.preflight import CheckFailed
from services.clients.aws import AwsClients
from services.settings import Settings
from tests.support import fake_aws

pytestmark = pytest.mark.integration


class MskAtLoopback(AwsClients):
    """The AWS factory; only the broker list (which refuses loopback) aims at the sandbox."""

    def __init__(self, settings: Settings, brokers: tuple[aws_profile.HostPort, ...]) -> None:
        super().__init__(settings)
        self.brokers = brokers

    def profile(self, *groups: str) -> aws_profile.AwsProfile:
        return dataclasses.replace(super().profile(*groups), brokers=self.brokers)


@pytest.fixture
def fake_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fake_aws.access_key_id("kafka"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fake_aws.SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


@pytest.mark.parametrize("auth", ["iam", "scram"])
def test_aws_kafka_refuses_a_plaintext_broker(stack: Settings, fake_chain: None, auth: str) -> None:
    host, _, port = stack.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    local = (aws_profile.HostPort(host, int(port)),)
    settings = stack.model_copy(
        update={
            "pipeline_target": "aws",
            "pipeline_user_id": "0a1b2c3d4e5f",
            "kafka_bootstrap_servers": "b-1.pinterest.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
            "kafka_auth": auth,
            "kafka_sasl_username": "alice",
            "kafka_sasl_password": SecretStr("scram-secret-1"),
        }
    )
    profile = dataclasses.replace(aws_profile.resolve(settings), brokers=local)
    ctx = preflight.Context(settings, MskAtLoopback(settings, local), profile, step_timeout=3.0)
    began = time.monotonic()
    with pytest.raises(CheckFailed) as info:
        preflight._msk(ctx, "MSK Kafka")
    assert time.monotonic() - began < 30
    assert info.value.step == "TLS", info.value.fix
    assert "SSL" in info.value.fix and "9098 (IAM) and 9096 (SCRAM)" in info.value.fix
    assert "scram-secret-1" not in info.value.fix
