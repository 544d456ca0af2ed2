"""HTTP routes of the identity domain (thin: parse, call a service, shape the answer)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from asoud.identity import services, tokens
from asoud.identity.schemas import (
    Jwks,
    LogoutRequest,
    Me,
    MePatch,
    OtpAccepted,
    OtpRequest,
    RefreshRequest,
    TokenPair,
    TokenRequest,
    UserAdmin,
    UserLookup,
)
from asoud.platform.http import Api, Auth, Call
from asoud.platform.i18n import current_language

api = Api()


def _pair(issued: tokens.IssuedTokens) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


@api.endpoint(
    "POST",
    "/api/v1/auth/otp",
    summary="Send a one-time login code",
    tags=["auth"],
    body=OtpRequest,
    responses={202: OtpAccepted},
    errors=[429, 503],
    rate_limited=False,
)
async def request_otp(call: Call[OtpRequest, Any]) -> OtpAccepted:
    """Sends a code by SMS. A new code for the same number can be requested after 60 s."""
    expires_in, resend_after = await services.send_login_code(
        call.platform, call.body.phone, call.client_ip, current_language.get()
    )
    return OtpAccepted(expires_in=expires_in, resend_after=resend_after)


@api.endpoint(
    "POST",
    "/api/v1/auth/token",
    summary="Log in with the one-time code",
    tags=["auth"],
    body=TokenRequest,
    responses={200: TokenPair},
    errors=[401, 403, 429, 503],
    rate_limited=False,
)
async def issue_token(call: Call[TokenRequest, Any]) -> TokenPair:
    """Exchanges a valid code for an access token and a refresh token. Five wrong tries void it."""
    issued = await services.login_with_code(
        call.platform, call.body.phone, call.body.code, call.client_ip
    )
    return _pair(issued)


@api.endpoint(
    "POST",
    "/api/v1/auth/refresh",
    summary="Rotate the refresh token",
    tags=["auth"],
    body=RefreshRequest,
    responses={200: TokenPair},
    errors=[401],
)
async def refresh_token(call: Call[RefreshRequest, Any]) -> TokenPair:
    """Returns a new pair; the presented refresh token dies. Reusing it ends the whole login."""
    return _pair(await tokens.refresh(call.platform, call.body.refresh_token))


@api.endpoint(
    "POST",
    "/api/v1/auth/logout",
    summary="End this login (or all)",
    tags=["auth"],
    auth=Auth.user,
    body=LogoutRequest,
    responses={204: None},
)
async def logout(call: Call[LogoutRequest, Any]) -> None:
    await services.logout(call.principal, all_sessions=call.body.all_sessions)


@api.endpoint(
    "GET",
    "/api/v1/me",
    summary="The caller's profile",
    tags=["me"],
    auth=Auth.user,
    responses={200: Me},
)
async def get_me(call: Call[Any, Any]) -> Me:
    return await services.describe(call.principal.user)


@api.endpoint(
    "PATCH",
    "/api/v1/me",
    summary="Update name or language",
    tags=["me"],
    auth=Auth.user,
    body=MePatch,
    responses={200: Me},
)
async def patch_me(call: Call[MePatch, Any]) -> Me:
    return await services.update_profile(call.principal.user, call.body)


@api.endpoint(
    "GET",
    "/.well-known/jwks.json",
    summary="Public signing keys",
    tags=["auth"],
    responses={200: Jwks},
    rate_limited=False,
)
async def jwks(call: Call[Any, Any]) -> Response:
    return JSONResponse(
        call.platform.keyring.get().jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


@api.endpoint(
    "GET",
    "/api/v1/admin/users",
    summary="Find an account by its mobile number",
    tags=["admin"],
    auth=Auth.staff,
    query=UserLookup,
    responses={200: UserAdmin},
    errors=[404],
)
async def find_user(call: Call[Any, UserLookup]) -> UserAdmin:
    return services.admin_view(await services.user_by_phone(call.query.phone))


@api.endpoint(
    "POST",
    "/api/v1/admin/users/{user_id}/disable",
    summary="Disable an account and end its sessions",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: UserAdmin},
    errors=[404, 409],
)
async def disable_user(call: Call[Any, Any]) -> UserAdmin:
    """Every session ends at once (the next request with any of its tokens gets 401) and
    logging in is refused until the account is enabled again."""
    user = await services.set_active(call.principal.user, call.path["user_id"], active=False)
    return services.admin_view(user)


@api.endpoint(
    "POST",
    "/api/v1/admin/users/{user_id}/enable",
    summary="Enable an account again",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: UserAdmin},
    errors=[404],
)
async def enable_user(call: Call[Any, Any]) -> UserAdmin:
    """The person logs in again; sessions ended by disabling stay ended."""
    user = await services.set_active(call.principal.user, call.path["user_id"], active=True)
    return services.admin_view(user)
