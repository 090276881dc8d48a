"""`make export-aws`: the AWS-side configuration a user would otherwise type by hand.

Written into `build/aws/` (ignored by git) from the same settings the pipeline uses:

- `msk-connect-s3-sink.json`: the connector configuration for MSK Connect (Confluent's S3
  sink), rendered from `services/landing/connector.json`, the file each local connector is
  registered from (services/stack/connectors.py).
- `api-gateway-openapi.json`: API Gateway with the `/topics/{topic}` HTTP-proxy integration.
- `databricks/`: the Spark batch notebook(s) from `spark/notebook/`, pointed at the bucket.
- `kafka-rest.properties`, `client.properties`: the REST proxy and Kafka CLI on EC2
  (only when KAFKA_BOOTSTRAP_SERVERS is set).
- `dags/<user_id>_dag.py`, `requirements.txt`: the daily batch DAG for MWAA (`dags/`, with
  the AWS values in its DEFAULTS line) and the provider it needs.

No secret is written: where a file needs one, it holds a placeholder to fill on the machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services import aws_settings
from services.aws.gateway_openapi import gateway_spec
from services.aws_settings import AwsProfile
from services.settings import PROJECT_ROOT, Settings

NOTEBOOK_DIR = PROJECT_ROOT / "spark" / "notebook"
NOTEBOOK_SUFFIXES = (".py", ".ipynb", ".sql", ".scala")

#: Keys that only make sense against a local S3-compatible server.
_LOCAL_ONLY_KEYS = ("store.url", "s3.path.style.access.enabled")

#: What MSK Connect needs from Confluent's S3 sink configuration; checked before writing.
REQUIRED_CONNECTOR_KEYS = (
    "connector.class",
    "tasks.max",
    "topics.regex",
    "key.converter",
    "value.converter",
    "value.converter.schemas.enable",
    "storage.class",
    "format.class",
    "s3.bucket.name",
    "s3.region",
    "flush.size",
)

_PLACEHOLDER = re.compile(r"\$\{(bucket|user_id|s3_region)\}")


@dataclass
class Exported:
    folder: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def connector_config(settings: Settings) -> dict[str, str]:
    """The flat map `aws kafkaconnect create-connector --connector-configuration` takes."""
    from services.landing.connector import render_connector_config

    config = dict(render_connector_config(settings)["config"])
    for key in _LOCAL_ONLY_KEYS:
        config.pop(key, None)
    missing = [k for k in REQUIRED_CONNECTOR_KEYS if not config.get(k)]
    if missing:
        raise ValueError(f"services/landing/connector.json lacks {', '.join(missing)}")
    return config


def export_all(settings: Settings, folder: Path) -> Exported:
    profile = aws_settings.require(
        settings, aws_settings.EXPORT, purpose="make export-aws (writes build/aws/)"
    )
    assert profile.rest_proxy_ec2 is not None  # the EXPORT group requires it
    folder.mkdir(parents=True, exist_ok=True)
    out = Exported(folder)

    _write_json(out, "msk-connect-s3-sink.json", connector_config(settings))
    gateway = gateway_spec(profile, profile.rest_proxy_ec2, settings.kinesis_api_role_arn)
    _write_json(out, "api-gateway-openapi.json", gateway)
    _export_notebooks(out, profile)
    _export_dag(out, settings)

    if aws_settings.problems(settings, (aws_settings.KAFKA,)):
        out.notes.append(
            "set KAFKA_BOOTSTRAP_SERVERS (and KAFKA_AUTH) to also get kafka-rest.properties "
            "and client.properties for the EC2 machine"
        )
    else:
        _write_text(out, "kafka-rest.properties", kafka_rest_properties(settings, profile))
        _write_text(out, "client.properties", kafka_client_properties(profile))
    _write_text(out, "README.txt", _readme(profile, out))
    return out


# --- Kafka clients on the EC2 machine -----------------------------------------------------------


def kafka_client_properties(profile: AwsProfile, prefix: str = "") -> str:
    """Java client settings for MSK with KAFKA_AUTH; secrets left as placeholders."""
    if profile.kafka_auth == "iam":
        lines = [
            "security.protocol=SASL_SSL",
            "sasl.mechanism=AWS_MSK_IAM",
            # No awsRoleArn: the MSK IAM library then uses the instance role (default chain).
            "sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;",
            "sasl.client.callback.handler.class="
            "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
        ]
    else:
        lines = [
            "security.protocol=SASL_SSL",
            "sasl.mechanism=SCRAM-SHA-512",
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            'username="<KAFKA_SASL_USERNAME>" password="<KAFKA_SASL_PASSWORD>";',
        ]
    return "\n".join(prefix + line for line in lines) + "\n"


def kafka_rest_properties(settings: Settings, profile: AwsProfile) -> str:
    brokers = ",".join(str(b) for b in profile.brokers)
    head = [
        "# Confluent REST proxy on EC2 (etc/kafka-rest/kafka-rest.properties).",
        "# With KAFKA_AUTH=iam the instance needs aws-msk-iam-auth on the classpath and a role",
        "# allowed kafka-cluster:Connect, DescribeTopic and WriteData on the cluster.",
        f"id=kafka-rest-{profile.user_id}",
        f"listeners=http://0.0.0.0:{aws_settings.REST_PROXY_EC2_PORT}",
        f"bootstrap.servers={brokers}",
    ]
    if profile.kafka_auth == "scram":
        head.append(f"client.sasl.username={settings.kafka_sasl_username}")
    return "\n".join(head) + "\n" + kafka_client_properties(profile, prefix="client.")


# --- the Databricks notebook --------------------------------------------------------------------


def _export_notebooks(out: Exported, profile: AwsProfile) -> None:
    sources = (
        sorted(p for p in NOTEBOOK_DIR.rglob("*") if p.suffix in NOTEBOOK_SUFFIXES)
        if NOTEBOOK_DIR.is_dir()
        else []
    )
    if not sources:
        out.notes.append(
            f"no Databricks notebook yet: {_shown(NOTEBOOK_DIR)}/ is empty "
            "or missing, so build/aws/databricks/ was not written"
        )
        return
    values = {"bucket": profile.bucket, "user_id": profile.user_id, "s3_region": profile.region}
    for src in sources:
        text = src.read_text(encoding="utf-8")
        # ${bucket}, ${user_id}, ${s3_region}: the placeholders connector.json uses too.
        rendered = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
        _write_text(out, str(Path("databricks") / src.relative_to(NOTEBOOK_DIR)), rendered)


# --- the MWAA DAG -------------------------------------------------------------------------------

#: The DAG file's settings line, rewritten with the AWS values (see dags/pinterest_batch.py).
_DAG_DEFAULTS = re.compile(r"^DEFAULTS: dict\[str, str\] = .*$", re.M)
_MWAA_PACKAGES = ("apache-airflow-providers-databricks",)


def dag_for_mwaa(settings: Settings) -> str:
    """dags/pinterest_batch.py with PIPELINE_TARGET=aws and this user's values baked in:
    MWAA has no .env, and the same file then runs unchanged."""
    from services.airflow.env import DAG_FILE

    text = DAG_FILE.read_text(encoding="utf-8")
    values = {
        "PIPELINE_TARGET": "aws",
        "PIPELINE_USER_ID": settings.pipeline_user_id,
        "DATABRICKS_CLUSTER_ID": settings.databricks_cluster_id,
        "DATABRICKS_NOTEBOOK_PATH": settings.databricks_notebook_path,
        "AIRFLOW_TASK_RETRIES": str(settings.airflow_task_retries),
        "AIRFLOW_SENSOR_TIMEOUT_S": str(settings.airflow_sensor_timeout_s),
    }
    line = f"DEFAULTS: dict[str, str] = {json.dumps(values)}"
    rendered, n = _DAG_DEFAULTS.subn(lambda _m: line, text, count=1)
    if n != 1:
        raise ValueError(f"{_shown(DAG_FILE)} lacks its `DEFAULTS: dict[str, str] = ...` line")
    return rendered


def mwaa_requirements() -> str:
    """The providers the DAG needs beyond MWAA's own, at the versions tested locally."""
    from services.airflow.install import REQUIREMENTS

    pins = [
        line.strip()
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if line.split("==")[0].strip() in _MWAA_PACKAGES
    ]
    head = (
        "# MWAA requirements.txt for the pinterest DAG (make export-aws); tested with Airflow 3.3."
    )
    return "\n".join([head, *pins]) + "\n"


