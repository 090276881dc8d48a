"""What PIPELINE_TARGET=aws needs from settings, checked and resolved into AWS endpoints.

The AWS variables are the `Settings` fields marked `aws_variable(...)` in services/settings.py:
their description, example and groups write every message here, the `.env` block and the
list docs/aws.md must cover. `VARIABLES` is a view of those fields, so adding a variable means
adding one field. Format checks that hold for every target are validators on the fields; this
module adds what only AWS needs: set at all, not this machine, an https URL with its stage.

Under `aws` the local defaults (127.0.0.1, the local-only passwords, user id `local`) never
apply: a required variable counts as set only if the environment or `.env` gives it.
`require(settings, *groups)` raises one `AwsSettingsError` naming every missing or malformed
variable those groups need; `problems()` returns the same findings for the preflight table.
It sits beside settings, below the client factory that calls it.
"""

from __future__ import annotations

import ipaddress
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args
from urllib.parse import urlsplit

from pydantic import SecretStr
from pydantic.fields import FieldInfo

# HostPort and REST_PROXY_EC2_PORT are re-exported: the AWS commands resolve with them.
from services.hostport import HostPort as HostPort
from services.hostport import parse_brokers, parse_host_port
from services.settings import REST_PROXY_EC2_PORT as REST_PROXY_EC2_PORT
from services.settings import TABLES, AwsGroup, Settings, SettingsError

# The groups a client or command asks for (see `AwsGroup`).
NAMESPACE: AwsGroup = "namespace"
MYSQL: AwsGroup = "mysql"
MYSQL_ADMIN: AwsGroup = "mysql-admin"
REST: AwsGroup = "rest"
KAFKA: AwsGroup = "kafka"
S3: AwsGroup = "s3"
EXPORT: AwsGroup = "export"
GROUPS: tuple[str, ...] = get_args(AwsGroup)

#: Groups that also need the namespace (topics and bucket are named after the user id).
_NEEDS_NAMESPACE = {REST, KAFKA, S3, EXPORT}


@dataclass(frozen=True)
class Variable:
    """One `Settings` field PIPELINE_TARGET=aws reads, as its `aws_variable` metadata says."""

    name: str
    holds: str
    example: str
    groups: tuple[str, ...]
    #: None: must be set for AWS; else the value used when unset.
    default: str | None
    secret: bool
    #: Required only when KAFKA_AUTH is scram.
    scram_only: bool = False

    @property
    def field(self) -> str:
        return self.name.lower()


def _text(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _variable(field: str, info: FieldInfo) -> Variable | None:
    extra = info.json_schema_extra
    meta = extra.get("aws") if isinstance(extra, dict) else None
    if not isinstance(meta, dict):
        return None
    groups = meta["groups"]
    assert isinstance(groups, list), field
    default = None if meta["required"] else str(meta.get("default", _text(info.default)))
    return Variable(
        name=field.upper(),
        holds=str(info.description),
        example=Settings.example(field),
        groups=tuple(str(g) for g in groups),
        default=default,
        secret=info.annotation is SecretStr,
        scram_only=bool(meta.get("scram_only")),
    )


#: Every AWS variable, in `Settings` field order: derived, never written by hand.
VARIABLES: tuple[Variable, ...] = tuple(
    v for field, info in Settings.model_fields.items() if (v := _variable(field, info))
)

_BY_NAME = {v.name: v for v in VARIABLES}

_EXECUTE_API = re.compile(r"^([a-z0-9]+)\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")
_MSK_HOST = re.compile(r"\.kafka(?:-serverless)?\.([a-z0-9-]+)\.amazonaws\.com$")


@dataclass(frozen=True)
class Problem:
    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


class AwsSettingsError(SettingsError):
    """PIPELINE_TARGET=aws lacks variables or has malformed ones; lists every one."""

    def __init__(self, problems: list[Problem], purpose: str = "PIPELINE_TARGET=aws") -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{purpose} cannot run: set these in the environment or .env "
            f"(documented in .env.example and docs/aws.md):\n{lines}"
        )


