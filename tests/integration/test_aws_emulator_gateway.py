"""The emulator posts to `<invoke URL>/topics/<user_id>.<table>` through an API Gateway stand-in.

The stand-in serves a stage (`/prod`) and routes exactly as the exported OpenAPI says: it
reads `x-amazon-apigateway-integration` from `gateway_spec()` and forwards each request
(HTTP proxy: method, body, content type unchanged) to the integration URI, here the real
REST proxy, which writes to the real Kafka. A path outside the API answers like API Gateway:
403 "Missing Authentication Token".
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from confluent_kafka import TopicPartition

from services import aws_settings as aws_profile
from services.aws import preflight
from services.aws.gateway_openapi import gateway_spec
from services.aws.preflight import CheckFailed
from services.clients import clients_for
from services.clients.aws import AwsClients
from services.emulator import live
from services.rest_proxy.child import proxy_process, with_free_ports
from services.runner.child import free_port
from services.settings import TABLES, Settings
from tests.support.namespaces import drop_namespace, fresh_namespace, seeded_database

pytestmark = pytest.mark.integration

EVENTS = 30
STAGE = "prod"


class GatewayStandIn:
    """API Gateway's routing of one stage, driven by an OpenAPI document."""

    def __init__(self, spec: dict[str, Any], stage: str) -> None:
        self.stage = stage
        self.routes = [
            (method.upper(), _template_regex(path), op["x-amazon-apigateway-integration"])
            for path, item in spec["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "x-amazon-apigateway-integration" in op
        ]
        self.log: list[tuple[str, str, int]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def invoke_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.stage}"

    def route(self, method: str, path: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        prefix = f"/{self.stage}/"
        if not path.startswith(prefix):
            return None
        resource = path[len(prefix) - 1 :]
        for route_method, pattern, integration in self.routes:
            m = pattern.fullmatch(resource)
            if m and route_method == method:
                return integration, m.groupdict()
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._proxy()

            def do_POST(self) -> None:
                self._proxy()

            def _proxy(self) -> None:
                path = urlsplit(self.path).path
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                found = gateway.route(self.command, path)
                if found is None:
                    status, ctype, data = (
                        403,
                        "application/json",
                        b'{"message":"Missing Authentication Token"}',
                    )
                else:
                    integration, params = found
                    uri = integration["uri"]
                    for key, source in integration["requestParameters"].items():
                        name = key.rsplit(".", 1)[1]
                        uri = uri.replace(f"{{{name}}}", params[source.rsplit(".", 1)[1]])
                    headers = {
                        k: v for k, v in self.headers.items() if k in ("Content-Type", "Accept")
                    }
                    try:
                        resp = requests.request(
                            integration["httpMethod"], uri, data=body, headers=headers, timeout=30
                        )
                    except requests.ConnectionError:
                        # What API Gateway answers when its integration cannot be reached.
                        status, ctype = 500, "application/json"
                        data = b'{"message": "Internal server error"}'
                    else:
                        status = resp.status_code
                        ctype = resp.headers.get("Content-Type", "application/json")
                        data = resp.content
                gateway.log.append((self.command, path, status))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> GatewayStandIn:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _template_regex(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)))


@pytest.fixture(scope="module")
def db(stack: Settings) -> Iterator[Settings]:
    """A throwaway database of EVENTS events with its own read-only account."""
    with seeded_database(stack, "aws_gw", EVENTS) as settings:
        yield settings


@pytest.fixture
def gateway(db: Settings) -> Iterator[tuple[Settings, GatewayStandIn]]:
    """A fresh namespace, the real REST proxy, and the stand-in gateway in front of it."""
    ens = with_free_ports(fresh_namespace(db, prefix="gw"))
    proxy_url = urlsplit(ens.rest_proxy_url)
    assert proxy_url.hostname and proxy_url.port
    ec2 = aws_profile.HostPort(proxy_url.hostname, proxy_url.port)
    spec = gateway_spec(aws_profile.resolve(ens), ec2)
    with proxy_process(ens), GatewayStandIn(spec, STAGE) as gw:
        yield ens, gw
    drop_namespace(ens)


