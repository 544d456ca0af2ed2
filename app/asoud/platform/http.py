"""Declarative endpoints: one decorator gives a route its parsing, auth, rate limits and OpenAPI.

A handler receives a :class:`Call` with the validated body/query and the caller, and returns
a pydantic model (serialised with the endpoint's success status), ``(status, model)``, or a
ready :class:`Response`. Validation failures become translated 422 problem documents.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from asoud.platform.errors import (
    DomainError,
    InvalidInput,
    field_error,
    problem_response,
    unhandled_error_handler,
)
from asoud.platform.i18n import translate_field_error
from asoud.platform.idempotency import run_idempotent
from asoud.platform.middleware import route_var

if TYPE_CHECKING:
    from asoud.runtime import Platform

log = logging.getLogger("asoud.http")

MAX_JSON_BODY_BYTES = 256 * 1024
# Anonymous public reads may be kept by browsers, proxies and CDNs for a few seconds and
# served a little longer while they revalidate (If-None-Match → 304).
PUBLIC_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=25"
PRIVATE_PREFIXES = ("/api/v1/auth/",)  # answered without a caller, but carry tokens
MAX_JSON_DEPTH = 32  # no body of this API nests deeper; the parser would recurse on it

BodyT = TypeVar("BodyT", bound=BaseModel)
QueryT = TypeVar("QueryT", bound=BaseModel)


class Auth(StrEnum):
    none = "none"  # anyone; never looks at the token
    optional = "optional"  # anyone; the caller is known when a valid token is sent
    user = "user"  # a valid access token is required
    staff = "staff"  # a valid access token of a staff member


@dataclass
class Call(Generic[BodyT, QueryT]):
    request: Request
    platform: Platform
    body: BodyT
    query: QueryT
    principal: Any = None  # asoud.identity.auth.Principal when authenticated
    path: dict[str, Any] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def client_ip(self) -> str:
        return str(self.request.scope.get("state", {}).get("client_ip", "unknown"))


class _Empty(BaseModel):
    pass


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]
# Set by the identity domain at app creation: authenticate(call, required, staff) -> principal
Authenticator = Callable[[Call[Any, Any], Auth], Awaitable[Any]]
# Set by the app: general rate limits for a call (after authentication)
Limiter = Callable[[Call[Any, Any]], Awaitable[dict[str, str]]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: list[str]
    auth: Auth
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | None]
    errors: list[int]
    rate_limited: bool
    idempotent: bool = False
    description: str = ""
    # Answers before the query is parsed, or None: for an exact request answered before (a
    # rendered page kept in memory was stored only after its query had been validated).
    early: Callable[[Call[Any, Any]], Awaitable[Response | None]] | None = None

    @property
    def success_status(self) -> int:
        return min(self.responses)


class Api:
    """A registry of endpoints; the app mounts its routes and the OpenAPI builder reads it."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []
        self.authenticator: Authenticator | None = None
        self.limiter: Limiter | None = None

    def endpoint(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tags: list[str],
        auth: Auth = Auth.none,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        responses: dict[int, type[BaseModel] | None] | None = None,
        errors: list[int] | None = None,
        rate_limited: bool = True,
        idempotent: bool = False,
        early: Callable[[Call[Any, Any]], Awaitable[Response | None]] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    summary=summary,
                    tags=tags,
                    auth=auth,
                    body=body,
                    query=query,
                    responses=responses or {200: None},
                    errors=errors or [],
                    rate_limited=rate_limited,
                    idempotent=idempotent,
                    description=(handler.__doc__ or "").strip(),
                    early=early,
                )
            )
            return handler

        return register

    def routes(self) -> list[Route]:
        grouped: dict[str, list[Endpoint]] = {}
        for ep in self.endpoints:
            grouped.setdefault(ep.path, []).append(ep)
        return [
            Route(
                path,
                _Dispatch(self, {ep.method: ep for ep in eps}),
                methods=[e.method for e in eps],
                name=eps[0].handler.__name__,
            )
            for path, eps in grouped.items()
        ]

    async def _run(self, ep: Endpoint, request: Request) -> Response:
        platform: Platform = request.app.state.platform
        route_var.set(ep.path)
        call: Call[Any, Any] = Call(
            request=request,
            platform=platform,
            body=_Empty(),
            query=_Empty(),
            path=dict(request.path_params),
        )
        try:
            try:
                if ep.auth is not Auth.none and self.authenticator is not None:
                    call.principal = await self.authenticator(call, ep.auth)
            finally:
                # Counted even when authentication fails, so guessing tokens is limited too.
                if ep.rate_limited and self.limiter is not None:
                    call.response_headers.update(await self.limiter(call))
            early = await ep.early(call) if ep.early is not None else None
            if early is not None:
                response = early
            else:
                if ep.query is not None:
                    call.query = _validate(ep.query, dict(request.query_params), "query")
                if ep.body is not None:
                    call.body = _validate(ep.body, await _read_json(request), "body")
                if ep.idempotent:
                    response = await run_idempotent(call, lambda: _produce(ep, call))
                else:
                    response = await _produce(ep, call)
        except DomainError as exc:
            headers = {**call.response_headers, **exc.headers}
            response = problem_response(
                exc.status, exc.code, headers=headers, extra=exc.extra, **exc.params
            )
            return response
        except Exception as exc:
            # Convert here so the middlewares still add request id, headers and metrics.
            return await unhandled_error_handler(request, exc)
        # Raw pairs (MutableHeaders re-scans the list on every call); what the handler set wins.
        raw = response.raw_headers
        present = {name for name, _ in raw}
        for name, value in call.response_headers.items():
            key = name.lower().encode("latin-1")
            if key not in present:
                raw.append((key, value.encode("latin-1")))
        if b"cache-control" not in present and (
            call.principal is not None or ep.path.startswith(PRIVATE_PREFIXES)
        ):
            # An answer for one person (tokens, profile, wallet, orders) is never stored by a
            # browser or a shared cache.
            raw.append((b"cache-control", b"no-store"))
        return response


