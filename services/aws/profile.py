"""What PIPELINE_TARGET=aws needs from settings, resolved into AWS endpoints and checked.

`VARIABLES` is the one list of AWS variables: what each holds, an example and its default.
The `.env` block, docs/aws.md and every error message are written from it.

Under `aws` the local defaults (127.0.0.1, the local-only passwords, user id `local`) never
apply: a required variable counts as set only if the environment or `.env` gives it.
`require(settings, *groups)` raises one `AwsSettingsError` naming every missing or malformed
variable those groups need; `problems()` returns the same findings for the preflight table.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from services.settings import TABLES, Settings, SettingsError

# Which client or command needs a variable. A Spark job on Databricks needs S3 only, the
# emulator MySQL and the REST URL: each asks for its own groups, not for everything.
NAMESPACE = "namespace"
MYSQL = "mysql"
MYSQL_ADMIN = "mysql-admin"
REST = "rest"
KAFKA = "kafka"
S3 = "s3"
EXPORT = "export"
GROUPS: tuple[str, ...] = (NAMESPACE, MYSQL, MYSQL_ADMIN, REST, KAFKA, S3, EXPORT)

#: Groups that also need the namespace (topics and bucket are named after the user id).
_NEEDS_NAMESPACE = {REST, KAFKA, S3, EXPORT}

REST_PROXY_EC2_PORT = 8082


@dataclass(frozen=True)
class Variable:
    name: str
    holds: str
    example: str
    groups: tuple[str, ...]
    #: None: must be set for AWS; else the value used when unset.
    default: str | None = None
    secret: bool = False

    @property
    def field(self) -> str:
        return self.name.lower()


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "PIPELINE_USER_ID",
        "your user id from the AWS account: it names the topics <id>.pin, <id>.geo, "
        "<id>.user and the bucket user-<id>-bucket",
        "0a1b2c3d4e5f",
        (NAMESPACE,),
    ),
    Variable(
        "S3_REGION",
        "the AWS region of the bucket (and of MSK when the broker names do not say)",
        "us-east-1",
        (S3, NAMESPACE),
        default="us-east-1",
    ),
    Variable(
        "MYSQL_HOST",
        "the RDS endpoint host name (RDS console, Connectivity & security, Endpoint)",
        "pinterest-db.abc123xyz.us-east-1.rds.amazonaws.com",
        (MYSQL, MYSQL_ADMIN),
    ),
    Variable("MYSQL_PORT", "the RDS port", "3306", (MYSQL, MYSQL_ADMIN), default="3306"),
    Variable(
        "MYSQL_DATABASE",
        "the database holding pinterest_data, geolocation_data and user_data",
        "pinterest_data",
        (MYSQL, MYSQL_ADMIN),
        default="pinterest_data",
    ),
    Variable("MYSQL_USER", "the RDS user the emulator reads with", "admin", (MYSQL,)),
    Variable(
        "MYSQL_PASSWORD",
        "the password of MYSQL_USER",
        "<from your secret store>",
        (MYSQL,),
        secret=True,
    ),
    Variable(
        "MYSQL_SSL_CA",
        "path to the RDS CA bundle (global-bundle.pem from AWS), outside the repository; "
        "empty: TLS encrypts but does not verify the server",
        "/home/me/.aws/rds-global-bundle.pem",
        (MYSQL, MYSQL_ADMIN),
        default="",
    ),
    Variable(
        "MYSQL_ADMIN_USER",
        "an RDS user allowed to create and load the tables (only for `make seed`)",
        "admin",
        (MYSQL_ADMIN,),
    ),
    Variable(
        "MYSQL_ADMIN_PASSWORD",
        "the password of MYSQL_ADMIN_USER",
        "<from your secret store>",
        (MYSQL_ADMIN,),
        secret=True,
    ),
    Variable(
        "REST_PROXY_URL",
        "the API Gateway invoke URL including its stage; paths /topics/<id>.<table> are "
        "appended to it",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
        (REST,),
    ),
    Variable(
        "KAFKA_BOOTSTRAP_SERVERS",
        "the MSK bootstrap brokers, comma-separated host:port (MSK console, View client "
        "information): port 9098 for IAM, 9096 for SCRAM",
        "b-1.pinterest.abc123.c2.kafka.us-east-1.amazonaws.com:9098,"
        "b-2.pinterest.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
        (KAFKA,),
    ),
    Variable(
        "KAFKA_AUTH",
        "how Kafka clients authenticate to MSK: iam (OAUTHBEARER signed with your AWS "
        "credentials; also what the local value none means under aws) or scram "
        "(SASL/SCRAM-SHA-512)",
        "iam",
        (KAFKA,),
        default="iam",
    ),
    Variable(
        "KAFKA_SASL_USERNAME",
        "the SCRAM user of the MSK secret (only when KAFKA_AUTH is scram)",
        "pinterest",
        (KAFKA,),
        default="",
    ),
    Variable(
        "KAFKA_SASL_PASSWORD",
        "the SCRAM password of the MSK secret (only when KAFKA_AUTH is scram)",
        "<from your secret store>",
        (KAFKA,),
        default="",
        secret=True,
    ),
    Variable(
        "KAFKA_REST_PROXY_EC2_HOST",
        "public DNS name of the EC2 instance running the Confluent REST proxy (host or "
        f"host:port, port {REST_PROXY_EC2_PORT} by default): API Gateway forwards to it",
        "ec2-3-80-1-2.compute-1.amazonaws.com",
        (EXPORT,),
    ),
)

_BY_NAME = {v.name: v for v in VARIABLES}

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
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
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


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
    v = _BY_NAME[name]
    return f"{v.holds}, e.g. {v.example}"


def kafka_auth(settings: Settings) -> str:
    """KAFKA_AUTH under aws: `scram` as given, else `iam`.

    `none` is the local plaintext listener; MSK always needs TLS and, here, a client identity,
    so `none` (which a copied `.env.example` sets) reads as the AWS default.
    """
    return "scram" if settings.kafka_auth == "scram" else "iam"


def local_default(name: str) -> str:
    """The local default of a settings variable, as text."""
    default = Settings.model_fields[name.lower()].default
    return default.get_secret_value() if hasattr(default, "get_secret_value") else str(default)


def resolve(settings: Settings) -> AwsProfile:
    """The AWS endpoints these settings name; never raises (see `problems`)."""
    rest = urlsplit(settings.rest_proxy_url.strip())
    api = _EXECUTE_API.match(rest.hostname or "")
    brokers = tuple(_parse_brokers(settings.kafka_bootstrap_servers)[0])
    kafka_region = settings.s3_region
    for b in brokers:
        if m := _MSK_HOST.search(b.host):
            kafka_region = m.group(1)
            break
    ec2 = _parse_host_port(settings.kafka_rest_proxy_ec2_host, REST_PROXY_EC2_PORT)
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
        message = _check(settings, var, wanted)
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


# --- checks, one per variable ---------------------------------------------------------------


def _check(settings: Settings, var: Variable, wanted: set[str]) -> str:
    """'' when the variable is fine, else what is wrong and what it should hold."""
    value = getattr(settings, var.field)
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    # A local default never names an AWS resource, even when a copied .env.example repeats it.
    given = (
        var.field in settings.model_fields_set
        and text.strip() != ""
        and text.strip() != local_default(var.name)
    )
    missing = f"not set: it must hold {describe(var.name)}"

    if var.name == "KAFKA_SASL_USERNAME" or var.name == "KAFKA_SASL_PASSWORD":
        if kafka_auth(settings) == "scram" and not text:
            return f"not set, and KAFKA_AUTH=scram needs it: it must hold {describe(var.name)}"
        return ""
    if var.default is None and not given:
        if var.field in settings.model_fields_set and text.strip():
            return f"{_shown(var, text)} is the local default: it must hold {describe(var.name)}"
        return missing
    checker = _CHECKERS.get(var.name)
    return checker(text.strip()) if checker else ""


def _shown(var: Variable, text: str) -> str:
    return "the value" if var.secret else repr(text)


def _check_region(value: str) -> str:
    if not _REGION.match(value):
        return f"{value!r} is not an AWS region: it must hold {describe('S3_REGION')}"
    return ""


def _check_mysql_host(value: str) -> str:
    if _is_loopback(value):
        return f"{value} is this machine, not RDS: it must hold {describe('MYSQL_HOST')}"
    if "://" in value or "/" in value:
        return f"{value!r} is a URL: give the host name only, e.g. {_BY_NAME['MYSQL_HOST'].example}"
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
    brokers, errors = _parse_brokers(value)
    if errors:
        return f"{'; '.join(errors)}: it must hold {describe('KAFKA_BOOTSTRAP_SERVERS')}"
    if all(_is_loopback(b.host) for b in brokers):
        return (
            f"{value} is this machine, not MSK: it must hold {describe('KAFKA_BOOTSTRAP_SERVERS')}"
        )
    return ""


def _check_ec2_host(value: str) -> str:
    parsed = _parse_host_port(value, REST_PROXY_EC2_PORT)
    if isinstance(parsed, str):
        return f"{parsed}: it must hold {describe('KAFKA_REST_PROXY_EC2_HOST')}"
    return ""


_CHECKERS = {
    "S3_REGION": _check_region,
    "MYSQL_HOST": _check_mysql_host,
    "MYSQL_SSL_CA": _check_ssl_ca,
    "REST_PROXY_URL": _check_rest_url,
    "KAFKA_BOOTSTRAP_SERVERS": _check_brokers,
    "KAFKA_REST_PROXY_EC2_HOST": _check_ec2_host,
}


# --- parsing --------------------------------------------------------------------------------


def _parse_brokers(value: str) -> tuple[list[HostPort], list[str]]:
    brokers: list[HostPort] = []
    errors: list[str] = []
    for item in (p.strip() for p in value.split(",")):
        if not item:
            continue
        parsed = _parse_host_port(item, None)
        if isinstance(parsed, str):
            errors.append(parsed)
        else:
            brokers.append(parsed)
    if not brokers and not errors:
        errors.append("no brokers given")
    return brokers, errors


def _parse_host_port(value: str, default_port: int | None) -> HostPort | str:
    """A HostPort, or what is wrong with `value` (a str)."""
    value = value.strip()
    if not value:
        return "empty"
    if "://" in value or "/" in value:
        return f"{value!r} is a URL, not host[:port]"
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, ""
    if not port:
        if default_port is None:
            return f"{value!r} lacks :<port>"
        return HostPort(host, default_port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"{value!r} has no valid port"
    if not host:
        return f"{value!r} has no host"
    return HostPort(host, int(port))


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
    """The `.env.example` block for AWS, written from `VARIABLES` (a test keeps them equal)."""
    import textwrap

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
