"""`make export-aws`: an importable API Gateway definition and a complete MSK Connect config."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from services.aws import export as aws_export
from services.aws.__main__ import main
from services.aws.export import REQUIRED_CONNECTOR_KEYS, export_all
from services.aws_settings import VARIABLES, AwsSettingsError
from services.rest_proxy.openapi import openapi_spec
from services.settings import Settings

pytestmark = pytest.mark.unit

USER = "0a1b2c3d4e5f"
EC2 = "ec2-3-80-1-2.compute-1.amazonaws.com"
CONFIG: dict[str, Any] = {
    "pipeline_user_id": USER,
    "kafka_rest_proxy_ec2_host": EC2,
    "s3_region": "eu-west-1",
    "rest_proxy_url": "https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev",
    "kafka_bootstrap_servers": "b-1.x.abc.c2.kafka.eu-west-1.amazonaws.com:9096",
    "kafka_auth": "scram",
    "kafka_sasl_username": "alice",
    "kafka_sasl_password": "scram-secret-1",
    "mysql_password": "rds-secret-1",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**CONFIG, **overrides})


@pytest.fixture
def exported(tmp_path: Path) -> aws_export.Exported:
    return export_all(settings(), tmp_path / "aws")


def load(exported: aws_export.Exported, name: str) -> Any:
    return json.loads((exported.folder / name).read_text())


def test_writes_every_file_into_the_folder(exported: aws_export.Exported) -> None:
    names = {p.name for p in exported.files}
    assert {
        "msk-connect-s3-sink.json",
        "api-gateway-openapi.json",
        "kafka-rest.properties",
        "client.properties",
        "README.txt",
    } <= names
    assert all(p.is_file() and p.parent.is_relative_to(exported.folder) for p in exported.files)


def test_openapi_is_valid_openapi_3_with_http_proxy_integrations(
    exported: aws_export.Exported,
) -> None:
    spec = load(exported, "api-gateway-openapi.json")
    validate(spec)  # raises on anything that is not valid OpenAPI 3
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/topics/{topic}"]["post"]
    integration = post["x-amazon-apigateway-integration"]
    assert integration["type"] == "http_proxy"
    assert integration["httpMethod"] == "POST"
    assert integration["uri"] == f"http://{EC2}:8082/topics/{{topic}}"
    assert integration["requestParameters"] == {
        "integration.request.path.topic": "method.request.path.topic"
    }
    # API Gateway maps method.request.path.topic from the operation's own parameters.
    for op in ("get", "post"):
        declared = spec["paths"]["/topics/{topic}"][op]["parameters"]
        assert [(p["name"], p["in"], p["required"]) for p in declared] == [("topic", "path", True)]
    get = spec["paths"]["/topics/{topic}"]["get"]["x-amazon-apigateway-integration"]
    assert get["httpMethod"] == "GET"
    # The stage and region of REST_PROXY_URL are the server defaults.
    variables = spec["servers"][0]["variables"]
    assert (variables["basePath"]["default"], variables["region"]["default"]) == (
        "dev",
        "eu-west-1",
    )
    assert variables["restApiId"]["default"] == "abc123defg"


def test_openapi_reuses_the_proxys_own_description(exported: aws_export.Exported) -> None:
    spec = load(exported, "api-gateway-openapi.json")
    proxy = openapi_spec()
    post = spec["paths"]["/topics/{topic}"]["post"]
    assert post["requestBody"] == proxy["paths"]["/topics/{topic}"]["post"]["requestBody"]
    # Only the schemas the gateway's operations use, minus what API Gateway's models reject.
    assert set(spec["components"]["schemas"]) < set(proxy["components"]["schemas"])
    assert "JsonProduceRequest" in spec["components"]["schemas"]
    assert '"nullable"' not in json.dumps(spec)


def test_connector_config_has_every_required_key(exported: aws_export.Exported) -> None:
    config = load(exported, "msk-connect-s3-sink.json")
    for key in REQUIRED_CONNECTOR_KEYS:
        assert config.get(key), key
    assert config["connector.class"] == "io.confluent.connect.s3.S3SinkConnector"
    assert config["storage.class"] == "io.confluent.connect.s3.storage.S3Storage"
    assert config["format.class"] == "io.confluent.connect.s3.format.json.JsonFormat"
    assert config["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert config["value.converter.schemas.enable"] == "false"
    assert config["s3.bucket.name"] == f"user-{USER}-bucket"
    assert config["s3.region"] == "eu-west-1"
    assert int(config["flush.size"]) >= 1
    # Real S3: no endpoint override, no path-style addressing.
    assert "store.url" not in config and "s3.path.style.access.enabled" not in config
    assert all(isinstance(v, str) for v in config.values())  # MSK Connect takes strings


def test_topics_regex_matches_exactly_the_users_topics(exported: aws_export.Exported) -> None:
    pattern = re.compile(load(exported, "msk-connect-s3-sink.json")["topics.regex"])
    for table in ("pin", "geo", "user"):
        assert pattern.fullmatch(f"{USER}.{table}")
    # The dot is escaped: another user's topics, or a look-alike, never match.
    for other in (f"{USER}xpin", f"x{USER}.pin", "other.pin", f"streaming-{USER}-pin"):
        assert not pattern.fullmatch(other), other


def test_ec2_properties_match_kafka_auth_and_hold_no_secret(
    exported: aws_export.Exported,
) -> None:
    rest = (exported.folder / "kafka-rest.properties").read_text()
    assert "bootstrap.servers=b-1.x.abc.c2.kafka.eu-west-1.amazonaws.com:9096" in rest
    assert "client.sasl.mechanism=SCRAM-SHA-512" in rest
    assert "client.security.protocol=SASL_SSL" in rest
    iam = aws_export.kafka_client_properties(
        aws_export.aws_settings.resolve(settings(kafka_auth="iam"))
    )
    assert "sasl.mechanism=AWS_MSK_IAM" in iam and "IAMClientCallbackHandler" in iam
    for path in exported.files:
        text = path.read_text()
        assert "scram-secret-1" not in text and "rds-secret-1" not in text, path.name


def test_missing_variables_stop_the_export_with_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AwsSettingsError) as info:
        export_all(settings(pipeline_user_id="local", kafka_rest_proxy_ec2_host=""), tmp_path)
    assert {p.variable for p in info.value.problems} == {
        "PIPELINE_USER_ID",
        "KAFKA_REST_PROXY_EC2_HOST",
    }
    assert "make export-aws" in str(info.value)
    assert not any(tmp_path.iterdir())


def test_notebooks_are_rendered_for_the_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebooks = tmp_path / "notebook"
    notebooks.mkdir()
    (notebooks / "batch.py").write_text('SOURCE = "s3a://${bucket}/topics/${user_id}.pin/"\n')
    (notebooks / "notes.txt").write_text("not a notebook")
    monkeypatch.setattr(aws_export, "NOTEBOOK_DIR", notebooks)
    out = export_all(settings(), tmp_path / "aws")
    rendered = (out.folder / "databricks" / "batch.py").read_text()
    assert rendered == f'SOURCE = "s3a://user-{USER}-bucket/topics/{USER}.pin/"\n'
    assert not (out.folder / "databricks" / "notes.txt").exists()


def test_a_missing_notebook_is_noted_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_export, "NOTEBOOK_DIR", tmp_path / "absent")
    out = export_all(settings(), tmp_path / "aws")
    assert any("no Databricks notebook" in n for n in out.notes)


def test_cli_prints_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in CONFIG.items():
        monkeypatch.setenv(key.upper(), str(value))
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["export", "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "out")
    monkeypatch.delenv("KAFKA_REST_PROXY_EC2_HOST")
    assert main(["export", "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "KAFKA_REST_PROXY_EC2_HOST: not set" in err and "Traceback" not in err
