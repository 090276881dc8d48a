"""PIPELINE_TARGET=aws: every variable, every default, and one clear error for what is missing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services import aws_settings
from services.aws_settings import VARIABLES, AwsSettingsError
from services.clients import clients_for
from services.clients.aws import AwsClients
from services.clients.local import LocalClients
from services.settings import PROJECT_ROOT, Settings, SettingsError, load_settings

pytestmark = pytest.mark.unit

#: The smallest set of variables a full AWS setup needs; everything else has a default.
REQUIRED: dict[str, Any] = {
    "pipeline_user_id": "0a1b2c3d4e5f",
    "mysql_host": "pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com",
    "mysql_user": "admin",
    "mysql_password": "rds-pw-1",
    "mysql_admin_user": "admin",
    "mysql_admin_password": "rds-admin-pw-1",
    "rest_proxy_url": "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/",
    "kafka_bootstrap_servers": (
        "b-1.pinterest.abc123.c2.kafka.eu-west-1.amazonaws.com:9098,"
        "b-2.pinterest.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"
    ),
    "kafka_rest_proxy_ec2_host": "ec2-3-80-1-2.compute-1.amazonaws.com",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    monkeypatch.delenv("PIPELINE_TARGET", raising=False)


def aws(**overrides: Any) -> Settings:
    return Settings(_env_file=None, pipeline_target="aws", **overrides)


def test_every_variable_is_a_setting_and_documented() -> None:
    for var in VARIABLES:
        field = Settings.model_fields[var.field]
        assert var.holds == field.description and var.example and var.groups
        assert set(var.groups) <= set(aws_settings.GROUPS)
    # VARIABLES is derived: exactly the fields that carry AWS metadata, in field order.
    marked = [
        f
        for f, info in Settings.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and "aws" in info.json_schema_extra
    ]
    assert [v.field for v in VARIABLES] == marked
    # Every variable without a default is one the minimal setup sets.
    assert {v.field for v in VARIABLES if v.default is None} == set(REQUIRED)


def test_full_setup_resolves_every_endpoint_and_default() -> None:
    s = aws(**REQUIRED)
    assert aws_settings.problems(s) == []
    p = aws_settings.require(s)
    assert p.user_id == "0a1b2c3d4e5f"
    assert p.bucket == "user-0a1b2c3d4e5f-bucket"
    assert p.topics == ["0a1b2c3d4e5f.pin", "0a1b2c3d4e5f.geo", "0a1b2c3d4e5f.user"]
    # Defaults: region, port, database, auth, no CA bundle, REST proxy port on EC2.
    assert p.region == "us-east-1"
    assert p.s3_host == "user-0a1b2c3d4e5f-bucket.s3.us-east-1.amazonaws.com"
    assert p.sts_host == "sts.us-east-1.amazonaws.com"
    assert (p.mysql.host, p.mysql.port) == (REQUIRED["mysql_host"], 3306)
    assert p.mysql_database == "pinterest_data"
    assert p.mysql_ssl_ca == ""
    assert p.kafka_auth == "iam"
    assert p.rest_proxy_ec2 is not None and p.rest_proxy_ec2.port == 8082
    # The invoke URL keeps its stage; the trailing slash goes so paths join cleanly.
    assert p.rest_url == "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
    assert (p.rest_api_id, p.rest_stage) == ("abc123defg", "prod")
    assert [str(b) for b in p.brokers] == REQUIRED["kafka_bootstrap_servers"].split(",")
    # MSK tokens are signed for the cluster's region, read from the broker names.
    assert p.kafka_region == "eu-west-1"


def test_every_value_can_be_overridden(tmp_path: Path) -> None:
    ca = tmp_path / "global-bundle.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = aws(
        **{**REQUIRED, "kafka_rest_proxy_ec2_host": "ec2.example.com:18082"},
        s3_region="eu-central-1",
        mysql_port=3307,
        mysql_database="pins",
        mysql_ssl_ca=str(ca),
        kafka_auth="scram",
        kafka_sasl_username="alice",
        kafka_sasl_password="scram-pw",
    )
    p = aws_settings.require(s)
    assert (p.region, p.mysql.port, p.mysql_database, p.mysql_ssl_ca) == (
        "eu-central-1",
        3307,
        "pins",
        str(ca),
    )
    assert p.kafka_auth == "scram"
    assert str(p.rest_proxy_ec2) == "ec2.example.com:18082"


def test_nothing_set_names_every_required_variable_and_what_it_holds() -> None:
    with pytest.raises(AwsSettingsError) as info:
        aws_settings.require(aws())
    message = str(info.value)
    for name in ("PIPELINE_USER_ID", "MYSQL_HOST", "MYSQL_USER", "MYSQL_PASSWORD"):
        assert f"  {name}: not set: it must hold" in message
    assert "REST_PROXY_URL: not set" in message
    assert "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod" in message
    assert "KAFKA_BOOTSTRAP_SERVERS: not set" in message
    assert "KAFKA_REST_PROXY_EC2_HOST: not set" in message
    # Variables with a default are never reported as missing.
    for name in ("S3_REGION", "MYSQL_PORT", "MYSQL_DATABASE", "KAFKA_AUTH", "MYSQL_SSL_CA"):
        assert f"{name}:" not in message
    assert {p.variable for p in info.value.problems} == {v.upper() for v in REQUIRED}


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_missing_variable_is_named(missing: str) -> None:
    s = aws(**{k: v for k, v in REQUIRED.items() if k != missing})
    assert [p.variable for p in aws_settings.problems(s)] == [missing.upper()]


def test_local_defaults_copied_from_env_example_do_not_count() -> None:
    # A .env copied from .env.example sets the local values explicitly.
    s = aws(
        **{
            **REQUIRED,
            "pipeline_user_id": "local",
            "mysql_user": "pinterest_reader",
            "mysql_password": "reader-local-only",
            "kafka_auth": "none",
        }
    )
    found = {p.variable: p.message for p in aws_settings.problems(s)}
    assert set(found) == {"PIPELINE_USER_ID", "MYSQL_USER", "MYSQL_PASSWORD"}
    assert found["MYSQL_USER"].startswith("'pinterest_reader' is the local default")
    # A secret is never echoed, not even a local one.
    assert "reader-local-only" not in found["MYSQL_PASSWORD"]
    # KAFKA_AUTH=none is the local plaintext listener: under aws it reads as IAM.
    assert aws_settings.resolve(s).kafka_auth == "iam"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rest_proxy_url", "http://abc123defg.execute-api.us-east-1.amazonaws.com/prod", "https"),
        ("rest_proxy_url", "https://abc123defg.execute-api.us-east-1.amazonaws.com", "stage"),
        (
            "rest_proxy_url",
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/topics",
            "/topics",
        ),
        ("rest_proxy_url", "https://127.0.0.1/prod", "this machine"),
        ("mysql_host", "localhost", "this machine"),
        ("kafka_bootstrap_servers", "127.0.0.2:9092", "this machine"),
        ("kafka_bootstrap_servers", "127.0.0.1:9092", "local default"),
        ("mysql_ssl_ca", "/nonexistent/global-bundle.pem", "not a file"),
    ],
)
def test_values_wrong_only_for_aws_say_what_is_wrong(field: str, value: str, expected: str) -> None:
    found = aws_settings.problems(aws(**{**REQUIRED, field: value}))
    assert len(found) == 1 and found[0].variable == field.upper()
    assert expected in found[0].message
    # Right for the local stack, so only the AWS check refuses them.
    local: dict[str, Any] = {field: value}
    assert getattr(Settings(_env_file=None, **local), field) == value


@pytest.mark.parametrize("target", ["local", "aws"])
@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("mysql_host", "mysql://db.example.com", "host name only"),
        ("kafka_rest_proxy_ec2_host", "http://ec2.example.com:8082", "is a URL"),
    ],
)
def test_malformed_values_are_refused_for_every_target(
    target: str, field: str, value: str, expected: str
) -> None:
    # Wrong whatever the target: the field's validator refuses it when settings load, with
    # what the variable must hold.
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, pipeline_target=target, **{**REQUIRED, field: value})
    message = str(info.value)
    assert f"  {field.upper()}: " in message and expected in message
    assert f"e.g. {(Settings.model_fields[field].examples or ['?'])[0]}" in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("kafka_bootstrap_servers", "b-1.example.com", "lacks :<port>"),
        ("kafka_bootstrap_servers", "b-1.example.com:x", "no valid port"),
        ("s3_region", "US East", "not an AWS region"),
    ],
)
def test_aws_formats_are_refused_under_aws_and_left_alone_locally(
    field: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, pipeline_target="aws", **{**REQUIRED, field: value})
    assert f"  {field.upper()}: " in str(info.value) and expected in str(info.value)
    # A local .env from before (a region named `local`, a broker without its port) still loads.
    local = load_settings(_env_file=None, pipeline_target="local", **{field: value})
    assert getattr(local, field) == value


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-2", "eusc-de-east-1"])
def test_every_aws_region_name_is_accepted(region: str) -> None:
    settings = load_settings(
        _env_file=None, pipeline_target="aws", **{**REQUIRED, "s3_region": region}
    )
    assert settings.s3_region == region


def test_scram_needs_its_user_and_password() -> None:
    found = aws_settings.problems(aws(**REQUIRED, kafka_auth="scram"))
    assert [p.variable for p in found] == ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"]
    assert all("KAFKA_AUTH=scram needs it" in p.message for p in found)


def test_each_client_asks_only_for_its_own_variables() -> None:
    # A Spark job reading S3 needs the user id and region, not RDS or MSK.
    clients = clients_for(aws(pipeline_user_id="0a1b2c3d4e5f"))
    assert isinstance(clients, AwsClients)
    assert clients.spark_s3a_conf()["fs.s3a.endpoint.region"] == "us-east-1"
    with pytest.raises(AwsSettingsError) as info:
        clients.kafka_config()
    assert [p.variable for p in info.value.problems] == ["KAFKA_BOOTSTRAP_SERVERS"]
    with pytest.raises(AwsSettingsError) as info:
        clients.mysql_url()
    assert [p.variable for p in info.value.problems] == [
        "MYSQL_HOST",
        "MYSQL_USER",
        "MYSQL_PASSWORD",
    ]
    with pytest.raises(AwsSettingsError, match="REST_PROXY_URL: not set"):
        clients.rest_proxy_url()
    # The admin account is needed only by whoever asks for it (seeding).
    with pytest.raises(AwsSettingsError, match="MYSQL_ADMIN_PASSWORD"):
        clients_for(aws(**{**REQUIRED, "mysql_admin_password": ""})).mysql_url(admin=True)


def test_local_target_keeps_the_local_factory() -> None:
    assert isinstance(clients_for(Settings(_env_file=None)), LocalClients)


# --- the .env.example block ---------------------------------------------------------------


def test_env_example_ends_with_the_generated_aws_block() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    assert aws_settings.ENV_HEADER in text, "run: .venv/bin/python -m services.aws env"
    block = text[text.index(aws_settings.ENV_HEADER) :]
    # A field's description, example or groups changed: rewrite the block from the fields.
    assert block == aws_settings.env_example_block(), "run: .venv/bin/python -m services.aws env"
    # Exactly one commented assignment per variable (plus the target): no wrapped prose
    # line may look like one, or uncommenting the block would break it.
    assignments = re.findall(r"^# ([A-Z0-9_]+)=", block, flags=re.M)
    assert assignments == ["PIPELINE_TARGET"] + [v.name for v in VARIABLES]


def test_uncommenting_the_aws_block_of_a_copied_env_example_switches_target(
    tmp_path: Path,
) -> None:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    head, block = text.split(aws_settings.ENV_HEADER, 1)
    # What a user does: copy the file, uncomment the assignments of the AWS block.
    uncommented = re.sub(r"^# ([A-Z0-9_]+=)", r"\1", block, flags=re.M)
    env = tmp_path / ".env"
    env.write_text(head + aws_settings.ENV_HEADER + uncommented, encoding="utf-8")
    s = Settings(_env_file=env)
    assert s.pipeline_target == "aws"
    assert s.mysql_host.endswith(".rds.amazonaws.com")  # the AWS lines win over the local ones
    # Only the secrets, left blank in the example, are still missing.
    assert [p.variable for p in aws_settings.problems(s)] == [
        "MYSQL_PASSWORD",
        "MYSQL_ADMIN_PASSWORD",
    ]


def test_docs_describe_every_variable() -> None:
    docs = (PROJECT_ROOT / "docs" / "aws.md").read_text(encoding="utf-8")
    for var in VARIABLES:
        assert f"`{var.name}`" in docs, var.name