def end_offset(settings: Settings, topic: str) -> int:
    consumer = clients_for(settings).kafka_consumer(f"check-{uuid.uuid4().hex}")
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1])
    finally:
        consumer.close()


def test_emulator_posts_through_the_stage_to_kafka(
    gateway: tuple[Settings, GatewayStandIn],
) -> None:
    ens, gw = gateway
    through_gateway = ens.model_copy(update={"rest_proxy_url": gw.invoke_url})
    began = time.monotonic()
    summary = live.run(through_gateway, count=3, rate=50, seed=3, max_retries=0, progress=False)
    assert summary.ok, summary.error
    assert summary.acknowledged_by_table == dict.fromkeys(TABLES, 3)

    posts = [(path, status) for method, path, status in gw.log if method == "POST"]
    assert {path for path, _ in posts} == {f"/{STAGE}/topics/{ens.topic(t)}" for t in TABLES}
    assert all(status == 200 for _, status in posts)
    assert (f"/{STAGE}/topics/{ens.topic('pin')}", 200) in posts
    # Every request, including the emulator's topic checks, kept the stage.
    assert all(path.startswith(f"/{STAGE}/topics/") for _, path, _ in gw.log)
    # The records went through the proxy integration into Kafka.
    for table in TABLES:
        assert end_offset(ens, ens.topic(table)) == 3
    assert time.monotonic() - began < 120


def test_an_invoke_url_without_the_stage_fails_clearly(
    gateway: tuple[Settings, GatewayStandIn],
) -> None:
    ens, gw = gateway
    no_stage = gw.invoke_url.rsplit("/", 1)[0]
    summary = live.run(
        ens.model_copy(update={"rest_proxy_url": no_stage}),
        count=1,
        seed=3,
        max_retries=0,
        progress=False,
    )
    assert not summary.ok
    assert "403" in (summary.error or "") and "REST_PROXY_URL" in (summary.error or "")
    assert all(status == 403 for _, _, status in gw.log)
    assert end_offset(ens, ens.topic("pin")) == 0


def preflight_gateway(settings: Settings, invoke_url: str) -> str:
    """The preflight's API Gateway check, aimed at `invoke_url`."""
    aws = settings.model_copy(update={"pipeline_target": "aws", "rest_proxy_url": invoke_url})
    ctx = preflight.Context(aws, AwsClients(aws), aws_profile.resolve(aws), step_timeout=5.0)
    return preflight._api_gateway(ctx, "API Gateway")


def test_preflight_reads_each_gateway_answer_as_its_fix(
    gateway: tuple[Settings, GatewayStandIn],
) -> None:
    ens, gw = gateway
    assert "-> 200 through API Gateway" in preflight_gateway(ens, gw.invoke_url)

    with pytest.raises(CheckFailed) as info:
        preflight_gateway(ens, gw.invoke_url.rsplit("/", 1)[0])
    assert info.value.step == "stage" and "check the stage in REST_PROXY_URL" in info.value.fix

    with pytest.raises(CheckFailed) as info:
        preflight_gateway(ens.model_copy(update={"pipeline_user_id": "nosuchuser"}), gw.invoke_url)
    assert info.value.step == "missing" and "nosuchuser.pin" in info.value.fix

    # A gateway whose integration points at a port where no proxy listens.
    dead = gateway_spec(aws_profile.resolve(ens), aws_profile.HostPort("127.0.0.1", free_port()))
    with GatewayStandIn(dead, STAGE) as broken, pytest.raises(CheckFailed) as info:
        preflight_gateway(ens, broken.invoke_url)
    assert info.value.step == "upstream" and "cannot reach the REST proxy" in info.value.fix