@dataclass(frozen=True)
class AwsProfile:
    """Every AWS endpoint, resolved from settings; empty strings where a variable is unset."""

    user_id: str
    region: str
    bucket: str
    mysql: HostPort
    mysql_database: str
    mysql_user: str
    mysql_ssl_ca: str
    rest_url: str
    rest_stage: str
    rest_api_id: str
    brokers: tuple[HostPort, ...]
    kafka_auth: str
    #: The region MSK IAM tokens are signed for: from the broker names, else S3_REGION.
    kafka_region: str
    rest_proxy_ec2: HostPort | None

    @property
    def topics(self) -> list[str]:
        return [f"{self.user_id}.{t}" for t in TABLES]

    @property
    def s3_host(self) -> str:
        """Virtual-hosted address of the bucket."""
        return f"{self.bucket}.s3.{self.region}.amazonaws.com"

    @property
    def sts_host(self) -> str:
        return f"sts.{self.region}.amazonaws.com"


def describe(name: str) -> str:
    """What variable `name` must hold, e.g. an example (from its field)."""
    return Settings.holds(name.lower())


def kafka_auth(settings: Settings) -> str:
    """KAFKA_AUTH under aws: `scram` as given, else `iam`.

    `none` is the local plaintext listener; MSK always needs TLS and, here, a client identity,
    so `none` (which a copied `.env.example` sets) reads as the AWS default.
    """
    return "scram" if settings.kafka_auth == "scram" else "iam"


def local_default(name: str) -> str:
    """The local default of a settings variable, as text."""
    return _text(Settings.model_fields[name.lower()].default)


def resolve(settings: Settings) -> AwsProfile:
    """The AWS endpoints these settings name; never raises (see `problems`)."""
    rest = urlsplit(settings.rest_proxy_url.strip())
    api = _EXECUTE_API.match(rest.hostname or "")
    brokers = tuple(parse_brokers(settings.kafka_bootstrap_servers)[0])
    kafka_region = settings.s3_region
    for b in brokers:
        if m := _MSK_HOST.search(b.host):
            kafka_region = m.group(1)
            break
    ec2 = parse_host_port(settings.kafka_rest_proxy_ec2_host, REST_PROXY_EC2_PORT)
    return AwsProfile(
        user_id=settings.pipeline_user_id,
        region=settings.s3_region,
        bucket=settings.bucket,
        mysql=HostPort(settings.mysql_host, settings.mysql_port),
        mysql_database=settings.mysql_database,
        mysql_user=settings.mysql_user,
        mysql_ssl_ca=settings.mysql_ssl_ca,
        rest_url=settings.rest_proxy_url.strip().rstrip("/"),
        rest_stage=rest.path.strip("/"),
        rest_api_id=api.group(1) if api else "",
        brokers=brokers,
        kafka_auth=kafka_auth(settings),
        kafka_region=kafka_region,
        rest_proxy_ec2=ec2 if isinstance(ec2, HostPort) else None,
    )


def problems(settings: Settings, groups: tuple[str, ...] = GROUPS) -> list[Problem]:
    """Every missing or malformed variable the given groups need, in `VARIABLES` order."""
    wanted = set(groups)
    if wanted & _NEEDS_NAMESPACE:
        wanted.add(NAMESPACE)
    found: list[Problem] = []
    for var in VARIABLES:
        if wanted.isdisjoint(var.groups):
            continue
        message = _check(settings, var)
        if message:
            found.append(Problem(var.name, message))
    return found


