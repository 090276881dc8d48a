"""`make check-aws`: try every AWS endpoint and say, for each failure, how to fix it.

Each check walks the same steps a client would (variables, DNS, TCP, TLS, credentials,
permission) and stops at the first that fails, so the fix names the real cause. Checks run
concurrently in daemon threads under one deadline: an endpoint that never answers becomes
a FAIL row saying which step it was stuck in, and the command still returns on time (it
must, on a machine without internet). Everything printed passes through `Masker`.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import certifi

from services import aws_settings
from services.aws_settings import AwsProfile, HostPort
from services.clients.aws import AwsClients, endpoint_override
from services.settings import PROJECT_ROOT, SOURCE_TABLES, Settings

DEFAULT_DEADLINE_S = 15.0
DEFAULT_STEP_TIMEOUT_S = 5.0


@dataclass
class Row:
    check: str
    endpoint: str
    ok: bool
    detail: str

    @property
    def status(self) -> str:
        return "OK" if self.ok else "FAIL"


class CheckFailed(Exception):
    """One step failed; `fix` tells the user what to change."""

    def __init__(self, step: str, fix: str) -> None:
        super().__init__(f"{step}: {fix}")
        self.step = step
        self.fix = fix


@dataclass
class Context:
    settings: Settings
    clients: AwsClients
    profile: AwsProfile
    step_timeout: float
    #: The step each check is in, so a timed-out row can say where it hung.
    steps: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    name: str
    groups: tuple[str, ...]
    endpoint: Callable[[AwsProfile, Settings], str]
    run: Callable[[Context, str], str]


# --- steps shared by the checks --------------------------------------------------------------


def _dns(ctx: Context, name: str, host: str, variable: str) -> None:
    ctx.steps[name] = f"DNS lookup of {host}"
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CheckFailed(
            "DNS",
            f"{host} does not resolve ({exc.strerror or exc}): check {variable}, and that "
            "this machine has internet access and working DNS",
        ) from None


def _tcp(ctx: Context, name: str, hp: HostPort, hint: str) -> None:
    ctx.steps[name] = f"TCP connect to {hp}"
    try:
        with socket.create_connection((hp.host, hp.port), timeout=ctx.step_timeout):
            pass
    except TimeoutError:
        raise CheckFailed(
            "connect", f"no answer from {hp} within {ctx.step_timeout:g}s: {hint}"
        ) from None
    except OSError as exc:
        raise CheckFailed("connect", f"{hp} refused or unreachable ({exc}): {hint}") from None


def _tls(ctx: Context, name: str, hp: HostPort) -> None:
    ctx.steps[name] = f"TLS handshake with {hp}"
    context = ssl.create_default_context(cafile=certifi.where())
    try:
        with (
            socket.create_connection((hp.host, hp.port), timeout=ctx.step_timeout) as raw,
            context.wrap_socket(raw, server_hostname=hp.host),
        ):
            pass
    except ssl.SSLCertVerificationError as exc:
        raise CheckFailed(
            "TLS",
            f"{hp} presented a certificate this machine does not trust ({exc.verify_message}): "
            "a proxy intercepting TLS, or the wrong host",
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise CheckFailed("TLS", f"TLS handshake with {hp} failed ({exc})") from None


# --- the checks -------------------------------------------------------------------------------


def _credentials(ctx: Context, name: str) -> str:
    ctx.steps[name] = "reading the AWS credential chain"
    creds = ctx.clients.botocore_session().get_credentials()
    if creds is None:
        hint = ""
        if _dotenv_has_aws_keys():
            hint = " (.env sets AWS_* keys, but AWS SDKs read the shell environment, not .env)"
        raise CheckFailed(
            "credentials",
            "no credentials in the standard chain"
            + hint
            + ": export AWS_PROFILE (after `aws configure` or `aws sso login`) or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on an instance with a role",
        )
    frozen = creds.get_frozen_credentials()
    return f"from {creds.method}, access key {mask_key(frozen.access_key)}"


def _service_host(ctx: Context, service: str, default: str) -> tuple[HostPort, bool, str]:
    """(host and port, whether TLS, the variable to check) of STS or S3: AWS's regional
    endpoint, or the AWS_ENDPOINT_URL_<SERVICE> override."""
    override = endpoint_override(ctx.settings, service)
    if override is None:
        return HostPort(default, 443), True, ""
    tls = override.scheme == "https"
    port = override.port or (443 if tls else 80)
    return HostPort(override.hostname or "", port), tls, f"AWS_ENDPOINT_URL_{service.upper()}"


def _reach(ctx: Context, name: str, hp: HostPort, tls: bool, variable: str) -> None:
    _dns(ctx, name, hp.host, variable)
    if tls:
        _tls(ctx, name, hp)
    else:
        _tcp(ctx, name, hp, f"check {variable}")


def _sts(ctx: Context, name: str) -> str:
    host, tls, variable = _service_host(ctx, "sts", ctx.profile.sts_host)
    _reach(ctx, name, host, tls, variable or "S3_REGION")
    ctx.steps[name] = "STS GetCallerIdentity"
    try:
        ident = ctx.clients.botocore_client("sts", timeout_s=ctx.step_timeout).get_caller_identity()
    except Exception as exc:
        raise CheckFailed("auth", _aws_error_fix(exc, "credentials")) from None
    return f"account {ident['Account']}, {ident['Arn']}"


def _s3(ctx: Context, name: str) -> str:
    p = ctx.profile
    host, tls, variable = _service_host(ctx, "s3", p.s3_host)
    _reach(ctx, name, host, tls, variable or "PIPELINE_USER_ID and S3_REGION")
    ctx.steps[name] = f"S3 HeadBucket {p.bucket}"
    from minio.error import S3Error

    try:
        exists = ctx.clients.s3().bucket_exists(p.bucket)
    except S3Error as exc:
        if exc.code == "AccessDenied":
            raise CheckFailed(
                "permission",
                f"access denied to {p.bucket}: give your identity s3:ListBucket, s3:GetObject "
                f"and s3:PutObject on arn:aws:s3:::{p.bucket}",
            ) from None
        if exc.code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
            raise CheckFailed(
                "region", f"{p.bucket} is not in {p.region}: set S3_REGION to its region"
            ) from None
        raise CheckFailed("S3", f"{exc.code}: {exc.message}") from None
    except Exception as exc:
        raise CheckFailed("auth", _aws_error_fix(exc, "credentials")) from None
    if not exists:
        raise CheckFailed(
            "missing",
            f"bucket {p.bucket} does not exist in {p.region}: check PIPELINE_USER_ID and "
            "S3_REGION, or create it",
        )
    if variable:
        return f"bucket {p.bucket} reachable at {variable}"
    return f"bucket {p.bucket} reachable (virtual-hosted, TLS)"


def _rds(ctx: Context, name: str) -> str:
    p = ctx.profile
    _dns(ctx, name, p.mysql.host, "MYSQL_HOST")
    _tcp(
        ctx,
        name,
        p.mysql,
        "make the RDS instance publicly accessible and allow port "
        f"{p.mysql.port} from your IP in its security group (or run from inside the VPC)",
    )
    ctx.steps[name] = "MySQL TLS login"
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = ctx.clients.mysql_engine(
        connect_args={
            "connect_timeout": ctx.step_timeout,
            "read_timeout": ctx.step_timeout,
            **ctx.clients.mysql_connect_args(),
        },
        pool_pre_ping=False,
    )
    try:
        with engine.connect() as conn:
            cipher = conn.execute(text("SHOW SESSION STATUS LIKE 'Ssl_cipher'")).fetchone()
            tables = {r[0] for r in conn.execute(text("SHOW TABLES"))}
    except DBAPIError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code == 1045:
            raise CheckFailed(
                "auth", "access denied: check MYSQL_USER and MYSQL_PASSWORD against RDS"
            ) from None
        if code == 2003 and "offers no TLS" in str(exc.orig):
            raise CheckFailed("TLS", str(exc.orig)) from None
        if code == 1049:
            raise CheckFailed(
                "missing", f"no database {p.mysql_database!r}: set MYSQL_DATABASE"
            ) from None
        raise CheckFailed("MySQL", str(exc.orig or exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    wanted = set(SOURCE_TABLES.values())
    if not wanted <= tables:
        raise CheckFailed(
            "missing",
            f"database {p.mysql_database} lacks {', '.join(sorted(wanted - tables))}: "
            "load the Pinterest data into RDS",
        )
    verified = "verified" if p.mysql_ssl_ca else "not verified: set MYSQL_SSL_CA"
    return f"TLS {cipher[1] if cipher else '?'} ({verified}), 3 source tables"


def _msk(ctx: Context, name: str) -> str:
    p = ctx.profile
    for b in p.brokers:
        _dns(ctx, name, b.host, "KAFKA_BOOTSTRAP_SERVERS")
    _tcp(
        ctx,
        name,
        p.brokers[0],
        "MSK brokers answer only inside their VPC: run this on the EC2 client "
        "machine, or turn on public access with IAM or SCRAM",
    )
    ctx.steps[name] = "Kafka metadata request"
    errors: list[str] = []
    from confluent_kafka import KafkaException

    admin = ctx.clients.kafka_admin(
        error_cb=lambda err: errors.append(err.str()),
        **{"socket.timeout.ms": int(ctx.step_timeout * 1000), "log_level": 0},
    )
    try:
        meta = admin.list_topics(timeout=ctx.step_timeout)
    except KafkaException as exc:
        admin.poll(0.5)  # serve the queued error callbacks: they say why
        # The first two distinct reasons; librdkafka repeats itself on every reconnect.
        detail = "; ".join(list(dict.fromkeys(errors))[:2]) or exc.args[0].str()
        if "SSL" in detail or "security.protocol" in detail:
            raise CheckFailed(
                "TLS",
                f"{detail}: the brokers do not speak TLS on these ports; MSK's TLS listeners "
                "are 9098 (IAM) and 9096 (SCRAM)",
            ) from None
        if "SASL" in detail or "auth" in detail.lower():
            raise CheckFailed(
                "auth",
                f"{detail}: with KAFKA_AUTH=iam your identity needs kafka-cluster:Connect, "
                "DescribeTopic, WriteData and ReadData on the cluster; with scram check "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
            ) from None
        raise CheckFailed("Kafka", detail) from None
    missing = [t for t in p.topics if t not in meta.topics]
    if missing:
        raise CheckFailed(
            "missing", f"topics {', '.join(missing)} do not exist: create them on the cluster"
        )
    return f"{len(meta.brokers)} brokers, auth {p.kafka_auth}, topics {', '.join(p.topics)}"


def _api_gateway(ctx: Context, name: str) -> str:
    p = ctx.profile
    from urllib.parse import urlsplit

    import requests

    parts = urlsplit(p.rest_url)
    host = parts.hostname or ""
    _dns(ctx, name, host, "REST_PROXY_URL")
    # Settings only accept https here; plain http is what a test's stand-in gateway speaks.
    if parts.scheme == "https":
        _tls(ctx, name, HostPort(host, parts.port or 443))
    url = f"{p.rest_url}/topics/{p.topics[0]}"
    ctx.steps[name] = f"GET {url}"
    try:
        resp = requests.get(url, timeout=ctx.step_timeout)
    except requests.RequestException as exc:
        raise CheckFailed("HTTP", f"GET {url} failed ({exc})") from None
    body = resp.text[:200]
    if resp.status_code == 200:
        return f"GET /topics/{p.topics[0]} -> 200 through API Gateway and the REST proxy"
    if resp.status_code == 403 and "Missing Authentication Token" in body:
        raise CheckFailed(
            "stage",
            "API Gateway has no such resource: check the stage in REST_PROXY_URL, that the "
            "API has /topics/{topic} (import build/aws/api-gateway-openapi.json) and is deployed",
        )
    if resp.status_code in (403, 401):
        raise CheckFailed("auth", f"{resp.status_code} {body}: check the API's authorization")
    if resp.status_code in (500, 502, 503, 504):
        raise CheckFailed(
            "upstream",
            f"{resp.status_code}: API Gateway cannot reach the REST proxy: start it on EC2 "
            f"and allow port {aws_settings.REST_PROXY_EC2_PORT} in its security group",
        )
    if resp.status_code == 404:
        raise CheckFailed("missing", f"404 {body}: does topic {p.topics[0]} exist on MSK?")
    raise CheckFailed("HTTP", f"{resp.status_code} {body}")


def _rest_proxy_ec2(ctx: Context, name: str) -> str:
    ec2 = ctx.profile.rest_proxy_ec2
    assert ec2 is not None  # the EXPORT group guarantees it
    _dns(ctx, name, ec2.host, "KAFKA_REST_PROXY_EC2_HOST")
    _tcp(
        ctx,
        name,
        ec2,
        f"start the REST proxy on EC2 and allow port {ec2.port} in the instance's security "
        "group (API Gateway reaches it over the internet)",
    )
    return f"{ec2} accepts connections"


CHECKS: tuple[Check, ...] = (
    Check("AWS credentials", (), lambda p, s: "standard chain: env, profile, role", _credentials),
    Check("STS", (), lambda p, s: s.aws_endpoint_url_sts or f"https://{p.sts_host}", _sts),
    Check(
        "S3 bucket",
        (aws_settings.S3,),
        lambda p, s: s.aws_endpoint_url_s3 or f"https://{p.s3_host}",
        _s3,
    ),
    Check(
        "RDS MySQL",
        (aws_settings.MYSQL,),
        lambda p, s: f"mysql://{p.mysql_user}:****@{p.mysql}/{p.mysql_database}",
        _rds,
    ),
    Check(
        "MSK Kafka",
        (aws_settings.KAFKA,),
        lambda p, s: f"{','.join(str(b) for b in p.brokers)} ({p.kafka_auth})",
        _msk,
    ),
    Check("API Gateway", (aws_settings.REST,), lambda p, s: p.rest_url, _api_gateway),
    Check(
        "REST proxy (EC2)",
        (aws_settings.EXPORT,),
        lambda p, s: s.kafka_rest_proxy_ec2_host,
        _rest_proxy_ec2,
    ),
)


# --- running ----------------------------------------------------------------------------------


def run_preflight(
    settings: Settings,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    checks: tuple[Check, ...] = CHECKS,
) -> list[Row]:
    """A row per bad variable, then one per check in `checks` order; within ~`deadline_s`."""
    profile = aws_settings.resolve(settings)
    clients = AwsClients(settings)
    _bound_metadata_lookups(clients, step_timeout_s)
    ctx = Context(settings, clients, profile, step_timeout_s)
    masker = Masker.from_settings(settings)
    rows: dict[str, Row] = {}
    threads: list[tuple[Check, threading.Thread]] = []

    # One row per missing or malformed variable, then the checks that need none of them.
    setting_rows = [
        Row("setting", p.variable, False, masker(p.message))
        for p in aws_settings.problems(settings, tuple(g for c in checks for g in c.groups))
    ]
    for check in checks:
        endpoint = masker(_safe_endpoint(check, profile, settings))
        found = aws_settings.problems(settings, check.groups) if check.groups else []
        if found:
            names = ", ".join(p.variable for p in found)
            rows[check.name] = Row(check.name, endpoint, False, f"not tried: set {names}")
            continue

        def work(check: Check = check, endpoint: str = endpoint) -> None:
            try:
                detail = check.run(ctx, check.name)
                rows[check.name] = Row(check.name, endpoint, True, masker(detail))
            except CheckFailed as exc:
                rows[check.name] = Row(
                    check.name, endpoint, False, masker(f"{exc.step}: {exc.fix}")
                )
            except Exception as exc:  # an unexpected failure is still a FAIL row, not a crash
                rows[check.name] = Row(
                    check.name, endpoint, False, masker(f"{type(exc).__name__}: {exc}")
                )

        # Daemon threads: one stuck in a socket call must not keep the process alive.
        thread = threading.Thread(target=work, name=f"preflight-{check.name}", daemon=True)
        thread.start()
        threads.append((check, thread))

    end = time.monotonic() + deadline_s
    for check, thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
        if check.name not in rows:
            step = ctx.steps.get(check.name, "starting")
            rows[check.name] = Row(
                check.name,
                masker(_safe_endpoint(check, profile, settings)),
                False,
                f"timeout: no answer within {deadline_s:g}s during {step}",
            )
    return setting_rows + [rows[c.name] for c in checks]


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="AWS preflight (PIPELINE_TARGET=aws)", show_lines=True)
    table.add_column("check", no_wrap=True)
    table.add_column("endpoint", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("detail / fix", overflow="fold")
    for r in rows:
        style = "green" if r.ok else "red"
        table.add_row(r.check, r.endpoint, f"[{style}]{r.status}[/{style}]", r.detail)
    # Wide when piped, so a log or a test reads each row on one line.
    probe = Console()
    console = Console(width=max(120, probe.width) if probe.is_terminal else 400)
    console.print(table)
    failed = sum(not r.ok for r in rows)
    console.print(f"{len(rows) - failed} OK, {failed} FAIL")


# --- masking ----------------------------------------------------------------------------------

_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12}([A-Z0-9]{4})\b")


def mask_key(key: str) -> str:
    return f"{key[:4]}****{key[-4:]}" if len(key) > 8 else "****"


@dataclass(frozen=True)
class Masker:
    secrets: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Masker:
        values = [
            settings.mysql_password.get_secret_value(),
            settings.mysql_admin_password.get_secret_value(),
            settings.kafka_sasl_password.get_secret_value(),
            os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            os.environ.get("AWS_SESSION_TOKEN", ""),
        ]
        # Longest first, so a secret containing another is replaced whole.
        return cls(tuple(sorted((v for v in values if len(v) >= 4), key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return _ACCESS_KEY.sub(r"\1****\2", text)


def _safe_endpoint(check: Check, profile: AwsProfile, settings: Settings) -> str:
    try:
        return check.endpoint(profile, settings) or "(not set)"
    except (IndexError, ValueError):
        return "(not set)"


def _dotenv_has_aws_keys() -> bool:
    env = Path.cwd() / ".env"
    if not env.is_file():
        env = PROJECT_ROOT / ".env"
    try:
        text = env.read_text(encoding="utf-8")
    except OSError:
        return False
    return bool(re.search(r"^\s*(export\s+)?AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)\s*=", text, re.M))


def _bound_metadata_lookups(clients: AwsClients, timeout_s: float) -> None:
    # botocore asks the instance metadata service for a role when nothing else gave
    # credentials; off EC2 that is a connect to 169.254.169.254 that must not take long.
    session = clients.botocore_session()
    session.set_config_variable("metadata_service_timeout", max(1, int(timeout_s // 2)))
    session.set_config_variable("metadata_service_num_attempts", 1)


def _aws_error_fix(exc: Exception, what: str) -> str:
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    if isinstance(exc, NoCredentialsError) or "credentials" in type(exc).__name__.lower():
        return (
            f"{exc}: export AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
            "with an instance role"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"):
            return f"{code}: the {what} are invalid or expired; refresh them (aws sso login)"
        return f"{code}: {exc}"
    if isinstance(exc, EndpointConnectionError):
        return f"{exc}: check network access to AWS"
    return f"{type(exc).__name__}: {exc}"
