"""OpenAPI 3.1 document built from the endpoint registry, and the offline Swagger UI.

pydantic v2 already emits JSON Schema 2020-12, which OpenAPI 3.1 uses as is; this module
only arranges operations around those schemas. (spectree was tried first: its 3.0 release
answers validation errors in its own format rather than problem+json, skips bodies sent as
``application/json; charset=utf-8`` and loads Swagger UI from a CDN.)
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from asoud.platform.http import PUBLIC_CACHE_CONTROL, Api, Auth, Endpoint
from asoud.platform.idempotency import KEY_PATTERN
from asoud.platform.money import SUPPORTED_CURRENCIES

API_VERSION = "1"
# A schema marked {"x-deployment-enum": name} gets the deployment's list of that name as enum.
DEPLOYMENT_ENUM = "x-deployment-enum"
OPENAPI_PATH = "/api/v1/openapi.json"


class Problem(BaseModel):
    """RFC 9457 problem document; ``code`` is the stable machine-readable reason."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] | None = None


_ERROR_TEXT = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Body must be application/json",
    422: "Validation failed",
    429: "Rate limited (see Retry-After and RateLimit-* headers)",
    503: "A dependency is unavailable",
}


def build_openapi(
    api: Api, *, title: str, version: str, deployment: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """``deployment`` fills in values that depend on the settings (``x-deployment-enum``: the
    payment gateways this deployment has enabled), so the document lists only what works."""
    models: set[type[BaseModel]] = {Problem}
    for ep in api.endpoints:
        for model in (ep.body, ep.query, *ep.responses.values()):
            if model is not None:
                models.add(model)
    keyed: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (model, "validation") for model in sorted(models, key=lambda m: m.__name__)
    ]
    _, schemas = models_json_schema(
        keyed, ref_template="#/components/schemas/{model}", schema_generator=ApiJsonSchema
    )
    paths: dict[str, dict[str, Any]] = {}
    seen_ids: set[str] = set()
    for ep in api.endpoints:
        operation = _operation(ep)
        if operation["operationId"] in seen_ids:  # one handler serving two methods
            operation["operationId"] += "_" + ep.method.lower()
        seen_ids.add(operation["operationId"])
        paths.setdefault(ep.path, {})[ep.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "ASOUD marketplace API. Errors are application/problem+json; "
            "messages follow Accept-Language (en, fa, ar, tr).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _deployment_enums(schemas.get("$defs", {}), deployment or {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


# What each path parameter really is: a random string for a UUID names nothing (404), but a
# documented format lets clients (and schemathesis) send well-formed ids.
_UUID = {"type": "string", "format": "uuid"}
_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    **dict.fromkeys(
        (
            "market_id",
            "product_id",
            "order_id",
            "payment_id",
            "discount_id",
            "revision_id",
            "user_id",
        ),
        _UUID,
    ),
    "item_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "letter_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "invitation_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "base": {"type": "string", "enum": list(SUPPORTED_CURRENCIES)},
    "quote": {"type": "string", "enum": list(SUPPORTED_CURRENCIES)},
    "token": {"type": "string", "pattern": "^inv_[A-Za-z0-9_-]{32}$"},
}
# What pydantic's str_strip_whitespace strips (Rust's char::is_whitespace, Unicode White_Space);
# spelled out because "\s" means something different in Python, ECMA-262 and Rust.
_WS = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# PostgreSQL text cannot hold NUL, so the API refuses it anywhere (422).
NUL_FREE = r"^[^\x00]*$"


def _bounds(low: int, high: int | None) -> str:
    return f"{{{low},{'' if high is None else high}}}"


def text_pattern(min_length: int, max_length: int | None, *, strip: bool) -> str:
    """The exact set of strings the server accepts, as one pattern: NUL-free, and when the
    model strips whitespace, min/max length counted after stripping (which minLength and
    maxLength, counting the raw string, cannot say)."""
    if not strip or (min_length == 0 and max_length is None):
        return "^[^\\x00]" + _bounds(min_length, max_length) + "$"
    edge = f"[^\\x00{_WS}]"
    kept = []  # the stripped value: empty, one character, or two edges around the middle
    if min_length == 0:
        kept.append("")
    if min_length <= 1 and (max_length is None or max_length >= 1):
        kept.append(edge)
    if max_length is None or max_length >= 2:
        middle = _bounds(max(min_length - 2, 0), None if max_length is None else max_length - 2)
        kept.append(f"{edge}[^\\x00]{middle}{edge}")
    return f"^[{_WS}]*(?:{'|'.join(kept)})[{_WS}]*$"


