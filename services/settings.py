"""The one typed settings object for every endpoint, credential and knob.

Values come from the environment and an optional `.env` file in the working directory;
`.env.example` documents each one. The code works with no `.env` at all: every local
default is written here and mirrored in `.env.example`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The three source tables, in the order the original project posts them.
TABLES: tuple[str, ...] = ("pin", "geo", "user")

#: MySQL table that feeds each topic suffix.
SOURCE_TABLES: dict[str, str] = {
    "pin": "pinterest_data",
    "geo": "geolocation_data",
    "user": "user_data",
}

# A user id names Kafka topics and an S3 bucket (`user-<id>-bucket`), so it must satisfy
# both naming rules: lowercase letters, digits and hyphens, and a bucket name <= 63 chars.
_USER_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,49}[a-z0-9])?$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    # --- which world we talk to -------------------------------------------------------
    pipeline_target: Literal["local", "aws"] = "local"
    pipeline_user_id: str = "local"
    runtime: Literal["auto", "native", "docker"] = "auto"
    # The interface this project's own servers (REST proxy, sink health) bind to. Loopback
    # everywhere; only inside a compose container is it 0.0.0.0 (its port is published on
    # the host's 127.0.0.1).
    bind_host: str = "127.0.0.1"

    # --- MySQL (RDS stand-in) ---------------------------------------------------------
    mysql_host: str = "127.0.0.1"
    mysql_port: int = 3306
    mysql_database: str = "pinterest_data"
    # The emulator's read-only account (SELECT on pinterest_data.* only).
    mysql_user: str = "pinterest_reader"
    mysql_password: SecretStr = SecretStr("reader-local-only")
    # The account that seeds the database (local: created by `make up`).
    mysql_admin_user: str = "pipeline_admin"
    mysql_admin_password: SecretStr = SecretStr("admin-local-only")

    # --- Kafka (MSK stand-in) ---------------------------------------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_topic_partitions: int = 1
    # none | scram | iam (AWS MSK); local is always none.
    kafka_auth: Literal["none", "scram", "iam"] = "none"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")

    # --- Kafka Connect (MSK Connect stand-in) -------------------------------------------
    kafka_connect_url: str = "http://127.0.0.1:8083"

    # --- REST proxy (API Gateway + Confluent REST proxy stand-in) ------------------------
    rest_proxy_url: str = "http://127.0.0.1:8082"
    legacy_api_url: str = "http://127.0.0.1:8000"
    # The Kinesis JSON protocol (issue 15), served by the REST proxy's process: the AWS SDKs'
    # endpoint_url. The API Gateway shape (/streams/...) is on REST_PROXY_URL.
    kinesis_url: str = "http://127.0.0.1:4567"
    rest_proxy_max_body_bytes: int = 10 * 1024 * 1024
    rest_proxy_produce_timeout_s: float = 15.0
    rest_proxy_consumer_idle_s: float = 300.0
    # Limits (issue 12): records in one produce request (above: 422); requests and request
    # bytes in flight at once (above: 429 with Retry-After, so memory stays bounded); the
    # Retry-After seconds of a 429 or 503.
    rest_proxy_max_records_per_request: int = Field(default=10_000, ge=1)
    rest_proxy_max_inflight_requests: int = Field(default=64, ge=1)
    rest_proxy_max_inflight_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    rest_proxy_retry_after_s: int = Field(default=1, ge=0)
    # Consumer instances of the v2 consumer API alive at once (above: 429 with Retry-After);
    # each holds a Kafka consumer and its fetch queue, so this bounds their memory.
    rest_proxy_max_consumers: int = Field(default=64, ge=1)

    # --- S3 (SeaweedFS stand-in) --------------------------------------------------------
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: SecretStr = SecretStr("pipeline-local")
    s3_secret_key: SecretStr = SecretStr("pipeline-local-secret")
    s3_region: str = "us-east-1"
    # SeaweedFS's own servers behind the S3 port (native runtime); each also listens on its
    # port + 10000 for gRPC, so 19333-19335 must be free as well.
    seaweedfs_master_port: int = Field(default=9333, ge=1, le=55535)
    seaweedfs_volume_port: int = Field(default=9334, ge=1, le=55535)
    seaweedfs_filer_port: int = Field(default=9335, ge=1, le=55535)

    # --- S3 sink (each namespace's connect/s3-sink connector; services/stack/connectors) --
    # Its flush.size and rotate.schedule.interval.ms (seconds here).
    sink_flush_records: int = 1000
    sink_flush_seconds: float = 2.0

    # --- Spark ------------------------------------------------------------------------
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8090
    spark_worker_ui_port: int = 8091
    # The Spark UI (http://127.0.0.1:4040) and log level; quiet unless asked for.
    spark_ui: bool = False
    spark_log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"

    # --- AWS --------------------------------------------------------------------------
    # Read only when PIPELINE_TARGET=aws (services/aws, services/clients/aws.py, docs/aws.md).
    # CA bundle that signs RDS server certificates (AWS's global-bundle.pem), kept outside
    # the repository; empty: TLS that encrypts but does not verify the server.
    mysql_ssl_ca: str = ""
    # Public DNS name (host or host:port, port 8082 by default) of the EC2 instance running
    # the Confluent REST proxy: API Gateway's HTTP-proxy integration forwards to it.
    kafka_rest_proxy_ec2_host: str = ""
    # The IAM role API Gateway assumes to call Kinesis (the original's
    # `<user_id>-kinesis-access-role`); written into the exported /streams integrations.
    kinesis_api_role_arn: str = ""
    # Endpoint overrides for STS and S3 (empty: AWS's regional endpoints). The names are the
    # ones the AWS SDKs read themselves: for VPC endpoints, or a stand-in such as moto's
    # server in tests. An http:// URL means no TLS and path-style bucket addressing.
    aws_endpoint_url_sts: str = ""
    aws_endpoint_url_s3: str = ""

    # --- Airflow (MWAA stand-in: `make airflow`, dags/) ----------------------------------
    # The standalone Airflow's UI/API port on 127.0.0.1.
    airflow_port: int = 8080
    # Retries of each DAG task (exponential back-off from 30 s), and how long the landing
    # sensor waits for what Kafka holds to reach S3.
    airflow_task_retries: int = 2
    airflow_sensor_timeout_s: float = 900.0
    # PIPELINE_TARGET=aws: the DAG's batch task runs this notebook on this existing cluster
    # (Databricks connection `databricks_default`).
    databricks_cluster_id: str = ""
    databricks_notebook_path: str = (
        "/Repos/pipeline/pinterest-data-pipeline/spark/notebook/pinterest_batch"
    )

    # --- where the native runtime keeps its data, logs, sockets and caches --------------
    state_dir: Path = Field(default=PROJECT_ROOT / ".local")

    @field_validator("pipeline_user_id")
    @classmethod
    def _check_user_id(cls, value: str) -> str:
        if not _USER_ID.match(value):
            raise ValueError(
                f"PIPELINE_USER_ID={value!r} cannot name Kafka topics and an S3 bucket: use "
                "1-51 lowercase letters, digits or hyphens (not at either end), "
                "e.g. PIPELINE_USER_ID=local"
            )
        return value

    # --- names that mirror the AWS project -------------------------------------------------
    def topic(self, table: str) -> str:
        """Batch topic `<user_id>.<table>` (pin, geo or user)."""
        return f"{self.pipeline_user_id}.{_check_table(table)}"

    def streaming_topic(self, table: str) -> str:
        """Streaming topic `streaming-<user_id>-<table>`, named after the original's Kinesis."""
        return f"streaming-{self.pipeline_user_id}-{_check_table(table)}"

    @property
    def topics(self) -> list[str]:
        return [self.topic(t) for t in TABLES]

    @property
    def streaming_topics(self) -> list[str]:
        return [self.streaming_topic(t) for t in TABLES]

    @property
    def bucket(self) -> str:
        return f"user-{self.pipeline_user_id}-bucket"

    # --- local runtime layout ------------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def airflow_dir(self) -> Path:
        """The Airflow virtualenv, its homes (SQLite metadata, logs) and nothing else."""
        return self.state_dir / "airflow"

    def to_env(self, *, secrets: bool = True) -> dict[str, str]:
        """Every setting as the environment variable that sets it (`KAFKA_BOOTSTRAP_SERVERS=...`):
        a child process given this environment loads exactly these settings. `secrets=False`
        leaves the secrets out (the child reads them from `.env` itself)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                if not secrets:
                    continue
                value = value.get_secret_value()
            env[name.upper()] = str(value)
        return env

    def masked(self) -> dict[str, str]:
        """Every setting as text, secrets masked: safe to print or log."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "****" if value.get_secret_value() else ""
            else:
                out[name] = str(value)
        return out


def _check_table(table: str) -> str:
    if table not in TABLES:
        raise SettingsError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
    return table


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into one readable message."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            var = "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"  {var}: {err['msg']}")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None
