"""Clients for real AWS: RDS, MSK, API Gateway and S3, credentials from the standard AWS chain.

Nothing here reads a credentials file from the repository. botocore's default chain
(environment, shared profile incl. SSO and assume-role, container or instance role) supplies
credentials to every client: S3 (through `BotocoreChainProvider`), MSK IAM tokens, STS.
Spark's `s3a` uses the Java SDK's equivalent chain.

Each client checks only the variables it needs (`services.aws_settings.require`), so a Spark
job that reads S3 does not need MSK settings; a missing one raises one `AwsSettingsError`
naming every variable that client lacks and what it must hold.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit

import botocore.session
import certifi
import requests
import urllib3
from botocore.config import Config
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from minio import Minio
from minio.credentials.credentials import Credentials
from minio.credentials.providers import Provider
from pymysql.connections import CLIENT, Connection
from sqlalchemy import Engine, event

from services import aws_settings as aws_profile
from services.aws_settings import AwsProfile
from services.clients.base import ClientFactory, Missing, SparkOptions
from services.settings import Settings, SettingsError

#: The Java client's MSK IAM login module. Only its own jar (`nodeps`): the AWS SDK v2 classes
#: it uses come from the SDK bundle hadoop-aws already puts on Spark's class path, so there is
#: one AWS SDK in the JVM, not two of different versions.
MSK_IAM_AUTH_JAR = "software.amazon.msk:aws-msk-iam-auth:2.4.0:nodeps"


class AwsCredentialsError(SettingsError):
    """The standard AWS credential chain found nothing."""


def endpoint_override(settings: Settings, service: str) -> SplitResult | None:
    """AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_S3 parsed, or None for AWS's own endpoint."""
    variable = f"AWS_ENDPOINT_URL_{service.upper()}"
    url = str(getattr(settings, variable.lower(), "")).strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise SettingsError(
            f"{variable}={url!r} is not an endpoint URL: give scheme, host and optional port "
            f"only, e.g. https://{service}.eu-west-1.amazonaws.com, or leave it empty for "
            "AWS's own endpoint"
        )
    return parts


class InsecureMySQLError(ConnectionError):
    """The MySQL server offered no TLS; we refuse to log in in plaintext."""


