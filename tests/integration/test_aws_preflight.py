"""`make check-aws` against endpoints the test controls: a table of FAILs (or OKs), on time,
secrets masked.

These run the real checks (sockets, TLS, botocore, minio, pymysql) against AWS-shaped names
that pass the settings checks. The test's resolver sends those names to 127.0.0.1, on ports it
opened and closed (refused at once), or to moto's server for STS and S3 (through
AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_S3). Nothing reaches AWS and nothing counts on DNS
failing, so they pass the same with or without internet. Bounds below are generous
correctness bounds (it returns, it does not hang), not performance targets.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.aws import preflight
from services.aws.preflight import Check, CheckFailed, Masker, Row, run_preflight
from services.aws_settings import VARIABLES
from services.settings import PROJECT_ROOT, Settings
from tests.support import fake_aws

pytestmark = pytest.mark.integration

AWS_SECRET = fake_aws.SECRET_ACCESS_KEY
ACCESS_KEY = fake_aws.access_key_id("preflight")
MYSQL_SECRET = "rds-Secret-pw-42"
AWS_NAMES = (".amazonaws.com",)
BOUND_S = 30.0


def unreachable_config() -> dict[str, Any]:
    """Every endpoint AWS-shaped, resolved to loopback by the test, on a closed port."""
    return {
        "pipeline_user_id": "0a1b2c3d4e5f",
        "mysql_host": "pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com",
        "mysql_port": fake_aws.free_port(),
        "mysql_user": "admin",
        "mysql_password": MYSQL_SECRET,
        "rest_proxy_url": (
            f"https://abc123defg.execute-api.us-east-1.amazonaws.com:{fake_aws.free_port()}/prod"
        ),
        "kafka_bootstrap_servers": (
            f"b-1.pinterest.abc123.c2.kafka.us-east-1.amazonaws.com:{fake_aws.free_port()}"
        ),
        "kafka_rest_proxy_ec2_host": (
            f"ec2-3-80-1-2.compute-1.amazonaws.com:{fake_aws.free_port()}"
        ),
        "aws_endpoint_url_sts": f"https://sts.us-east-1.amazonaws.com:{fake_aws.free_port()}",
        "aws_endpoint_url_s3": f"https://s3.us-east-1.amazonaws.com:{fake_aws.free_port()}",
    }


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var.name, raising=False)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def resolver() -> Iterator[list[str]]:
    with fake_aws.resolving_to_loopback(*AWS_NAMES) as asked:
        yield asked


def aws(**overrides: Any) -> Settings:
    return Settings(_env_file=None, pipeline_target="aws", **{**unreachable_config(), **overrides})


def by_check(rows: list[Row]) -> dict[str, Row]:
    return {r.check: r for r in rows if r.check != "setting"}


def test_every_unreachable_endpoint_fails_with_its_fix_in_bounded_time(
    resolver: list[str],
) -> None:
    began = time.monotonic()
    rows = run_preflight(aws())
    elapsed = time.monotonic() - began
    assert elapsed < BOUND_S, f"preflight took {elapsed:.1f}s"

    checks = by_check(rows)
    assert list(checks) == [c.name for c in preflight.CHECKS]
    assert not [r for r in rows if r.check == "setting"]  # every variable is set
    # Credentials are resolved locally (from the environment), so that row is OK...
    assert checks["AWS credentials"].ok
    assert "from env" in checks["AWS credentials"].detail
    # ...and every endpoint fails at the step where a closed port fails: the TCP connect,
    # or the TLS handshake for the https endpoints, each with what to check.
    steps = {name: row.detail.split(":")[0] for name, row in checks.items() if not row.ok}
    assert steps == {
        "STS": "TLS",
        "S3 bucket": "TLS",
        "RDS MySQL": "connect",
        "MSK Kafka": "connect",
        "API Gateway": "TLS",
        "REST proxy (EC2)": "connect",
    }, {n: r.detail for n, r in checks.items()}
    assert "refused" in checks["RDS MySQL"].detail
    assert "publicly accessible" in checks["RDS MySQL"].detail
    assert "inside their VPC" in checks["MSK Kafka"].detail
    assert "security group" in checks["REST proxy (EC2)"].detail
    endpoint = checks["RDS MySQL"].endpoint
    assert endpoint.startswith("mysql://admin:****@pinterest-db.abc123xyz.us-east-1.rds.")
    assert endpoint.endswith("/pinterest_data")
    # Every lookup was answered by the test's resolver, for AWS-shaped names only.
    assert resolver and all(name.endswith(AWS_NAMES) for name in resolver), resolver


def test_sts_and_s3_answer_through_the_endpoint_overrides(resolver: list[str]) -> None:
    import boto3

    subset = tuple(c for c in preflight.CHECKS if c.name in ("AWS credentials", "STS", "S3 bucket"))
    with fake_aws.moto_server() as url:
        settings = aws(aws_endpoint_url_sts=url, aws_endpoint_url_s3=url)
        before = by_check(run_preflight(settings, checks=subset))
        assert before["STS"].ok, before["STS"]
        assert before["STS"].detail.startswith("account 123456789012, arn:aws:"), before["STS"]
        assert not before["S3 bucket"].ok
        assert before["S3 bucket"].detail.startswith("missing: bucket user-0a1b2c3d4e5f-bucket")

        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket=settings.bucket)
        after = by_check(run_preflight(settings, checks=subset))
        assert after["S3 bucket"].ok, after["S3 bucket"]
        assert after["S3 bucket"].endpoint == url
    # botocore and minio went to the override, not to an AWS host name.
    assert not any(n.startswith(("sts.", "s3.", "user-")) for n in resolver), resolver


def test_secrets_never_appear_in_the_table(resolver: list[str]) -> None:
    rows = run_preflight(aws())
    text = "\n".join(f"{r.check} {r.endpoint} {r.detail}" for r in rows)
    assert MYSQL_SECRET not in text and AWS_SECRET not in text
    assert ACCESS_KEY not in text and fake_aws.masked(ACCESS_KEY) in text


def test_missing_variables_are_rows_and_block_only_their_checks(resolver: list[str]) -> None:
    rows = run_preflight(aws(mysql_host="localhost", rest_proxy_url="", mysql_password=""))
    settings_rows = {r.endpoint: r for r in rows if r.check == "setting"}
    assert set(settings_rows) == {"MYSQL_HOST", "MYSQL_PASSWORD", "REST_PROXY_URL"}
    assert all(r.status == "FAIL" for r in settings_rows.values())
    assert "this machine, not RDS" in settings_rows["MYSQL_HOST"].detail
    checks = by_check(rows)
    assert checks["RDS MySQL"].detail == "not tried: set MYSQL_HOST, MYSQL_PASSWORD"
    assert checks["API Gateway"].detail == "not tried: set REST_PROXY_URL"
    # MSK is configured, so it is tried (and fails at its closed port, not at settings).
    assert checks["MSK Kafka"].detail.startswith("connect:"), checks["MSK Kafka"]


def test_a_malformed_endpoint_override_is_a_row_naming_the_variable(resolver: list[str]) -> None:
    rows = by_check(run_preflight(aws(aws_endpoint_url_sts="sts.example/path")))
    assert not rows["STS"].ok
    assert "AWS_ENDPOINT_URL_STS='sts.example/path' is not an endpoint URL" in rows["STS"].detail


@pytest.fixture
def black_hole() -> Iterator[tuple[str, int]]:
    """A TCP server on loopback that accepts and then never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_an_endpoint_that_never_answers_becomes_a_timeout_row(
    black_hole: tuple[str, int],
) -> None:
    def wait_for_greeting(ctx: preflight.Context, name: str) -> str:
        ctx.steps[name] = f"waiting for a greeting from {black_hole[0]}:{black_hole[1]}"
        with socket.create_connection(black_hole) as conn:
            conn.recv(1)  # blocks: the server never writes
        raise CheckFailed("unreachable", "the server spoke")

    def fast_ok(_ctx: preflight.Context, _name: str) -> str:
        return "fine"

    checks = (
        Check("silent", (), lambda p, s: "silent", wait_for_greeting),
        Check("quick", (), lambda p, s: "quick", fast_ok),
    )
    began = time.monotonic()
    rows = run_preflight(aws(), deadline_s=1.0, checks=checks)
    elapsed = time.monotonic() - began
    assert elapsed < 5.0, f"the deadline did not hold: {elapsed:.1f}s"
    silent, quick = rows
    assert silent.status == "FAIL"
    assert silent.detail.startswith("timeout: no answer within 1s during waiting for a greeting")
    assert quick.ok and quick.detail == "fine"