def _export_dag(out: Exported, settings: Settings) -> None:
    _write_text(out, f"dags/{settings.pipeline_user_id}_dag.py", dag_for_mwaa(settings))
    _write_text(out, "requirements.txt", mwaa_requirements())
    if not settings.databricks_cluster_id:
        out.notes.append(
            "set DATABRICKS_CLUSTER_ID before uploading the DAG: without it the DAG fails to "
            "load on MWAA (it names the variable)"
        )


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


# --- writing --------------------------------------------------------------------------------------


def _write_json(out: Exported, name: str, data: Any) -> None:
    _write_text(out, name, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _write_text(out: Exported, name: str, text: str) -> None:
    path = out.folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    out.files.append(path)


def _readme(profile: AwsProfile, out: Exported) -> str:
    names = [str(p.relative_to(out.folder)) for p in out.files]
    stage = profile.rest_stage or "prod"
    invoke = f"https://<id>.execute-api.{profile.region}.amazonaws.com/{stage}"
    return f"""AWS-side configuration for PIPELINE_USER_ID={profile.user_id} (make export-aws).
Files: {", ".join(names)}

1. API Gateway:
   aws apigateway import-rest-api --body fileb://api-gateway-openapi.json
   aws apigateway create-deployment --rest-api-id <id> --stage-name {stage}
   REST_PROXY_URL={invoke}
2. MSK Connect: create a custom plugin from Confluent's S3 sink connector zip, then a
   connector with this configuration:
   --connector-configuration file://msk-connect-s3-sink.json
   (plus the cluster, the plugin ARN and a service execution role that can write to
   s3://{profile.bucket}).
3. EC2: kafka-rest.properties for the Confluent REST proxy, client.properties for the
   Kafka CLI (when written; fill any <...> placeholder on the machine, never here).
4. Databricks: import databricks/ (when written); the cluster reads s3a://{profile.bucket}
   with its instance profile.
5. MWAA: upload dags/{profile.user_id}_dag.py to s3://<mwaa bucket>/dags/ and
   requirements.txt to s3://<mwaa bucket>/requirements.txt (then select it in the
   environment); add the Airflow connection databricks_default (host + token).
Then: `make check-aws`.
"""