class AwsClients(ClientFactory):
    target = "aws"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._botocore: botocore.session.Session | None = None
        self._lock = threading.Lock()

    def profile(self, *groups: str) -> AwsProfile:
        return aws_profile.require(self.settings, *groups)

    # --- credentials ----------------------------------------------------------------------
    def botocore_session(self) -> botocore.session.Session:
        """One botocore session: it caches and refreshes the chain's credentials."""
        with self._lock:
            if self._botocore is None:
                self._botocore = botocore.session.Session()
            return self._botocore

    def botocore_client(self, service: str, *, timeout_s: float = 10.0) -> Any:
        """A botocore client in S3_REGION with bounded timeouts and no retries on top."""
        config = Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        region = self.settings.s3_region
        override = endpoint_override(self.settings, service) if service in ("sts", "s3") else None
        return self.botocore_session().create_client(
            service,
            region_name=region,
            config=config,
            endpoint_url=override.geturl() if override else None,
        )

    # --- MySQL (RDS) ----------------------------------------------------------------------
    def mysql_url(self, *, admin: bool = False, database: bool = True) -> str:
        self.profile(aws_profile.MYSQL_ADMIN if admin else aws_profile.MYSQL)
        return super().mysql_url(admin=admin, database=database)

    def mysql_connect_args(self) -> dict[str, Any]:
        return {"ssl": self.mysql_tls_context()}

    def mysql_tls_context(self) -> ssl.SSLContext:
        """TLS 1.2+; verified against MYSQL_SSL_CA when given, like `--ssl-mode=VERIFY_IDENTITY`.

        RDS certificates chain to AWS's own RDS root, which no system store holds, so without
        the bundle we encrypt without verifying (MySQL's `--ssl-mode=REQUIRED`).
        """
        ca = self.settings.mysql_ssl_ca
        ctx = ssl.create_default_context(cafile=ca or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if not ca:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def mysql_engine(self, *, admin: bool = False, database: bool = True, **kw: Any) -> Engine:
        engine = super().mysql_engine(admin=admin, database=database, **kw)

        # PyMySQL silently falls back to plaintext when the server offers no TLS; build the
        # connection ourselves so that case fails before any credential is sent.
        @event.listens_for(engine, "do_connect")
        def _tls_only(_dialect: Any, _rec: Any, cargs: Any, cparams: Any) -> Connection:
            return TlsOnlyConnection(*cargs, **cparams)

        return engine

    # --- Kafka (MSK) ----------------------------------------------------------------------
    def kafka_config(self) -> dict[str, Any]:
        p = self.profile(aws_profile.KAFKA)
        s = self.settings
        conf: dict[str, Any] = {
            "bootstrap.servers": ",".join(str(b) for b in p.brokers),
            # The wheel's bundled OpenSSL may not find the system store; MSK's certificates
            # chain to Amazon Trust Services, which certifi holds.
            "ssl.ca.location": certifi.where(),
            "client.id": f"pinterest-pipeline-{p.user_id}",
        }
        if p.kafka_auth == "iam":
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": "OAUTHBEARER",
                    "oauth_cb": msk_iam_token_provider(p.kafka_region),
                }
            )
        else:
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": "SCRAM-SHA-512",
                    "sasl.username": s.kafka_sasl_username,
                    "sasl.password": s.kafka_sasl_password.get_secret_value(),
                }
            )
        return conf

    def spark_kafka_options(self) -> SparkOptions:
        p = self.profile(aws_profile.KAFKA)
        s = self.settings
        options = SparkOptions(
            {
                "kafka.bootstrap.servers": ",".join(str(b) for b in p.brokers),
                # TLS verified against the JVM's trust store, which holds Amazon's roots.
                "kafka.security.protocol": "SASL_SSL",
            }
        )
        if p.kafka_auth == "iam":
            # The Java side of MSK IAM: the login module signs with the default AWS chain.
            options.update(
                {
                    "kafka.sasl.mechanism": "AWS_MSK_IAM",
                    "kafka.sasl.jaas.config": (
                        "software.amazon.msk.auth.iam.IAMLoginModule required;"
                    ),
                    "kafka.sasl.client.callback.handler.class": (
                        "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
                    ),
                }
            )
        else:
            user = _jaas_quoted(s.kafka_sasl_username)
            secret = _jaas_quoted(s.kafka_sasl_password.get_secret_value())
            options.update(
                {
                    "kafka.sasl.mechanism": "SCRAM-SHA-512",
                    "kafka.sasl.jaas.config": (
                        "org.apache.kafka.common.security.scram.ScramLoginModule required "
                        f"username={user} password={secret};"
                    ),
                }
            )
        return options

    def spark_kafka_jars(self) -> tuple[str, ...]:
        if self.profile(aws_profile.KAFKA).kafka_auth == "iam":
            return (MSK_IAM_AUTH_JAR,)
        return ()

    # librdkafka asks `oauth_cb` for an MSK IAM token only while the application polls; an
    # AdminClient whose first call is list_topics() would wait for a token that never comes.
    # One poll(0) right after construction serves the request. Long-lived clients must keep
    # polling (producers and consumers do anyway) so the token is refreshed.
    def kafka_producer(self, **overrides: Any) -> Producer:
        return _with_token(super().kafka_producer(**overrides))

    def kafka_consumer(self, group_id: str, **overrides: Any) -> Consumer:
        return _with_token(super().kafka_consumer(group_id, **overrides))

    def kafka_admin(self, **overrides: Any) -> AdminClient:
        return _with_token(super().kafka_admin(**overrides))

    # --- S3 -------------------------------------------------------------------------------
    def s3(self) -> Minio:
        p = self.profile(aws_profile.S3)
        # Without AWS_ENDPOINT_URL_S3: AWS's regional endpoint, TLS, virtual-hosted addressing
        # (the SDK picks it for AWS hosts). Timeouts bounded: the SDK's default is 5 minutes.
        override = endpoint_override(self.settings, "s3")
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=60),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        return Minio(
            override.netloc if override else "s3.amazonaws.com",
            region=p.region,
            secure=override.scheme == "https" if override else True,
            http_client=http,
            credentials=BotocoreChainProvider(self.botocore_session),
        )

    def spark_s3a_conf(self) -> dict[str, str]:
        p = self.profile(aws_profile.S3)
        # No fs.s3a.endpoint unless AWS_ENDPOINT_URL_S3 is set: s3a derives the regional
        # endpoint from the region. The Java SDK's default chain reads the same sources as
        # botocore's (env, profile, role).
        conf = {
            "fs.s3a.endpoint.region": p.region,
            "fs.s3a.path.style.access": "false",
            "fs.s3a.connection.ssl.enabled": "true",
            "fs.s3a.aws.credentials.provider": (
                "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
            ),
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        }
        override = endpoint_override(self.settings, "s3")
        if override:
            # A stand-in or VPC endpoint: addressed by path, TLS only if the URL says https.
            conf["fs.s3a.endpoint"] = override.geturl()
            conf["fs.s3a.path.style.access"] = "true"
            conf["fs.s3a.connection.ssl.enabled"] = str(override.scheme == "https").lower()
        return conf

    # --- API Gateway ----------------------------------------------------------------------
    def rest_proxy_url(self) -> str:
        return self.profile(aws_profile.REST).rest_url

    def rest_session(self) -> requests.Session:
        session = super().rest_session()
        # API Gateway's certificates chain to Amazon Trust Services: verify with certifi's
        # bundle, like every other AWS client here, not whatever the host happens to hold.
        session.verify = certifi.where()
        return session

    # --- what to tell the user ------------------------------------------------------------
    def setup_hint(self, missing: Missing) -> str:
        # Nothing is created for the user on AWS: name the resource, the settings that
        # name it, and the check that shows which step fails.
        s = self.settings
        check = "`make check-aws` shows which step fails"
        user = f"PIPELINE_USER_ID={s.pipeline_user_id}"
        topics = (
            "create them on the MSK cluster (kafka-topics.sh --create on the client machine, "
            "with the client.properties `make export-aws` writes), or check "
            f"{user} and KAFKA_BOOTSTRAP_SERVERS"
        )
        hints: dict[Missing, str] = {
            "s3": (
                f"check S3_REGION={s.s3_region} (and AWS_ENDPOINT_URL_S3 if set) and the AWS "
                f"credentials in your shell; {check}"
            ),
            "kafka": (
                "MSK answers only inside its VPC: run from a machine there, and check "
                f"KAFKA_BOOTSTRAP_SERVERS and KAFKA_AUTH={aws_profile.kafka_auth(s)} (the IAM "
                f"policy or the SCRAM secret); {check}"
            ),
            "rest": (
                "check REST_PROXY_URL is the API Gateway invoke URL with its stage, that the "
                f"API is deployed and the REST proxy on EC2 runs; {check}"
            ),
            "mysql": (
                "check MYSQL_HOST is the RDS endpoint and its security group admits this "
                f"machine, and MYSQL_USER and MYSQL_PASSWORD; {check}"
            ),
            "bucket": (
                f"create it in {s.s3_region} (aws s3 mb s3://{s.bucket} --region {s.s3_region}), "
                f"or check {user} (the bucket is user-<id>-bucket) and S3_REGION; {check}"
            ),
            "topics": f"{topics}; {check}",
            "streaming-topics": f"{topics}; {check}",
            "streams": (
                f"create the Kinesis streams streaming-{s.pipeline_user_id}-<table> and import "
                "the /streams routes `make export-aws` writes (docs/kinesis.md, On AWS), or "
                f"check {user}; {check}"
            ),
        }
        return hints[missing]


