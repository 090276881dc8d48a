"""The one typed settings object for every endpoint, credential and knob.

Values come from the environment and an optional `.env` file in the working directory;
`.env.example` documents each one. The code works with no `.env` at all: every local
default is written here and mirrored in `.env.example`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, JsonValue, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.contracts import naming
from services.hostport import parse_brokers, parse_host_port

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
_REGION = re.compile(r"^[a-z]{2,4}(?:-[a-z]+)+-\d+$")

#: The port of the Confluent REST proxy on EC2 when KAFKA_REST_PROXY_EC2_HOST names none.
REST_PROXY_EC2_PORT = 8082

#: Which PIPELINE_TARGET=aws client or command needs a variable (services/aws_settings.py).
#: A Spark job on Databricks needs S3 only, the emulator MySQL and the REST URL: each asks
#: for its own groups, not for everything.
AwsGroup = Literal["namespace", "mysql", "mysql-admin", "rest", "kafka", "s3", "export"]


def aws_variable(
    *groups: AwsGroup,
    required: bool = True,
    aws_default: str | None = None,
    scram_only: bool = False,
) -> dict[str, JsonValue]:
    """`json_schema_extra` of a setting PIPELINE_TARGET=aws reads, for the groups that need it.

    `required`: under aws it must be given, since a local default never names an AWS
    resource; otherwise the field's default applies there too, or `aws_default` where AWS's
    differs. `scram_only`: required only when KAFKA_AUTH is scram. The field's description
    and first example say what it must hold (error messages, `.env.example`, docs/aws.md).
    """
    meta: dict[str, JsonValue] = {"groups": list(groups), "required": required}
    if aws_default is not None:
        meta["default"] = aws_default
    if scram_only:
        meta["scram_only"] = True
    return {"aws": meta}


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
    pipeline_user_id: str = Field(
        "local",
        description="your user id from the AWS account: it names the topics <id>.pin, <id>.geo, "
        "<id>.user and the bucket user-<id>-bucket",
        examples=["0a1b2c3d4e5f"],
        json_schema_extra=aws_variable("namespace"),
    )
    runtime: Literal["auto", "native", "docker"] = "auto"
    # The interface this project's own servers (REST proxy, sink health) bind to. Loopback
    # everywhere; only inside a compose container is it 0.0.0.0 (its port is published on
    # the host's 127.0.0.1).
    bind_host: str = "127.0.0.1"

    # --- MySQL (RDS stand-in) ---------------------------------------------------------
    # Descriptions and examples are what PIPELINE_TARGET=aws needs (services/aws_settings.py).
    mysql_host: str = Field(
        "127.0.0.1",
        description="the RDS endpoint host name (RDS console, Connectivity & security, Endpoint)",
        examples=["pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com"],
        json_schema_extra=aws_variable("mysql", "mysql-admin"),
    )
    mysql_port: int = Field(
        3306,
        description="the RDS port",
        examples=[3306],
        json_schema_extra=aws_variable("mysql", "mysql-admin", required=False),
    )
    mysql_database: str = Field(
        "pinterest_data",
        description="the database holding pinterest_data, geolocation_data and user_data",
        examples=["pinterest_data"],
        json_schema_extra=aws_variable("mysql", "mysql-admin", required=False),
    )
    # The emulator's read-only account (SELECT on pinterest_data.* only).
    mysql_user: str = Field(
        "pinterest_reader",
        description="the RDS user the emulator reads with",
        examples=["admin"],
        json_schema_extra=aws_variable("mysql"),
    )
    mysql_password: SecretStr = Field(
        SecretStr("reader-local-only"),
        description="the password of MYSQL_USER",
        examples=["<from your secret store>"],
        json_schema_extra=aws_variable("mysql"),
    )
    # CA bundle that signs RDS server certificates (AWS's global-bundle.pem), kept outside
    # the repository; read only under aws (local MariaDB's TLS is the stack's own).
    mysql_ssl_ca: str = Field(
        "",
        description="path to the RDS CA bundle (global-bundle.pem from AWS), outside the "
        "repository; empty: TLS encrypts but does not verify the server",
        examples=["/home/me/.aws/rds-global-bundle.pem"],
        json_schema_extra=aws_variable("mysql", "mysql-admin", required=False),
    )
    # The account that seeds the database (local: created by `make up`).
    mysql_admin_user: str = Field(
        "pipeline_admin",
        description="an RDS user allowed to create and load the tables (only for `make seed`)",
        examples=["admin"],
        json_schema_extra=aws_variable("mysql-admin"),
    )
    mysql_admin_password: SecretStr = Field(
        SecretStr("admin-local-only"),
        description="the password of MYSQL_ADMIN_USER",
        examples=["<from your secret store>"],
        json_schema_extra=aws_variable("mysql-admin"),
    )

    # --- Kafka (MSK stand-in) ---------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="the MSK bootstrap brokers, comma-separated host:port (MSK console, View "
        "client information): port 9098 for IAM, 9096 for SCRAM",
        examples=[
            "b-1.pinterest.abc123.c2.kafka.us-east-1.amazonaws.com:9098,"
            "b-2.pinterest.abc123.c2.kafka.us-east-1.amazonaws.com:9098"
        ],
        json_schema_extra=aws_variable("kafka"),
    )
    kafka_controller_port: int = 9093
    kafka_topic_partitions: int = 1
    # none | scram | iam (AWS MSK); local is always none.
    kafka_auth: Literal["none", "scram", "iam"] = Field(
        "none",
        description="how Kafka clients authenticate to MSK: iam (OAUTHBEARER signed with your "
        "AWS credentials; also what the local value none means under aws) or scram "
        "(SASL/SCRAM-SHA-512)",
        examples=["iam"],
        json_schema_extra=aws_variable("kafka", required=False, aws_default="iam"),
    )
    kafka_sasl_username: str = Field(
        "",
        description="the SCRAM user of the MSK secret (only when KAFKA_AUTH is scram)",
        examples=["pinterest"],
        json_schema_extra=aws_variable("kafka", required=False, scram_only=True),
    )
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""),
        description="the SCRAM password of the MSK secret (only when KAFKA_AUTH is scram)",
        examples=["<from your secret store>"],
        json_schema_extra=aws_variable("kafka", required=False, scram_only=True),
    )

    # --- Kafka Connect (MSK Connect stand-in) -------------------------------------------
    kafka_connect_url: str = "http://127.0.0.1:8083"

    # --- REST proxy (API Gateway + Confluent REST proxy stand-in) ------------------------
    rest_proxy_url: str = Field(
        "http://127.0.0.1:8082",
        description="the API Gateway invoke URL including its stage; paths "
        "/topics/<id>.<table> are appended to it",
        examples=["https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"],
        json_schema_extra=aws_variable("rest"),
    )
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
    s3_region: str = Field(
        "us-east-1",
        description="the AWS region of the bucket (and of MSK when the broker names do not say)",
        examples=["us-east-1"],
        json_schema_extra=aws_variable("s3", "namespace", required=False),
    )
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
    # The warm batch service (spark/service.py): `make batch` and `make demo` run the job in
    # its long-lived driver, which `make up` starts and which warms itself up; SPARK_SERVICE=0
    # runs the job in the caller's own process. It exits after this many minutes without a run.
    spark_service: bool = True
    spark_service_port: int = Field(default=8094, ge=1, le=65535)
    spark_service_idle_minutes: float = Field(default=60.0, ge=0)
    # The Spark UI (http://127.0.0.1:4040) and log level; quiet unless asked for.
    spark_ui: bool = False
    spark_log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "ERROR"

    # --- AWS --------------------------------------------------------------------------
    # Read only when PIPELINE_TARGET=aws (services/aws_settings.py, services/clients/aws.py,
    # docs/aws.md).
    # The EC2 instance running the Confluent REST proxy: API Gateway's HTTP-proxy integration
    # forwards to it.
    kafka_rest_proxy_ec2_host: str = Field(
        "",
        description="public DNS name of the EC2 instance running the Confluent REST proxy "
        f"(host or host:port, port {REST_PROXY_EC2_PORT} by default): API Gateway forwards to it",
        examples=["ec2-3-80-1-2.compute-1.amazonaws.com"],
        json_schema_extra=aws_variable("export"),
    )
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

    # Format checks that hold for every target; what only AWS needs (set, not loopback, an
    # https URL with its stage) is checked by services/aws_settings.py when a client asks.
    @field_validator("s3_region")
    @classmethod
    def _check_region(cls, value: str, info: ValidationInfo) -> str:
        # Only AWS names its regions so; a local S3 server takes any name (`local` too).
        if info.data.get("pipeline_target") == "aws" and not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region: it must hold {cls.holds(info)}")
        return value

    @field_validator("mysql_host")
    @classmethod
    def _check_host_name(cls, value: str, info: ValidationInfo) -> str:
        if "://" in value or "/" in value:
            raise ValueError(
                f"{value!r} is a URL: give the host name only, e.g. {cls.example(info)}"
            )
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_brokers(cls, value: str, info: ValidationInfo) -> str:
        # Empty is left to the AWS check ("not set"). Locally librdkafka also takes a host
        # without a port or a PLAINTEXT:// prefix, so an existing local .env keeps working.
        aws = info.data.get("pipeline_target") == "aws"
        errors = parse_brokers(value)[1] if aws and value.strip() else []
        if errors:
            raise ValueError(f"{'; '.join(errors)}: it must hold {cls.holds(info)}")
        return value

    @field_validator("kafka_rest_proxy_ec2_host")
    @classmethod
    def _check_ec2_host(cls, value: str, info: ValidationInfo) -> str:
        parsed = parse_host_port(value, REST_PROXY_EC2_PORT) if value.strip() else None
        if isinstance(parsed, str):
            raise ValueError(f"{parsed}: it must hold {cls.holds(info)}")
        return value

    @classmethod
    def holds(cls, field: str | ValidationInfo) -> str:
        """What a field must hold: its description and first example."""
        name = field if isinstance(field, str) else str(field.field_name)
        return f"{cls.model_fields[name].description}, e.g. {cls.example(name)}"

    @classmethod
    def example(cls, field: str | ValidationInfo) -> str:
        name = field if isinstance(field, str) else str(field.field_name)
        return str((cls.model_fields[name].examples or [""])[0])

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
        return naming.batch_topic(self.pipeline_user_id, _check_table(table))

    def streaming_topic(self, table: str) -> str:
        """Streaming topic `streaming-<user_id>-<table>`, named after the original's Kinesis."""
        return naming.streaming_topic(self.pipeline_user_id, _check_table(table))

    @property
    def topics(self) -> list[str]:
        return [self.topic(t) for t in TABLES]

    @property
    def streaming_topics(self) -> list[str]:
        return [self.streaming_topic(t) for t in TABLES]

    @property
    def bucket(self) -> str:
        return naming.bucket(self.pipeline_user_id)

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
            # A validator's own message already says what is wrong; pydantic's prefix does not.
            lines.append(f"  {var}: {err['msg'].removeprefix('Value error, ')}")
        raise SettingsError("invalid settings:\n" + "\n".join(lines)) from None