class ApiJsonSchema(GenerateJsonSchema):
    """JSON Schema that states what the server accepts, so "valid" generated data is valid."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        strip = bool(schema.get("strip_whitespace") or self._config.str_strip_whitespace)
        if "format" in json_schema:
            return json_schema
        if "pattern" in json_schema:
            if strip:  # anchored patterns match the stripped value
                inner = json_schema["pattern"].removeprefix("^").removesuffix("$")
                json_schema["pattern"] = f"^[{_WS}]*(?:{inner})[{_WS}]*$"
            return json_schema
        low, high = json_schema.get("minLength", 0), json_schema.get("maxLength")
        json_schema["pattern"] = text_pattern(low, high, strip=strip)
        if strip:  # the raw string may be longer than what is kept
            json_schema.pop("minLength", None)
            json_schema.pop("maxLength", None)
        return json_schema

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        json_schema.setdefault("propertyNames", {"pattern": NUL_FREE})
        return json_schema


def _deployment_enums(schema: Any, values: dict[str, list[str]]) -> Any:
    if isinstance(schema, dict):
        name = schema.pop(DEPLOYMENT_ENUM, None)
        if name in values:
            schema["enum"] = list(values[name])
        for value in schema.values():
            _deployment_enums(value, values)
    elif isinstance(schema, list):
        for item in schema:
            _deployment_enums(item, values)
    return schema


def _query_value(prop: dict[str, Any]) -> dict[str, Any]:
    """A query value is text: an absent parameter is the null, and a decimal's "number or
    numeric string" is one number (an arbitrary string alternative would claim any text)."""
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    if any(o.get("type") in ("number", "integer") for o in options):
        options = [o for o in options if o.get("type") != "string"]
    if not options:
        return prop
    # an absent parameter is the null, so a null default is no default at all
    rest = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest, **options[0]} if len(options) == 1 else {**rest, "anyOf": options}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.handler.__name__,
        "summary": ep.summary,
        "tags": ep.tags,
        "responses": {},
    }
    if ep.description:
        op["description"] = ep.description
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(_PATH_PARAMETERS.get(name, {"type": "string", "pattern": "^[^/]+$"})),
        }
        for name in re.findall(r"{(\w+)(?::\w+)?}", ep.path)
    ]
    if ep.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": KEY_PATTERN.pattern},
                "description": "retry-safe: same key and body replay the first answer for 24 h",
            }
        )
    if ep.query is not None:
        schema = ep.query.model_json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=ApiJsonSchema
        )
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _query_value(prop),
                }
            )
    if parameters:
        op["parameters"] = parameters
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(ep.body)}},
        }
    if ep.auth in (Auth.user, Auth.staff):
        op["security"] = [{"bearer": []}]
    elif ep.auth is Auth.optional:
        op["security"] = [{}, {"bearer": []}]
    for status, model in ep.responses.items():
        entry: dict[str, Any] = {"description": "Success"}
        if status == 304:
            entry["description"] = "Not modified: the If-None-Match tag is still current"
        if model is not None:
            entry["content"] = {"application/json": {"schema": _ref(model)}}
        if status == 200 and 304 in ep.responses:
            entry["headers"] = {
                "ETag": {"description": "Strong validator", "schema": {"type": "string"}},
                "Cache-Control": {
                    "description": f"{PUBLIC_CACHE_CONTROL} when anonymous",
                    "schema": {"type": "string"},
                },
            }
        op["responses"][str(status)] = entry
    error_codes = set(ep.errors) | {500}
    if ep.body is not None or ep.query is not None:
        error_codes |= {400, 415, 422} if ep.body is not None else {422}
    if ep.auth is not Auth.none:  # a token that is sent must be valid, even where optional
        error_codes.add(401)
    if ep.auth is Auth.staff:
        error_codes.add(403)
    if ep.rate_limited:
        error_codes.add(429)
    if ep.idempotent:
        error_codes |= {400, 409, 422}
    for status in sorted(error_codes):
        op["responses"][str(status)] = {
            "description": _ERROR_TEXT.get(status, "Internal error"),
            "content": {"application/problem+json": {"schema": _ref(Problem)}},
        }
    return op


_SWAGGER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ASOUD API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""

# Served as a file, not inline, so the Content-Security-Policy needs no 'unsafe-inline'.
_SWAGGER_INIT = (
    f"window.ui = SwaggerUIBundle({{url: '{OPENAPI_PATH}', dom_id: '#swagger-ui', "
    "deepLinking: true, persistAuthorization: true, tryItOutEnabled: true});"
)


def docs_routes(
    api: Api, *, title: str, version: str, deployment: dict[str, list[str]] | None = None
) -> list[BaseRoute]:
    import swagger_ui

    static_dir = os.path.join(os.path.dirname(swagger_ui.__file__), "static")
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if not document:
            document.update(build_openapi(api, title=title, version=version, deployment=deployment))
        return JSONResponse(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(_SWAGGER_HTML)

    async def init_js(request: Request) -> Response:
        return Response(_SWAGGER_INIT, media_type="application/javascript")

    return [
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/docs/init.js", init_js, methods=["GET"]),
        Mount("/docs/static", app=StaticFiles(directory=static_dir), name="docs-static"),
    ]
