"""The proxy's OpenAPI 3 description, written by hand as data.

`openapi_spec()` is served at `GET /openapi.json`; the AWS export reuses it to describe
the API Gateway in front of a real Confluent REST proxy, so it stays a plain function
returning a dict (no framework introspection).
"""

from __future__ import annotations

from typing import Any

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
V2 = "application/vnd.kafka.v2+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {V2: {"schema": _ref("Error")}, "application/json": {"schema": _ref("Error")}},
    }


def _ok(description: str, schema: dict[str, Any], media: str = V2) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": schema}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_TOPIC = _path_param("topic", "Topic name, e.g. `<user_id>.pin`.")
_GROUP = _path_param("group", "Consumer group id.")
_NAME = _path_param("name", "Consumer instance id (from `POST /consumers/{group}`).")

_TOPIC_PARTITION = {
    "topic": {"type": "string"},
    "partition": {"type": "integer", "minimum": 0},
}

_SCHEMAS: dict[str, Any] = {
    "PartitionList": {
        "type": "object",
        "required": ["partitions"],
        "properties": {
            "partitions": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["topic", "partition"],
                    "properties": _TOPIC_PARTITION,
                },
            }
        },
    },
    "OffsetList": {
        "type": "object",
        "properties": {
            "offsets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["topic", "partition", "offset"],
                    "properties": {**_TOPIC_PARTITION, "offset": {"type": "integer"}},
                },
            }
        },
    },
    "Error": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
    },
    "JsonRecord": {
        "type": "object",
        "properties": {
            "key": {"description": "Any JSON value; serialized as JSON."},
            "value": {"description": "Any JSON value; serialized as JSON."},
            "partition": {"type": "integer", "minimum": 0, "nullable": True},
        },
    },
    "BinaryRecord": {
        "type": "object",
        "properties": {
            "key": {"type": "string", "format": "byte", "nullable": True},
            "value": {"type": "string", "format": "byte", "nullable": True},
            "partition": {"type": "integer", "minimum": 0, "nullable": True},
        },
    },
    "JsonProduceRequest": {
        "type": "object",
        "required": ["records"],
        "properties": {"records": {"type": "array", "minItems": 1, "items": _ref("JsonRecord")}},
    },
    "BinaryProduceRequest": {
        "type": "object",
        "required": ["records"],
        "properties": {"records": {"type": "array", "minItems": 1, "items": _ref("BinaryRecord")}},
    },
    "Offset": {
        "type": "object",
        "description": "One per record, in order. A failed record has null partition and "
        "offset, and an error_code (50002 permanent, 50003 retriable).",
        "properties": {
            "partition": {"type": "integer", "nullable": True},
            "offset": {"type": "integer", "format": "int64", "nullable": True},
            "error_code": {"type": "integer", "nullable": True},
            "error": {"type": "string", "nullable": True},
        },
    },
    "ProduceResponse": {
        "type": "object",
        "properties": {
            "offsets": {"type": "array", "items": _ref("Offset")},
            "key_schema_id": {"type": "integer", "nullable": True},
            "value_schema_id": {"type": "integer", "nullable": True},
        },
    },
    "Topic": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "configs": {"type": "object", "additionalProperties": {"type": "string"}},
            "partitions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "partition": {"type": "integer"},
                        "leader": {"type": "integer"},
                        "replicas": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "broker": {"type": "integer"},
                                    "leader": {"type": "boolean"},
                                    "in_sync": {"type": "boolean"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "CreateConsumerRequest": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "format": {"type": "string", "enum": ["json", "binary"]},
            "auto.offset.reset": {"type": "string", "enum": ["earliest", "latest"]},
            "auto.commit.enable": {"type": "string", "enum": ["true", "false"]},
        },
    },
    "ConsumerInstance": {
        "type": "object",
        "properties": {"instance_id": {"type": "string"}, "base_uri": {"type": "string"}},
    },
    "Subscription": {
        "type": "object",
        "required": ["topics"],
        "properties": {"topics": {"type": "array", "items": {"type": "string"}}},
    },
    "ConsumerRecord": {
        "type": "object",
        "properties": {
            "topic": {"type": "string"},
            "key": {},
            "value": {},
            "partition": {"type": "integer"},
            "offset": {"type": "integer", "format": "int64"},
        },
    },
    "LegacyAck": {
        "type": "object",
        "properties": {
            "topic": {"type": "string"},
            "partition": {"type": "integer"},
            "offset": {"type": "integer", "format": "int64"},
        },
    },
}


