"""The hand-written OpenAPI description is valid OpenAPI 3 and covers every route."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from services.rest_proxy.openapi import openapi_spec

pytestmark = pytest.mark.unit


def test_v2_spec_is_valid_and_complete() -> None:
    spec = openapi_spec("http://127.0.0.1:8082")
    validate(spec)  # type: ignore[arg-type]
    assert spec["servers"] == [{"url": "http://127.0.0.1:8082"}]
    paths = spec["paths"]
    assert set(paths["/topics/{topic}"]) >= {"get", "post", "parameters"}
    produce = paths["/topics/{topic}"]["post"]
    assert set(produce["requestBody"]["content"]) == {
        "application/vnd.kafka.json.v2+json",
        "application/vnd.kafka.binary.v2+json",
    }
    assert set(produce["responses"]) == {
        "200",
        "400",
        "403",
        "404",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
    for path in (
        "/topics",
        "/consumers/{group}",
        "/consumers/{group}/instances/{name}",
        "/consumers/{group}/instances/{name}/subscription",
        "/consumers/{group}/instances/{name}/records",
        "/consumers/{group}/instances/{name}/offsets",
        "/consumers/{group}/instances/{name}/positions",
        "/consumers/{group}/instances/{name}/positions/beginning",
        "/consumers/{group}/instances/{name}/positions/end",
        "/consumers/{group}/instances/{name}/assignments",
    ):
        assert path in paths


def test_legacy_spec_is_valid() -> None:
    spec = openapi_spec(legacy=True)
    validate(spec)  # type: ignore[arg-type]
    assert set(spec["paths"]) == {"/pin/", "/geo/", "/user/"}
    assert "servers" not in spec
