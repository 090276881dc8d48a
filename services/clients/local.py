"""Clients for the local sandbox: every endpoint on 127.0.0.1, static local credentials."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from minio import Minio

from services.clients.base import ClientFactory, Missing, SparkOptions


class LocalClients(ClientFactory):
    target = "local"

    def kafka_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.settings.kafka_bootstrap_servers}

    def spark_kafka_options(self) -> SparkOptions:
        # The sandbox's plaintext listener: the servers are all the Java client needs.
        return SparkOptions({"kafka.bootstrap.servers": self.settings.kafka_bootstrap_servers})

    def s3(self) -> Minio:
        s = self.settings
        url = urlparse(s.s3_endpoint)
        return Minio(
            url.netloc,
            access_key=s.s3_access_key.get_secret_value(),
            secret_key=s.s3_secret_key.get_secret_value(),
            region=s.s3_region,
            secure=url.scheme == "https",
        )

    def spark_s3a_conf(self) -> dict[str, str]:
        s = self.settings
        return {
            "fs.s3a.endpoint": s.s3_endpoint,
            "fs.s3a.endpoint.region": s.s3_region,
            # SeaweedFS serves buckets by path, not by virtual host.
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(s.s3_endpoint.startswith("https")).lower(),
            "fs.s3a.access.key": s.s3_access_key.get_secret_value(),
            "fs.s3a.secret.key": s.s3_secret_key.get_secret_value(),
            "fs.s3a.aws.credentials.provider": (
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            ),
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            # Local server: fail fast instead of the SDK's long default back-off.
            "fs.s3a.attempts.maximum": "3",
            "fs.s3a.retry.limit": "3",
        }

    def setup_hint(self, missing: Missing) -> str:
        s = self.settings
        user = f"PIPELINE_USER_ID={s.pipeline_user_id}"
        up = "start the stack with `make up` and check `make status`"
        hints: dict[Missing, str] = {
            "s3": f"{up} (or fix S3_ENDPOINT={s.s3_endpoint})",
            "kafka": f"{up} (or fix KAFKA_BOOTSTRAP_SERVERS={s.kafka_bootstrap_servers})",
            "rest": f"{up} (or fix REST_PROXY_URL={s.rest_proxy_url})",
            "mysql": f"{up} (or fix MYSQL_HOST and MYSQL_PORT)",
            "bucket": f"`make up` creates it for {user} (or check that user id)",
            "topics": f"`make up` creates them for {user} (or check that user id)",
            "streaming-topics": f"`make up` creates them for {user} (or check that user id)",
            "streams": (
                f"`make up` creates the streaming topics the /streams routes serve for {user} "
                "(or check that user id)"
            ),
        }
        return hints[missing]