class BotocoreChainProvider(Provider):
    """minio credentials from botocore's default chain (which caches and refreshes them)."""

    def __init__(self, session: Any) -> None:
        # A callable, so building the S3 client never touches the chain (or the network).
        self._session = session

    def retrieve(self) -> Credentials:
        creds = self._session().get_credentials()
        if creds is None:
            raise AwsCredentialsError(
                "no AWS credentials found in the standard chain: export AWS_PROFILE (after "
                "`aws configure` or `aws sso login`) or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY in your shell, or run on an instance with a role. "
                "The SDKs do not read .env"
            )
        frozen = creds.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


class TlsOnlyConnection(Connection):
    """A PyMySQL connection that refuses a server without TLS instead of downgrading."""

    def _request_authentication(self) -> None:
        # Runs right after the server greeting, before the login packet (PyMySQL 1.1).
        capabilities: int = getattr(self, "server_capabilities", 0)
        if self.ssl and not capabilities & CLIENT.SSL:
            raise InsecureMySQLError(
                f"MySQL at {self.host}:{self.port} offers no TLS; PIPELINE_TARGET=aws never "
                "logs in in plaintext: check MYSQL_HOST is the RDS endpoint"
            )
        super()._request_authentication()  # type: ignore[misc]


def _jaas_quoted(value: str) -> str:
    """A JAAS option value in double quotes; Kafka's JAAS parser reads backslash escapes."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_Client = TypeVar("_Client", Producer, Consumer, AdminClient)


def _with_token(client: _Client) -> _Client:
    # Serves the token request librdkafka queued at construction (a no-op without oauth_cb;
    # on a consumer with no subscription it returns no message).
    client.poll(0)
    return client


def msk_iam_token_provider(region: str) -> Any:
    """confluent-kafka `oauth_cb`: a SigV4-signed MSK IAM token from the default chain."""

    def oauth_cb(_config: str) -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000

    return oauth_cb