def require(settings: Settings, *groups: str, purpose: str = "PIPELINE_TARGET=aws") -> AwsProfile:
    """The resolved profile, or one `AwsSettingsError` listing every problem in `groups`."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown AWS variable groups {sorted(unknown)}: use {GROUPS}")
    found = problems(settings, groups or GROUPS)
    if found:
        raise AwsSettingsError(found, purpose)
    return resolve(settings)


# --- what only AWS needs (format checks that always hold are validators on the fields) -------


def _check(settings: Settings, var: Variable) -> str:
    """'' when the variable is fine, else what is wrong and what it should hold."""
    text = _text(getattr(settings, var.field))
    # A local default never names an AWS resource, even when a copied .env.example repeats it.
    given = (
        var.field in settings.model_fields_set
        and text.strip() != ""
        and text.strip() != local_default(var.name)
    )
    if var.scram_only:
        if kafka_auth(settings) == "scram" and not text:
            return f"not set, and KAFKA_AUTH=scram needs it: it must hold {describe(var.name)}"
        return ""
    if var.default is None and not given:
        if var.field in settings.model_fields_set and text.strip():
            shown = "the value" if var.secret else repr(text)
            return f"{shown} is the local default: it must hold {describe(var.name)}"
        return f"not set: it must hold {describe(var.name)}"
    checker = _AWS_CHECKS.get(var.name)
    return checker(text.strip()) if checker else ""


def _check_mysql_host(value: str) -> str:
    if _is_loopback(value):
        return f"{value} is this machine, not RDS: it must hold {describe('MYSQL_HOST')}"
    return ""


def _check_ssl_ca(value: str) -> str:
    if value and not Path(value).expanduser().is_file():
        return f"{value} is not a file: download the RDS CA bundle and give its path"
    return ""


def _check_rest_url(value: str) -> str:
    parts = urlsplit(value)
    example = _BY_NAME["REST_PROXY_URL"].example
    if parts.scheme != "https" or not parts.hostname:
        return (
            f"{_mask_url(value)!r} is not an https URL: it must hold {describe('REST_PROXY_URL')}"
        )
    if _is_loopback(parts.hostname):
        return f"{parts.hostname} is this machine, not API Gateway: it must hold e.g. {example}"
    stage = parts.path.strip("/")
    if _EXECUTE_API.match(parts.hostname) and not stage:
        # Without the stage API Gateway answers 403 "Missing Authentication Token".
        return (
            f"{value!r} lacks the stage: it must be https://<api-id>.execute-api.<region>"
            f".amazonaws.com/<stage>, e.g. {example}"
        )
    if "topics" in stage.split("/"):
        return f"{value!r} includes /topics: end it at the stage, e.g. {example}"
    return ""


def _check_brokers(value: str) -> str:
    # The host:port format is the field's validator; here only: not this machine.
    if all(_is_loopback(b.host) for b in parse_brokers(value)[0]):
        return (
            f"{value} is this machine, not MSK: it must hold {describe('KAFKA_BOOTSTRAP_SERVERS')}"
        )
    return ""


_AWS_CHECKS: dict[str, Callable[[str], str]] = {
    "MYSQL_HOST": _check_mysql_host,
    "MYSQL_SSL_CA": _check_ssl_ca,
    "REST_PROXY_URL": _check_rest_url,
    "KAFKA_BOOTSTRAP_SERVERS": _check_brokers,
}


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "0.0.0.0"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":****@")
    return url


# --- documentation ----------------------------------------------------------------------------

ENV_HEADER = "# ---- AWS (PIPELINE_TARGET=aws) ----"


def env_example_block() -> str:
    """The `.env.example` block for AWS, written from the fields (a test keeps them equal)."""

    def comment(text: str) -> list[str]:
        return textwrap.wrap(
            text, 92, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
        )

    lines = [ENV_HEADER + "-" * (92 - len(ENV_HEADER))]
    lines += comment(
        "Uncomment in your .env to run the same code against your AWS account (docs/aws.md). "
        "These lines come last, so they override the local values above. Under aws the "
        "local defaults never apply: each variable marked 'required' must be set, and "
        "`make check-aws` says which are missing."
    )
    lines += comment(
        "AWS credentials are not settings: the AWS SDKs read them from your shell "
        "environment (AWS_PROFILE, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / "
        "AWS_SESSION_TOKEN), your ~/.aws profile or the instance role; never from this file "
        "or the repository."
    )
    lines += comment(
        "Ignored under aws: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY (real S3 has no "
        "endpoint override and uses the credential chain) and KAFKA_CONNECT_URL (MSK "
        "Connect is configured from `make export-aws`)."
    )
    lines.append("# PIPELINE_TARGET=aws")
    for var in VARIABLES:
        if var.default is not None:
            kind = f"default {var.default or 'empty'}"
        elif var.groups == (MYSQL_ADMIN,):
            kind = "required by `make seed` only"
        elif var.groups == (EXPORT,):
            kind = "required by `make export-aws` and `make check-aws`"
        else:
            kind = "required"
        if var.secret:
            kind += "; a secret: better exported in your shell than written here"
        lines.append("#")
        lines += comment(f"{var.name} ({kind}): {var.holds}.")
        value = var.example if var.default is None else var.default
        lines.append(f"# {var.name}={'' if var.secret else value}")
    return "\n".join(lines) + "\n"
