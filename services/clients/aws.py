"""Clients for real AWS: RDS, MSK, API Gateway and S3, credentials from the standard AWS chain.

Nothing here reads a credentials file from the repository: boto3/botocore's default chain
(environment, shared profile, instance or task role) supplies them.
"""

from __future__ import annotations

from typing import Any

from minio import Minio
from minio.credentials.providers import (
    AWSConfigProvider,
    ChainedProvider,
    EnvAWSProvider,
    IamAwsProvider,
)

from services.clients.base import ClientFactory
from services.settings import SettingsError


class AwsClients(ClientFactory):
    def mysql_connect_args(self) -> dict[str, Any]:
        # RDS enforces or allows TLS; PyMySQL verifies with the system CA store when asked.
        return {"ssl": {"ssl": True}}

    def kafka_config(self) -> dict[str, Any]:
        s = self.settings
        conf: dict[str, Any] = {"bootstrap.servers": s.kafka_bootstrap_servers}
        if s.kafka_auth == "iam":
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": "OAUTHBEARER",
                    "oauth_cb": _msk_iam_token_provider(s.s3_region),
                }
            )
        elif s.kafka_auth == "scram":
            if not s.kafka_sasl_username:
                raise SettingsError(
                    "KAFKA_AUTH=scram needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
                    "(the MSK SCRAM secret's user and password)"
                )
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": "SCRAM-SHA-512",
                    "sasl.username": s.kafka_sasl_username,
                    "sasl.password": s.kafka_sasl_password.get_secret_value(),
                }
            )
        else:
            conf["security.protocol"] = "SSL"
        return conf

    def s3(self) -> Minio:
        s = self.settings
        # No endpoint override: the regional AWS endpoint, TLS, virtual-hosted addressing.
        return Minio(
            "s3.amazonaws.com",
            region=s.s3_region,
            secure=True,
            credentials=ChainedProvider([EnvAWSProvider(), AWSConfigProvider(), IamAwsProvider()]),
        )

    def spark_s3a_conf(self) -> dict[str, str]:
        s = self.settings
        return {
            "fs.s3a.endpoint.region": s.s3_region,
            "fs.s3a.path.style.access": "false",
            "fs.s3a.connection.ssl.enabled": "true",
            "fs.s3a.aws.credentials.provider": (
                "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
            ),
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        }


def _msk_iam_token_provider(region: str) -> Any:
    def oauth_cb(_config: str) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000

    return oauth_cb