def test_masker_hides_secrets_and_access_keys() -> None:
    mask = Masker.from_settings(aws())
    assert mask(f"pw={MYSQL_SECRET} key={ACCESS_KEY} s={AWS_SECRET}") == (
        f"pw=**** key={fake_aws.masked(ACCESS_KEY)} s=****"
    )


def test_make_check_aws_exits_non_zero_with_the_table(tmp_path: Path) -> None:
    sts_port = fake_aws.free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIPELINE_TARGET": "aws",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "MYSQL_PASSWORD": MYSQL_SECRET,
        # The one check that needs no variable goes to a port this test closed, not to AWS.
        "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{sts_port}",
    }
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "services.aws", "check"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - began
    assert elapsed < BOUND_S
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "AWS preflight" in out and "FAIL" in out and "Traceback" not in done.stderr
    # Nothing is set: the table names the variables and what they must hold.
    for name in ("PIPELINE_USER_ID", "MYSQL_HOST", "REST_PROXY_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        assert name in out
    assert "no credentials in the standard chain" in out
    sts_row = next(line for line in out.splitlines() if line.strip("│ ").startswith("STS"))
    assert f"127.0.0.1:{sts_port}" in sts_row and "connect" in sts_row, sts_row
    assert MYSQL_SECRET not in out
