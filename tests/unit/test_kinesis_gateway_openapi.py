"""`make export-aws`: the /streams resources as API Gateway Kinesis integrations (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from services.aws.export import export_all
from services.aws.gateway_openapi import KINESIS_METHODS
from services.aws_settings import VARIABLES
from services.settings import Settings

pytestmark = pytest.mark.unit

USER = "0a1b2c3d4e5f"
ROLE = "arn:aws:iam::123456789012:role/0a1b2c3d4e5f-kinesis-access-role"
CONFIG: dict[str, Any] = {
    "pipeline_user_id": USER,
    "kafka_rest_proxy_ec2_host": "ec2-3-80-1-2.compute-1.amazonaws.com",
    "s3_region": "eu-west-1",
    "rest_proxy_url": "https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.delenv("KINESIS_API_ROLE_ARN", raising=False)


def spec(tmp_path: Path, **overrides: Any) -> Any:
    out = export_all(Settings(_env_file=None, **{**CONFIG, **overrides}), tmp_path / "aws")
    return json.loads((out.folder / "api-gateway-openapi.json").read_text())


def test_streams_resources_are_kinesis_integrations(tmp_path: Path) -> None:
    doc = spec(tmp_path, kinesis_api_role_arn=ROLE)
    validate(doc)
    seen = set()
    for path, method, action, _template in KINESIS_METHODS:
        op = doc["paths"][path][method]
        integration = op["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws"
        assert integration["httpMethod"] == "POST"
        assert integration["uri"] == f"arn:aws:apigateway:eu-west-1:kinesis:action/{action}"
        assert integration["credentials"] == ROLE
        assert integration["requestParameters"] == {
            "integration.request.header.Content-Type": "'application/x-amz-json-1.1'"
        }
        template = integration["requestTemplates"]["application/json"]
        if "{stream-name}" in path:
            assert "$input.params('stream-name')" in template
            assert [p["name"] for p in op["parameters"]] == ["stream-name"]
        seen.add(action)
    assert seen == {
        "ListStreams",
        "DescribeStream",
        "CreateStream",
        "DeleteStream",
        "PutRecord",
        "PutRecords",
    }
    # The templates send what the local proxy stores: each Data as its JSON text.
    record = doc["paths"]["/streams/{stream-name}/record"]["put"]
    template = record["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"]
    assert "$util.base64Encode($input.json('$.Data'))" in template
    records = doc["paths"]["/streams/{stream-name}/records"]["put"]
    template = records["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"]
    assert "$elem.partition-key" in template and "#foreach" in template
    # The Confluent routes are still there beside them.
    assert (
        doc["paths"]["/topics/{topic}"]["post"]["x-amazon-apigateway-integration"]["type"]
        == "http_proxy"
    )


def test_without_a_role_the_placeholder_names_the_originals_role(tmp_path: Path) -> None:
    doc = spec(tmp_path)
    integration = doc["paths"]["/streams"]["get"]["x-amazon-apigateway-integration"]
    assert integration["credentials"] == (
        f"arn:aws:iam::<account-id>:role/{USER}-kinesis-access-role"
    )
    assert "KINESIS_API_ROLE_ARN" in doc["info"]["description"]
