"""An OpenAPI 3 definition of the API Gateway in front of the Confluent REST proxy on EC2.

The operations and schemas come from the proxy's own description
(`services.rest_proxy.openapi.openapi_spec`), so the gateway and the local proxy document
one API. Each operation gets an `x-amazon-apigateway-integration` of type `http_proxy`
that forwards the request unchanged to `http://<EC2 host>:8082/topics/{topic}`.

The `/streams` resources (issue 15) are API Gateway's Kinesis integrations, as the original
project configured them: type `aws`, `arn:aws:apigateway:<region>:kinesis:action/<Action>`,
a request mapping template per method and an IAM role API Gateway assumes to call Kinesis
(KINESIS_API_ROLE_ARN). Locally the REST proxy serves the same routes
(`services.kinesis.gateway`), so a script changes only its invoke URL.
"""

from __future__ import annotations

import copy
from typing import Any

from services.aws_settings import AwsProfile, HostPort
from services.rest_proxy.openapi import openapi_spec

#: The proxy paths API Gateway exposes: produce (POST) and describe (GET, used by the
#: emulator's and the preflight's topic checks).
GATEWAY_PATHS = ("/topics/{topic}",)

# API Gateway turns component schemas into JSON Schema draft 4 models and rejects keywords
# that draft 4 lacks; `nullable` is OpenAPI-only.
_UNSUPPORTED_KEYWORDS = ("nullable",)

# API Gateway's hard ceiling for an integration.
_INTEGRATION_TIMEOUT_MS = 29_000


def gateway_spec(profile: AwsProfile, ec2: HostPort, kinesis_role_arn: str = "") -> dict[str, Any]:
    source = openapi_spec()
    paths: dict[str, Any] = {}
    for path in GATEWAY_PATHS:
        item = copy.deepcopy(source["paths"][path])
        # Parameters on each operation, not on the path item: API Gateway maps
        # `method.request.path.<name>` from the method's own declared parameters.
        shared = item.pop("parameters", [])
        names = [p["name"] for p in shared if p.get("in") == "path"]
        for method in ("get", "post", "put", "delete"):
            if method not in item:
                continue
            op = item[method]
            own = {(p["name"], p["in"]) for p in op.get("parameters", [])}
            op["parameters"] = [p for p in shared if (p["name"], p["in"]) not in own] + op.get(
                "parameters", []
            )
            op["x-amazon-apigateway-integration"] = _integration(
                method, f"http://{ec2.host}:{ec2.port}{path}", names
            )
        paths[path] = item
    role = kinesis_role_arn or role_placeholder(profile.user_id)
    paths.update(kinesis_paths(profile.region, role))

    schemas = source["components"]["schemas"]
    used = _referenced(paths, schemas)
    components = {name: _draft4(copy.deepcopy(schemas[name])) for name in sorted(used)}
    return {
        "openapi": "3.0.1",
        "info": {
            "title": f"pinterest-pipeline-{profile.user_id}",
            "version": source["info"]["version"],
            "description": (
                "API Gateway in front of the Confluent REST proxy on EC2 "
                f"({ec2}), and Kinesis integrations under /streams (role {role}; set "
                "KINESIS_API_ROLE_ARN to your role). Import with `aws apigateway "
                "import-rest-api`, then deploy a stage; REST_PROXY_URL is the stage's invoke URL."
            ),
        },
        "servers": [
            {
                "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{basePath}",
                "variables": {
                    "restApiId": {"default": profile.rest_api_id or "your-api-id"},
                    "region": {"default": profile.region},
                    "basePath": {"default": profile.rest_stage or "prod"},
                },
            }
        ],
        "paths": paths,
        "components": {"schemas": components},
    }


def _integration(method: str, uri: str, params: list[str]) -> dict[str, Any]:
    return {
        "type": "http_proxy",
        "httpMethod": method.upper(),
        "uri": uri,
        "connectionType": "INTERNET",
        "passthroughBehavior": "when_no_match",
        "timeoutInMillis": _INTEGRATION_TIMEOUT_MS,
        # Fill {topic} in the backend URI from the method's path parameter.
        "requestParameters": {
            f"integration.request.path.{p}": f"method.request.path.{p}" for p in params
        },
    }


