"""The interface both client factories implement, and what they share."""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Literal
from urllib.parse import quote_plus

import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from minio import Minio
from sqlalchemy import Engine, create_engine

from services.settings import Settings

#: What `setup_hint` explains: a service that did not answer (s3, kafka, rest, mysql) or a
#: resource of the namespace that does not exist (the bucket, the batch or streaming topics,
#: the Kinesis streams behind REST_PROXY_URL's /streams routes).
Missing = Literal["s3", "kafka", "rest", "mysql", "bucket", "topics", "streaming-topics", "streams"]


class SparkOptions(dict[str, str]):
    """Spark reader options whose repr hides credentials, so logging them leaks nothing."""

    #: Options whose values may carry a secret (a JAAS line holds the SCRAM password).
    SECRET_KEYS = frozenset({"kafka.sasl.jaas.config", "kafka.ssl.key.password"})

    def __repr__(self) -> str:
        shown = {k: "<hidden>" if k in self.SECRET_KEYS else v for k, v in self.items()}
        return repr(shown)

    __str__ = __repr__


class ClientFactory(abc.ABC):
    """Builds every client the pipeline uses, for one target."""

    #: The PIPELINE_TARGET this factory serves.
    target: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- MySQL --------------------------------------------------------------------------
    def mysql_url(self, *, admin: bool = False, database: bool = True) -> str:
        s = self.settings
        user = s.mysql_admin_user if admin else s.mysql_user
        secret = s.mysql_admin_password if admin else s.mysql_password
        db = f"/{s.mysql_database}" if database else "/"
        return (
            f"mysql+pymysql://{quote_plus(user)}:{quote_plus(secret.get_secret_value())}"
            f"@{s.mysql_host}:{s.mysql_port}{db}?charset=utf8mb4"
        )

    def mysql_engine(self, *, admin: bool = False, database: bool = True, **kw: Any) -> Engine:
        """A pooled SQLAlchemy engine (PyMySQL driver)."""
        kw.setdefault("pool_pre_ping", True)
        kw.setdefault("connect_args", {"connect_timeout": 5, **self.mysql_connect_args()})
        return create_engine(self.mysql_url(admin=admin, database=database), **kw)

    def mysql_connect_args(self) -> dict[str, Any]:
        return {}

    # --- Kafka --------------------------------------------------------------------------
    @abc.abstractmethod
    def kafka_config(self) -> dict[str, Any]:
        """librdkafka settings shared by producers, consumers and admin clients."""

    def kafka_producer(self, **overrides: Any) -> Producer:
        # acks=all + idempotence: a retried send never doubles a record in the log.
        conf = {
            **self.kafka_config(),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            **overrides,
        }
        return Producer(conf)

    def kafka_consumer(self, group_id: str, **overrides: Any) -> Consumer:
        conf = {
            **self.kafka_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **overrides,
        }
        return Consumer(conf)

    def kafka_admin(self, **overrides: Any) -> AdminClient:
        return AdminClient({**self.kafka_config(), **overrides})

    @abc.abstractmethod
    def spark_kafka_options(self) -> SparkOptions:
        """Spark's Kafka source options: the Java client's settings, `kafka.`-prefixed.

        Not a translation of `kafka_config()`: librdkafka's SASL callbacks (MSK IAM tokens)
        have no Java equivalent, so each target writes the Java client's own settings.
        """

    def spark_kafka_jars(self) -> tuple[str, ...]:
        """Maven coordinates the Java Kafka client needs on top of Spark's Kafka connector."""
        return ()

    # --- S3 -----------------------------------------------------------------------------
    @abc.abstractmethod
    def s3(self) -> Minio:
        """An S3 client (the minio SDK speaks to any S3-compatible server)."""

    @abc.abstractmethod
    def spark_s3a_conf(self) -> dict[str, str]:
        """Hadoop `s3a` settings for Spark (`spark.hadoop.fs.s3a.*`)."""

    # --- HTTP endpoints -----------------------------------------------------------------
    def rest_proxy_url(self) -> str:
        """The Confluent-style REST API (and its /streams routes): the local proxy, or the
        API Gateway invoke URL with its stage."""
        return self.settings.rest_proxy_url.rstrip("/")

    def legacy_api_url(self) -> str:
        """The original project's API (local only: AWS has no stand-in for it)."""
        return self.settings.legacy_api_url.rstrip("/")

    def rest_session(self) -> requests.Session:
        """An HTTP session for `rest_proxy_url()`: one per thread (sessions are not thread-safe)."""
        session = requests.Session()
        session.headers["User-Agent"] = f"pinterest-pipeline/{self.target}"
        return session

    # --- what to tell the user ------------------------------------------------------------
    @abc.abstractmethod
    def setup_hint(self, missing: Missing) -> str:
        """How to fix a service that did not answer or a resource that is missing, on this
        target: locally `make up` starts and creates everything; on AWS the user does."""
