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
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from asoud.platform.http import Api, Auth, Endpoint

API_VERSION = "1"
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


def build_openapi(api: Api, *, title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {Problem}
    for ep in api.endpoints:
        for model in (ep.body, ep.query, *ep.responses.values()):
            if model is not None:
                models.add(model)
    keyed: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (model, "validation") for model in sorted(models, key=lambda m: m.__name__)
    ]
    _, schemas = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
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
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


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
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)(?::\w+)?}", ep.path)
    ]
    if ep.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "retry-safe: same key and body replay the first answer for 24 h",
            }
        )
    if ep.query is not None:
        schema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
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
        if model is not None:
            entry["content"] = {"application/json": {"schema": _ref(model)}}
        op["responses"][str(status)] = entry
    error_codes = set(ep.errors) | {500}
    if ep.body is not None or ep.query is not None:
        error_codes |= {400, 415, 422} if ep.body is not None else {422}
    if ep.auth in (Auth.user, Auth.staff):
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


def docs_routes(api: Api, *, title: str, version: str) -> list[BaseRoute]:
    import swagger_ui

    static_dir = os.path.join(os.path.dirname(swagger_ui.__file__), "static")
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if not document:
            document.update(build_openapi(api, title=title, version=version))
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
