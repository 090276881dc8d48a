"""Where the proxy listens, and the messages for settings it cannot serve."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from starlette.requests import Request

from services.rest_proxy.app import _unexpected
from services.rest_proxy.server import Listen, ProxyConfigError, bind, listen_address

pytestmark = pytest.mark.unit


def test_listen_address_from_url() -> None:
    assert listen_address("http://127.0.0.1:8082", "REST_PROXY_URL") == Listen(
        "127.0.0.1", 8082, "REST_PROXY_URL"
    )
    assert listen_address("http://localhost:8000/", "LEGACY_API_URL").port == 8000
    # A container binds every interface of its own network namespace.
    assert listen_address("http://rest-proxy:8082", "REST_PROXY_URL", "0.0.0.0").host == "0.0.0.0"


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8082",
        "ftp://127.0.0.1:8082",
        "https://127.0.0.1:8082",
        "https://abc.execute-api.us-east-1.amazonaws.com/prod",
    ],
)
def test_unservable_urls_name_the_setting(url: str) -> None:
    with pytest.raises(ProxyConfigError, match="REST_PROXY_URL"):
        listen_address(url, "REST_PROXY_URL")


def test_port_in_use_names_the_setting() -> None:
    first = bind(Listen("127.0.0.1", 0, "REST_PROXY_URL"))
    try:
        port = first.getsockname()[1]
        first.listen()
        with pytest.raises(ProxyConfigError, match=f"port {port} .REST_PROXY_URL. is already"):
            bind(Listen("127.0.0.1", port, "REST_PROXY_URL"))
    finally:
        first.close()


def test_unexpected_errors_become_50001_json_without_a_trace() -> None:
    scope = {"type": "http", "method": "POST", "path": "/topics/x", "headers": []}
    response = asyncio.run(_unexpected(Request(scope), RuntimeError("secret detail")))
    assert response.status_code == 500
    body = orjson.loads(response.body)
    assert body["error_code"] == 50001
    assert "secret detail" not in body["message"]
