"""Request context: id, language, client address, security headers and API version."""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asoud.platform.i18n import (
    RTL_LANGUAGES,
    SUPPORTED_LANGUAGES,
    current_language,
    negotiate_language,
)

log = logging.getLogger("asoud.http")

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
route_var: ContextVar[str] = ContextVar("route", default="-")
user_id_var: ContextVar[str] = ContextVar("user_id", default="-")

API_VERSION = "1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # The API serves JSON; only /docs renders HTML, from our own origin.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}
_HSTS = "max-age=31536000; includeSubDomains; preload"
_RAW_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()]
_RAW_HSTS = (b"strict-transport-security", _HSTS.encode())
_API_VERSION = (b"api-version", API_VERSION.encode())
_LANGUAGE_HEADERS = {
    # what every answer in that language carries: Content-Language, and the direction
    language: [(b"content-language", language.encode())]
    + ([(b"x-text-direction", b"rtl")] if language in RTL_LANGUAGES else [])
    for language in SUPPORTED_LANGUAGES
}


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, trusted_proxy_hops: int) -> None:
        self.app = app
        self.hsts = hsts
        self.trusted_proxy_hops = trusted_proxy_hops

    def _client_ip(self, scope: Scope) -> str:
        if self.trusted_proxy_hops:
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    hops = [part.strip() for part in value.decode("latin-1").split(",")]
                    # the address the outermost trusted proxy saw
                    index = max(0, len(hops) - self.trusted_proxy_hops)
                    return hops[index] or "unknown"
        client = scope.get("client")
        return client[0] if client else "unknown"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k: v for k, v in scope["headers"] if k in (b"x-request-id", b"accept-language")}
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(12)
        language = negotiate_language(headers.get(b"accept-language", b"").decode("latin-1"))
        state = scope.setdefault("state", {})
        state.update(request_id=request_id, language=language, client_ip=self._client_ip(scope))
        tokens = (
            request_id_var.set(request_id),
            current_language.set(language),
            user_id_var.set("-"),
            route_var.set("-"),
        )

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Raw header pairs (MutableHeaders re-scans the list on every operation).
                out = message.setdefault("headers", [])
                present = {name for name, _ in out}
                out.append((b"x-request-id", request_id.encode("latin-1")))
                out.append(_API_VERSION)
                for pair in _RAW_SECURITY_HEADERS:
                    if pair[0] not in present:
                        out.append(pair)
                if self.hsts:
                    out.append(_RAW_HSTS)
                if b"content-language" not in present:
                    out.extend(_LANGUAGE_HEADERS.get(language, ()))
                elif language in RTL_LANGUAGES and b"x-text-direction" not in present:
                    out.append((b"x-text-direction", b"rtl"))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(tokens[0])
            current_language.reset(tokens[1])
            user_id_var.reset(tokens[2])
            route_var.reset(tokens[3])
