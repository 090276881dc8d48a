"""Under aws, MySQL is TLS or nothing: PyMySQL alone would quietly fall back to plaintext.

The local MariaDB offers no TLS, which makes it the perfect impostor: the AWS factory's
engine (its TLS context and its connection class, unchanged) is aimed at it and must refuse
before logging in, while the local factory logs in to the same server.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from services import aws_settings as aws_profile
from services.aws import preflight
from services.aws.preflight import CheckFailed
from services.clients.aws import AwsClients
from services.clients.local import LocalClients
from services.settings import Settings

pytestmark = pytest.mark.integration


class RdsAtLoopback(AwsClients):
    """The AWS factory; only its URL (which refuses loopback hosts) aims at the sandbox,
    with the sandbox's admin login (the one account every stack has)."""

    def __init__(self, settings: Settings, local: Settings) -> None:
        super().__init__(settings)
        self.local = local

    def mysql_url(self, *, admin: bool = False, database: bool = True) -> str:
        return LocalClients(self.local).mysql_url(admin=True, database=False)


def aws_settings(stack: Settings) -> Settings:
    return stack.model_copy(
        update={
            "pipeline_target": "aws",
            "mysql_host": "pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com",
            "mysql_user": "admin",
            "mysql_password": stack.mysql_admin_password,
        }
    )


def test_the_local_factory_logs_in_to_the_same_server(stack: Settings) -> None:
    engine = LocalClients(stack).mysql_engine(admin=True, database=False)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            have_ssl = conn.execute(text("SHOW VARIABLES LIKE 'have_ssl'")).fetchone()
    finally:
        engine.dispose()
    # The premise of this file: the sandbox server has no TLS.
    assert have_ssl is not None and have_ssl[1] != "YES"


def test_the_aws_engine_refuses_a_server_without_tls(stack: Settings) -> None:
    engine = RdsAtLoopback(aws_settings(stack), stack).mysql_engine()
    try:
        with pytest.raises(OperationalError, match="offers no TLS") as info:
            engine.connect()
    finally:
        engine.dispose()
    assert "never logs in in plaintext" in str(info.value)


def test_the_preflight_reports_it_as_a_tls_failure(stack: Settings) -> None:
    settings = aws_settings(stack)
    profile = dataclasses.replace(
        aws_profile.resolve(settings), mysql=aws_profile.HostPort("127.0.0.1", stack.mysql_port)
    )
    ctx = preflight.Context(settings, RdsAtLoopback(settings, stack), profile, step_timeout=5.0)
    with pytest.raises(CheckFailed) as info:
        preflight._rds(ctx, "RDS MySQL")
    assert info.value.step == "TLS"
    assert "offers no TLS" in info.value.fix
    assert stack.mysql_admin_password.get_secret_value() not in info.value.fix
