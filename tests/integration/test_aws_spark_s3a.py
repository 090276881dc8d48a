"""Spark under PIPELINE_TARGET=aws: real `s3a` with the AWS SDK's default credential chain.

A real Spark session (in its own process: a JVM's Hadoop settings are fixed at start) built
by `spark.session.build_session` from AWS settings reads `s3a://<bucket>/` from moto's S3 on
127.0.0.1, named by AWS_ENDPOINT_URL_S3 (never real AWS, so it passes with or without
internet). With keys in the environment the read returns the object the test stored; without
any, the same read fails at the credential chain, which proves the chain is what signs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import PROJECT_ROOT
from tests.support import fake_aws

pytestmark = pytest.mark.integration

USER = "0a1b2c3d4e5f"
BODY = '{"index": 1}\n{"index": 2}\n'

PROBE = """
from services.settings import load_settings
from spark import jars
from spark.session import build_session

settings = load_settings()
spark = build_session(
    settings,
    "aws-s3a-probe",
    connectors=jars.S3A,
    # One attempt: a failure is the answer, not something to retry.
    extra_conf={
        "spark.hadoop.fs.s3a.attempts.maximum": "1",
        "spark.hadoop.fs.s3a.retry.limit": "1",
    },
)
conf = spark.sparkContext._jsc.hadoopConfiguration()
print("PROVIDER", conf.get("fs.s3a.aws.credentials.provider"))
print("ENDPOINT", conf.get("fs.s3a.endpoint"))
try:
    lines = [r.value for r in spark.read.text(f"s3a://{settings.bucket}/topics/").collect()]
    print("READ-OK", sorted(lines))
except Exception as exc:
    print("READ-FAILED", " ".join(str(exc).split())[:2000])
spark.stop()
"""


def probe(tmp_path: Path, endpoint: str, **keys: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PIPELINE_TARGET": "aws",
        "PIPELINE_USER_ID": USER,
        "S3_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(PROJECT_ROOT),
        **keys,
    }
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if name not in keys:
            env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_s3a_reads_through_the_endpoint_with_the_default_chain_only(tmp_path: Path) -> None:
    import boto3

    with fake_aws.moto_server() as url:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="eu-central-1",
            aws_access_key_id=fake_aws.access_key_id("setup"),
            aws_secret_access_key=fake_aws.SECRET_ACCESS_KEY,
        )
        bucket = f"user-{USER}-bucket"
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        s3.put_object(Bucket=bucket, Key="topics/x.pin/partition=0/a.json", Body=BODY)

        keyed = probe(
            tmp_path,
            url,
            AWS_ACCESS_KEY_ID=fake_aws.access_key_id("spark"),
            AWS_SECRET_ACCESS_KEY=fake_aws.SECRET_ACCESS_KEY,
        ).stdout
        keyless = probe(tmp_path, url).stdout

    provider = "PROVIDER software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
    assert provider in keyed and provider in keyless
    assert f"ENDPOINT {url}" in keyed
    # With keys from the environment, s3a read exactly the stored object.
    assert "READ-OK ['{\"index\": 1}', '{\"index\": 2}']" in keyed, keyed
    # Without any, the default chain finds nothing: no fallback to other keys or anonymous.
    failed = next(line for line in keyless.splitlines() if line.startswith("READ-"))
    assert failed.startswith("READ-FAILED"), failed
    assert "credential" in failed.lower(), failed
