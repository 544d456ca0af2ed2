"""Domain errors and their rendering as RFC 9457 problem documents.

Service functions raise :class:`DomainError` subclasses; the HTTP layer turns them into
``application/problem+json`` in the caller's language. Anything else becomes a generic 500
whose body carries only the request id: no stack trace, SQL or secret leaves the process.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, ClassVar

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from asoud.platform.i18n import current_language, translate

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://asoud.io/problems/"
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})

log = logging.getLogger("asoud.errors")


class DomainError(Exception):
    """A rule was broken; ``code`` is stable and documented, ``params`` fill the message."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        code: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.code = code or type(self).code  # type: ignore[misc]
        self.status = status or type(self).status  # type: ignore[misc]
        self.headers = headers or {}
        self.extra = extra or {}
        self.params = params
        super().__init__(self.code)


class InvalidInput(DomainError):
    status = 422
    code = "validation_failed"


class Unauthenticated(DomainError):
    """401 always names the scheme (RFC 9110 §11.6.1), and an invalid token says so
    (RFC 6750 §3: error="invalid_token")."""

    status = 401
    code = "not_authenticated"

    def __init__(self, code: str | None = None, **kwargs: Any) -> None:
        challenge = 'Bearer error="invalid_token"' if code == "token_invalid" else "Bearer"
        kwargs.setdefault("headers", {"WWW-Authenticate": challenge})
        super().__init__(code, **kwargs)


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"

    def __init__(self, code: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(code, **kwargs)


RETRY_AFTER_SECONDS = 5
# Where an exception came from tells which dependency is down: the driver's own errors, or
# a socket error (refused, reset, timed out) raised from inside the driver.
_DATABASE_MODULES = ("asyncpg", "tortoise")
_REDIS_MODULES = ("redis",)


def unavailable_dependency(exc: BaseException) -> str | None:
    """ "database" or "redis" when ``exc`` says that service cannot be reached (a 503 with
    Retry-After, not a 500); None for anything else, which stays a bug."""
    import asyncpg
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ReadOnlyError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from tortoise.exceptions import DBConnectionError

    if isinstance(exc, RedisConnectionError | RedisTimeoutError | ReadOnlyError):
        return "redis"
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError  # class 08: connection exceptions
        | asyncpg.CannotConnectNowError  # 57P03: starting up or shutting down
        | asyncpg.AdminShutdownError
        | asyncpg.CrashShutdownError
        | asyncpg.TooManyConnectionsError
        | asyncpg.InterfaceError  # the connection was closed under the query
        | DBConnectionError,
    ):
        return "database"
    if isinstance(exc, OSError):
        modules = _traceback_modules(exc)
        if any(m.startswith(_DATABASE_MODULES) for m in modules):
            return "database"
        if any(m.startswith(_REDIS_MODULES) for m in modules):
            return "redis"
    return None


def _traceback_modules(exc: BaseException) -> list[str]:
    modules = []
    tb = exc.__traceback__
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    return modules


def field_error(field: str, code: str) -> InvalidInput:
    """A 422 naming one field, e.g. ``field_error("body.phone", "invalid_phone")``."""
    from asoud.platform.i18n import translate_field_error

    return InvalidInput(
        extra={"errors": [{"field": field, "code": code, "message": translate_field_error(code)}]}
    )


def int_id_or_404(value: object, bits: int = 32) -> int:
    """A path id for an integer primary key: anything else, or beyond the column's range
    (int4 or int8), names nothing: 404, never a database error."""
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise NotFound()
    number = int(text)
    if not 0 < number < 2 ** (bits - 1):
        raise NotFound()
    return number


def uuid_or_404(value: object) -> uuid.UUID:
    """A path id that is not even a UUID names nothing: 404, like an unknown one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def problem_response(
    status: int,
    code: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    **params: Any,
) -> Response:
    language = current_language.get()
    title, detail = translate(code, language, **params)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        # RFC 9457: type, title, status, detail stay the problem's own; domain state (an
        # order's current status, ...) goes in other members.
        clash = RESERVED_MEMBERS & extra.keys()
        assert not clash, f"problem extension members may not replace {clash}"
        body.update(extra)
    response = Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
    response.headers["Content-Language"] = language
    return response


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(
        exc.status, exc.code, headers=exc.headers, extra=exc.extra, **exc.params
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "validation_failed")
    status = exc.status_code if exc.status_code in _HTTP_CODES else 400
    return problem_response(status, code, headers=dict(exc.headers or {}))


# nginx's "client closed request": nobody reads the answer, and it is not a server error.
CLIENT_CLOSED_REQUEST = 499


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientDisconnect):
        # The client left while its body was being read: a 4xx, not an error, not for Sentry.
        log.info("client disconnected before the request was read")
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    request_id = request.scope.get("state", {}).get("request_id", "-")
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        # An outage, not a bug: 503 with Retry-After (the client retries; the SLO alerts
        # count it), logged as a warning without the exception's text.
        log.warning(
            "dependency unavailable",
            extra={"dependency": dependency, "error_type": type(exc).__name__},
        )
        return problem_response(
            503, "service_unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    # The exception type and location go to the log for engineers; never its message,
    # which may quote SQL parameters or secrets.
    import sentry_sdk

    sentry_sdk.capture_exception(exc)  # scrubbed by asoud.observability.sentry.before_send
    log.error(
        "unhandled exception",
        extra={"error_type": type(exc).__name__, "where": _where(exc)},
    )
    return problem_response(500, "internal_error", request_id=request_id)


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