def _referenced(node: Any, schemas: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """Names of component schemas reachable from `node` through `$ref`s."""
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                _referenced(schemas[name], schemas, seen)
        for value in node.values():
            _referenced(value, schemas, seen)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, schemas, seen)
    return seen


def _draft4(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _draft4(v) for k, v in node.items() if k not in _UNSUPPORTED_KEYWORDS}
    if isinstance(node, list):
        return [_draft4(v) for v in node]
    return node


# --- /streams: API Gateway's Kinesis integrations ----------------------------------------

_STREAM = "$input.params('stream-name')"

#: (path, method, Kinesis action, request mapping template): the original's resources.
KINESIS_METHODS: tuple[tuple[str, str, str, str], ...] = (
    ("/streams", "get", "ListStreams", "{}"),
    ("/streams/{stream-name}", "get", "DescribeStream", f'{{"StreamName": "{_STREAM}"}}'),
    (
        "/streams/{stream-name}",
        "post",
        "CreateStream",
        "{\n"
        "  \"ShardCount\": #if($input.path('$.ShardCount') == '') 1 "
        "#else $input.path('$.ShardCount') #end,\n"
        f'  "StreamName": "{_STREAM}"\n'
        "}",
    ),
    ("/streams/{stream-name}", "delete", "DeleteStream", f'{{"StreamName": "{_STREAM}"}}'),
    (
        "/streams/{stream-name}/record",
        "put",
        "PutRecord",
        # `Data` goes to Kinesis as its JSON text, which is what the local proxy stores.
        "{\n"
        f'  "StreamName": "{_STREAM}",\n'
        '  "Data": "$util.base64Encode($input.json(\'$.Data\'))",\n'
        '  "PartitionKey": "$input.path(\'$.PartitionKey\')"\n'
        "}",
    ),
    (
        "/streams/{stream-name}/records",
        "put",
        "PutRecords",
        "{\n"
        f'  "StreamName": "{_STREAM}",\n'
        '  "Records": [\n'
        "    #foreach($elem in $input.path('$.records'))\n"
        "    {\n"
        '      "Data": "$util.base64Encode($input.json("$.records[$foreach.index].data"))",\n'
        '      "PartitionKey": "$elem.partition-key"\n'
        "    }#if($foreach.hasNext),#end\n"
        "    #end\n"
        "  ]\n"
        "}",
    ),
)


def role_placeholder(user_id: str) -> str:
    """The original's role name, in an ARN whose account id the user fills in."""
    return f"arn:aws:iam::<account-id>:role/{user_id}-kinesis-access-role"


def kinesis_paths(region: str, role_arn: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, method, action, template in KINESIS_METHODS:
        op: dict[str, Any] = {
            "operationId": f"{action[0].lower()}{action[1:]}",
            "summary": f"Kinesis {action}",
            "responses": {
                "200": {"description": f"Kinesis' {action} answer"},
                "400": {"description": "Kinesis' error, passed through ({__type, message})"},
                "500": {"description": "Kinesis' internal error, passed through"},
            },
            "x-amazon-apigateway-integration": _kinesis_integration(
                region, action, template, role_arn
            ),
        }
        if "{stream-name}" in path:
            op["parameters"] = [
                {
                    "name": "stream-name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ]
        if method in ("put", "post"):
            op["requestBody"] = {
                "required": method == "put",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        paths.setdefault(path, {})[method] = op
    return paths


def _kinesis_integration(region: str, action: str, template: str, role_arn: str) -> dict[str, Any]:
    return {
        "type": "aws",
        # Every Kinesis action is a POST to the service, whatever the method's verb.
        "httpMethod": "POST",
        "uri": f"arn:aws:apigateway:{region}:kinesis:action/{action}",
        "credentials": role_arn,
        "requestParameters": {
            "integration.request.header.Content-Type": "'application/x-amz-json-1.1'"
        },
        "requestTemplates": {"application/json": template},
        # A body in another media type is refused (415) rather than sent to Kinesis raw.
        "passthroughBehavior": "never",
        "timeoutInMillis": _INTEGRATION_TIMEOUT_MS,
        # Kinesis' errors pass through with their body, as the local proxy answers them.
        "responses": {
            "default": {"statusCode": "200"},
            "4\\d{2}": {"statusCode": "400"},
            "5\\d{2}": {"statusCode": "500"},
        },
    }
