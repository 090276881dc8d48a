"""Readiness probes: each asks its server a real question and returns a one-line detail.

A probe raises `ProbeError` (with the server's own words) until the service is healthy.
`wait_until` polls a probe with a deadline; it never sleeps in place of a probe.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from services.clients import clients_for
from services.settings import Settings

#: The project's own connector (connect/s3-sink), which `make up` builds into plugin.path.
S3_SINK_CONNECTOR_CLASS = "local.pipeline.connect.s3.S3SinkConnector"


class ProbeError(RuntimeError):
    pass


Probe = Callable[[Settings], str]


def mysql_socket(settings: Settings) -> str:
    """Native MariaDB, as the stack's superuser over its unix socket (before any TCP
    account exists)."""
    import pymysql

    from services.stack import mysql_layout

    sock = mysql_layout.socket_path(settings)
    try:
        conn = mysql_layout.connect_superuser(settings, timeout=2)
    except pymysql.MySQLError as exc:
        raise ProbeError(f"socket {sock}: {exc}") from None
    with conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return f"MariaDB {row[0] if row else '?'}"


def mysql_tcp(settings: Settings) -> str:
    import pymysql

    try:
        conn = pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user=settings.mysql_admin_user,
            password=settings.mysql_admin_password.get_secret_value(),
            connect_timeout=2,
        )
    except pymysql.MySQLError as exc:
        raise ProbeError(str(exc)) from None
    with conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION(), (SELECT COUNT(*) FROM information_schema.schemata)")
        row = cur.fetchone()
    assert row is not None
    return f"{row[0]}, {row[1]} schemas"


def kafka(settings: Settings) -> str:
    from confluent_kafka import KafkaException

    admin = clients_for(settings).kafka_admin(
        # A probe expects refusals while the broker starts: keep librdkafka's log quiet.
        **{"socket.connection.setup.timeout.ms": 2000, "log_level": 0}
    )
    try:
        md = admin.list_topics(timeout=3)
    except KafkaException as exc:
        raise ProbeError(str(exc.args[0])) from None
    if not md.brokers:
        raise ProbeError("no broker in metadata")
    topics = [t for t in md.topics if not t.startswith("_")]
    return f"{len(md.brokers)} broker, {len(topics)} topics"


def _http_json(url: str) -> object:
    try:
        resp = requests.get(url, timeout=2)
    except requests.RequestException as exc:
        raise ProbeError(f"{url}: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise ProbeError(f"{url}: HTTP {resp.status_code}")
    return resp.json()


def connect(settings: Settings) -> str:
    base = settings.kafka_connect_url.rstrip("/")
    info = _http_json(base + "/")
    connectors = _http_json(base + "/connectors")
    plugins = _http_json(base + "/connector-plugins")
    version = info.get("version", "?") if isinstance(info, dict) else "?"
    count = len(connectors) if isinstance(connectors, list) else 0
    sink = next(
        (
            p.get("version", "?")
            for p in (plugins if isinstance(plugins, list) else [])
            if isinstance(p, dict) and p.get("class") == S3_SINK_CONNECTOR_CLASS
        ),
        None,
    )
    plugin = f"S3 sink plugin {sink}" if sink else "no S3 sink plugin"
    return f"Connect {version}, {count} connectors, {plugin}"


def s3(settings: Settings) -> str:
    from minio.error import MinioException
    from urllib3.exceptions import HTTPError

    client = clients_for(settings).s3()
    try:
        buckets = client.list_buckets()
    except (MinioException, HTTPError, OSError) as exc:
        raise ProbeError(f"ListBuckets: {exc}") from None
    return f"{len(buckets)} buckets"


def rest_proxy(settings: Settings) -> str:
    topics = _http_json(settings.rest_proxy_url.rstrip("/") + "/topics")
    _http_json(settings.legacy_api_url.rstrip("/") + "/health")
    streams = kinesis_streams(settings)
    return (
        f"v2 API, {len(topics) if isinstance(topics, list) else 0} topics; legacy API up; "
        f"Kinesis API, {streams} streams"
    )


def spark_service_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.spark_service_port}"


def spark_service(settings: Settings) -> str:
    """The warm batch service's /health (spark/service.py)."""
    health = _http_json(spark_service_url(settings) + "/health")
    if not isinstance(health, dict) or health.get("status") != "ready":
        raise ProbeError(f"batch service: not ready ({health})")
    doing = (
        ", warming up"
        if health.get("warming")
        else ", running a job"
        if health.get("busy")
        else ", warm"
        if health.get("warmed") or health.get("runs")
        else ""
    )
    return f"{health.get('runs', 0)} runs{doing}"


def kinesis_streams(settings: Settings) -> int:
    """The Kinesis JSON protocol's ListStreams, as an SDK asks it (issue 15)."""
    url = settings.kinesis_url.rstrip("/") + "/"
    headers = {
        "X-Amz-Target": "Kinesis_20131202.ListStreams",
        "Content-Type": "application/x-amz-json-1.1",
    }
    try:
        resp = requests.post(url, data=b'{"Limit": 10000}', headers=headers, timeout=2)
    except requests.RequestException as exc:
        raise ProbeError(f"{url}: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise ProbeError(f"{url} ListStreams: HTTP {resp.status_code}")
    return len(resp.json().get("StreamNames", []))


def wait_until(probe: Probe, settings: Settings, timeout: float, interval: float = 0.25) -> str:
    """Poll `probe` until it passes or `timeout` seconds pass; return its detail."""
    from services.runner.wait import WaitTimeout
    from services.runner.wait import wait_until as wait

    try:
        return wait(
            lambda: probe(settings),
            timeout=timeout,
            what=getattr(probe, "__name__", "probe"),
            interval=interval,
            retry_on=(ProbeError,),
        )
    except WaitTimeout as exc:
        raise ProbeError(exc.last) from None