class _Dispatch:
    """The ASGI app of one path: ``Api._run`` answers every exception itself, so Starlette's
    per-route exception wrapper (a function endpoint gets one) is not needed here."""

    answers_its_errors = True  # read by asoud.platform.routing.FastLane

    def __init__(self, api: Api, by_method: dict[str, Endpoint]) -> None:
        self.api = api
        self.by_method = by_method

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        method = "GET" if request.method == "HEAD" else request.method
        response = await self.api._run(self.by_method[method], request)
        await response(scope, receive, send)


async def _produce(ep: Endpoint, call: Call[Any, Any]) -> Response:
    return _render(ep, await ep.handler(call))


async def _read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise DomainError("unsupported_media_type", status=415)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BODY_BYTES:
            raise DomainError("body_too_large", status=413, limit=MAX_JSON_BODY_BYTES)
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise DomainError("json_too_deep", status=400, limit=MAX_JSON_DEPTH)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DomainError("malformed_json", status=400) from None


def _nesting(raw: bytes) -> int:
    """The deepest nesting of arrays and objects, found before parsing (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _nul_in(data: Any) -> bool:
    """PostgreSQL text cannot hold NUL; no legitimate input contains it."""
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_nul_in(k) or _nul_in(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_nul_in(item) for item in data)
    return False


def _validate(model: type[BaseModel], data: Any, location: str) -> Any:
    if _nul_in(data):
        raise field_error(location, "invalid")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(extra={"errors": field_errors(exc, location)}) from None


def field_errors(exc: ValidationError, location: str) -> list[dict[str, str]]:
    """Translated, value-free descriptions of what is wrong (input values are never echoed)."""
    errors = []
    for err in exc.errors(include_input=False, include_url=False):
        error_type = str(err["type"])
        if error_type == "value_error":
            # Our validators raise ValueError("<message code>") so the text can be translated.
            ctx_error = err.get("ctx", {}).get("error")
            error_type = str(ctx_error) if ctx_error is not None else "invalid"
        pointer = ".".join(str(part) for part in err["loc"])
        errors.append(
            {
                "field": f"{location}.{pointer}" if pointer else location,
                "code": error_type,
                "message": translate_field_error(error_type),
            }
        )
    return errors


def document_response(request: Request, body: bytes, etag: str, *, public: bool) -> Response:
    """A rendered JSON document with its strong ETag; 304 when the client already has it."""
    headers = {"ETag": etag, "Vary": "Accept-Language"}
    if public:
        headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _render(ep: Endpoint, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    status = ep.success_status
    if isinstance(result, tuple):
        status, result = result
    if result is None:
        return Response(status_code=status)
    if isinstance(result, BaseModel):
        payload = result.model_dump_json().encode()
    else:
        payload = json.dumps(result, ensure_ascii=False).encode()
    return Response(payload, status_code=status, media_type="application/json")
