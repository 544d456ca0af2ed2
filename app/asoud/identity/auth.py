"""Who is calling: bearer-token authentication and the general per-caller rate limits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from asoud.identity.models import User
from asoud.identity.tokens import decode_access_token, load_session_user
from asoud.platform.errors import Forbidden, Unauthenticated
from asoud.platform.http import Auth, Call
from asoud.platform.middleware import user_id_var
from asoud.platform.ratelimit import Limit


@dataclass(frozen=True)
class Principal:
    user: User
    session_id: uuid.UUID


def _bearer(call: Call[Any, Any]) -> str | None:
    header = call.request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(call: Call[Any, Any], auth: Auth) -> Principal | None:
    token = _bearer(call)
    if token is None:
        if auth is Auth.optional:
            return None
        raise Unauthenticated()
    claims = decode_access_token(call.platform, token)
    user = await load_session_user(str(claims["sub"]), str(claims["sid"]))
    if user is None:
        raise Unauthenticated("token_invalid")
    if auth is Auth.staff and not user.is_staff:
        raise Forbidden()
    user_id_var.set(str(user.id))
    return Principal(user=user, session_id=uuid.UUID(str(claims["sid"])))


async def general_limits(call: Call[Any, Any]) -> dict[str, str]:
    """Anonymous callers by IP, users by id, plus a burst limit; fails open on Redis trouble."""
    rates = call.platform.rates
    principal: Principal | None = call.principal
    if principal is None:
        who = "ip:" + call.client_ip
        limits = [Limit("anonymous", who, rates.anonymous), Limit("burst", who, rates.burst)]
    else:
        who = "user:" + str(principal.user.id)
        limits = [Limit("user", who, rates.user), Limit("burst", who, rates.burst)]
    decision = await call.platform.limiter.enforce(limits, fail_closed=False)
    return decision.headers() if decision is not None else {}