def _v2_paths() -> dict[str, Any]:
    produce_errors = {
        "400": _error("Malformed JSON, or a key/value that is not valid UTF-8."),
        "403": _error("An internal topic (`__consumer_offsets`, `_connect-*`, any `_` name)."),
        "404": _error("Topic (40401) or partition (40402) not found."),
        "413": _error("Body larger than REST_PROXY_MAX_BODY_BYTES."),
        "415": _error("Unsupported Content-Type."),
        "422": _error(
            "Not a produce request; more records than REST_PROXY_MAX_RECORDS_PER_REQUEST; "
            "a non-finite number (1e400); nesting deeper than 1024 levels in a key or value; "
            "a null value (a tombstone) on a topic the S3 sink lands (<id>.pin|geo|user)."
        ),
        "429": _error("Too many requests or bytes in flight (42901): retry after Retry-After."),
        "503": _error("Broker unavailable (50003): retry after Retry-After."),
    }
    partitions_body = {
        "required": True,
        "content": {V2: {"schema": _ref("PartitionList")}},
    }
    offsets_body = {"required": True, "content": {V2: {"schema": _ref("OffsetList")}}}
    instance = "/consumers/{group}/instances/{name}"
    return {
        "/topics": {
            "get": {
                "operationId": "listTopics",
                "summary": "Topic names (internal topics hidden).",
                "responses": {
                    "200": _ok("Names.", {"type": "array", "items": {"type": "string"}}),
                    "503": _error("Broker unavailable (50003)."),
                },
            }
        },
        "/topics/{topic}": {
            "parameters": [_TOPIC],
            "get": {
                "operationId": "getTopic",
                "summary": "Topic configs and partitions.",
                "responses": {
                    "200": _ok("The topic.", _ref("Topic")),
                    "404": _error("Topic not found (40401)."),
                    "503": _error("Broker unavailable (50003)."),
                },
            },
            "post": {
                "operationId": "produce",
                "summary": "Produce records; answers after the broker acknowledged each.",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON_V2: {"schema": _ref("JsonProduceRequest")},
                        BINARY_V2: {"schema": _ref("BinaryProduceRequest")},
                    },
                },
                "responses": {
                    "200": _ok("One offset entry per record, in order.", _ref("ProduceResponse")),
                    **produce_errors,
                },
            },
        },
        "/brokers": {
            "get": {
                "operationId": "listBrokers",
                "summary": "Broker ids.",
                "responses": {
                    "200": _ok(
                        "Brokers.",
                        {
                            "type": "object",
                            "properties": {
                                "brokers": {"type": "array", "items": {"type": "integer"}}
                            },
                        },
                    )
                },
            }
        },
        "/consumers/{group}": {
            "parameters": [_GROUP],
            "post": {
                "operationId": "createConsumer",
                "summary": "Create a consumer instance (expires when idle).",
                "requestBody": {
                    "content": {V2: {"schema": _ref("CreateConsumerRequest")}},
                },
                "responses": {
                    "200": _ok("The instance.", _ref("ConsumerInstance")),
                    "409": _error("Instance already exists (40902)."),
                    "422": _error("Invalid consumer configuration (42204)."),
                    "429": _error(
                        "REST_PROXY_MAX_CONSUMERS instances exist (42901): delete one or "
                        "retry after Retry-After."
                    ),
                },
            },
        },
        instance: {
            "parameters": [_GROUP, _NAME],
            "delete": {
                "operationId": "deleteConsumer",
                "summary": "Close the instance.",
                "responses": {
                    "204": {"description": "Closed."},
                    "404": _error("Instance not found (40403)."),
                },
            },
        },
        f"{instance}/subscription": {
            "parameters": [_GROUP, _NAME],
            "post": {
                "operationId": "subscribe",
                "summary": "Subscribe to topics.",
                "requestBody": {
                    "required": True,
                    "content": {V2: {"schema": _ref("Subscription")}},
                },
                "responses": {
                    "204": {"description": "Subscribed."},
                    "403": _error("An internal topic (any `_` name) (40301)."),
                    "404": _error("Instance not found (40403)."),
                    "422": _error("No topics, or a `^` (regex) name."),
                },
            },
            "get": {
                "operationId": "getSubscription",
                "summary": "Subscribed topics.",
                "responses": {"200": _ok("Topics.", _ref("Subscription"))},
            },
            "delete": {
                "operationId": "unsubscribe",
                "summary": "Unsubscribe from every topic.",
                "responses": {"204": {"description": "Unsubscribed."}},
            },
        },
        f"{instance}/records": {
            "parameters": [
                _GROUP,
                _NAME,
                {
                    "name": "timeout",
                    "in": "query",
                    "description": "Milliseconds to wait for records (default 1000).",
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "max_bytes",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "get": {
                "operationId": "consumeRecords",
                "summary": "Fetch records (Accept must match the instance's format).",
                "responses": {
                    "200": {
                        "description": "Records.",
                        "content": {
                            JSON_V2: {"schema": {"type": "array", "items": _ref("ConsumerRecord")}},
                            BINARY_V2: {
                                "schema": {"type": "array", "items": _ref("ConsumerRecord")}
                            },
                        },
                    },
                    "404": _error("Instance not found (40403)."),
                    "406": _error("Accept does not match the instance's format (40601)."),
                    "422": _error(
                        "The next record cannot be deserialised in the instance's format: "
                        "the message names topic, partition and offset; the position stays "
                        "there (read it with format=binary, or seek past it)."
                    ),
                },
            },
        },
        f"{instance}/offsets": {
            "parameters": [_GROUP, _NAME],
            "post": {
                "operationId": "commitOffsets",
                "summary": "Commit the given offsets (each the last record read), or with no "
                "body every record returned so far; never a record not yet returned.",
                "requestBody": {"content": {V2: {"schema": _ref("OffsetList")}}},
                "responses": {
                    "200": {"description": "Committed."},
                    "422": _error("An offset this instance has not returned yet."),
                },
            },
            "get": {
                "operationId": "committedOffsets",
                "summary": "The group's committed offsets (the next to read; -1: none).",
                "requestBody": partitions_body,
                "responses": {"200": _ok("Committed offsets.", _ref("OffsetList"))},
            },
        },
        f"{instance}/positions": {
            "parameters": [_GROUP, _NAME],
            "post": {
                "operationId": "seek",
                "summary": "Move each partition's position to the given offset.",
                "requestBody": offsets_body,
                "responses": {
                    "204": {"description": "Moved."},
                    "409": _error("The partition is not assigned to this instance (yet)."),
                },
            },
        },
        f"{instance}/positions/beginning": {
            "parameters": [_GROUP, _NAME],
            "post": {
                "operationId": "seekToBeginning",
                "summary": "Move each partition's position to its first offset.",
                "requestBody": partitions_body,
                "responses": {"204": {"description": "Moved."}},
            },
        },
        f"{instance}/positions/end": {
            "parameters": [_GROUP, _NAME],
            "post": {
                "operationId": "seekToEnd",
                "summary": "Move each partition's position past its last offset.",
                "requestBody": partitions_body,
                "responses": {"204": {"description": "Moved."}},
            },
        },
        f"{instance}/assignments": {
            "parameters": [_GROUP, _NAME],
            "get": {
                "operationId": "assignments",
                "summary": "Partitions the group assigned to this instance.",
                "responses": {"200": _ok("Partitions.", _ref("PartitionList"))},
            },
        },
    }


def _legacy_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for table in ("pin", "geo", "user"):
        paths[f"/{table}/"] = {
            "post": {
                "operationId": f"post{table.capitalize()}",
                "summary": f"Produce one `{table}` event to `<user_id>.{table}`.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": _ok("Acknowledged.", _ref("LegacyAck"), "application/json"),
                    "400": _error("Malformed JSON."),
                    "415": _error("Not application/json."),
                    "422": _error("Not a JSON object."),
                    "503": _error("Broker unavailable (50003)."),
                },
            }
        }
    return paths


def openapi_spec(server_url: str | None = None, *, legacy: bool = False) -> dict[str, Any]:
    """OpenAPI 3.0 document for the v2 API (or, with `legacy`, the port-8000 API)."""
    title = "Legacy event API" if legacy else "Kafka REST proxy (Confluent v2 subset)"
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": "2.0.0",
            "description": "Errors are always {error_code, message}.",
        },
        "paths": _legacy_paths() if legacy else _v2_paths(),
        "components": {"schemas": _SCHEMAS},
    }
    if server_url:
        spec["servers"] = [{"url": server_url}]
    return spec
