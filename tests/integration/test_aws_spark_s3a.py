"""Spark under PIPELINE_TARGET=aws: real `s3a` with the AWS SDK's default credential chain.

A real Spark session (in its own process: a JVM's Hadoop settings are fixed at start) built
by `spark.session.build_session` from AWS settings reads `s3a://<bucket>/`. Offline, the read
fails at DNS, and where it fails proves the configuration: the credential provider loaded
and found the keys in the environment (the SDK signs before it resolves), and the request
went to the bucket's virtual-hosted, regional AWS host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT
from tests import fake_aws

pytestmark = pytest.mark.integration

USER = "0a1b2c3d4e5f"

PROBE = """
from services.settings import load_settings
from spark import jars
from spark.session import build_session

settings = load_settings()
spark = build_session(
    settings,
    "aws-s3a-probe",
    connectors=jars.S3A,
    # One attempt: the point is where the request goes, not retrying offline.
    extra_conf={
        "spark.hadoop.fs.s3a.attempts.maximum": "1",
        "spark.hadoop.fs.s3a.retry.limit": "1",
    },
)
conf = spark.sparkContext._jsc.hadoopConfiguration()
print("PROVIDER", conf.get("fs.s3a.aws.credentials.provider"))
print("ENDPOINT", conf.get("fs.s3a.endpoint"))
try:
    spark.read.text(f"s3a://{settings.bucket}/topics/").collect()
    print("READ-OK")
except Exception as exc:
    print("READ-FAILED", str(exc).splitlines()[1] if "\\n" in str(exc) else exc)
spark.stop()
"""


def test_s3a_signs_with_the_default_chain_and_goes_to_the_regional_bucket_host(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PIPELINE_TARGET": "aws",
        "PIPELINE_USER_ID": USER,
        "S3_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": fake_aws.access_key_id("spark"),
        "AWS_SECRET_ACCESS_KEY": fake_aws.SECRET_ACCESS_KEY,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PROVIDER software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider" in out
    assert "ENDPOINT None" in out  # no endpoint override
    assert "READ-OK" not in out
    failed = next(line for line in out.splitlines() if line.startswith("READ-FAILED"))
    # Not a credentials or class-loading failure: a DNS failure for the bucket's own host.
    assert "UnknownHost" in failed, failed
    assert f"user-{USER}-bucket.s3.eu-central-1.amazonaws.com" in done.stdout + done.stderr
