"""Identity rules: logging in by one-time code, sessions, the caller's profile, staff accounts."""

from __future__ import annotations

from datetime import UTC, datetime

from asoud.identity import otp, tokens
from asoud.identity.auth import Principal
from asoud.identity.models import User
from asoud.identity.schemas import Capabilities, MarketAccess, Me, MePatch, UserAdmin
from asoud.platform.database import save_changes
from asoud.platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    uuid_or_404,
)
from asoud.runtime import Platform


async def send_login_code(
    platform: Platform, phone: str, ip: str, language: str
) -> tuple[int, int]:
    await otp.enforce_login_limits(platform, "otp-request", phone, ip)
    return await otp.request_code(platform, phone, language)


async def login_with_code(
    platform: Platform, phone: str, code: str, ip: str
) -> tokens.IssuedTokens:
    try:
        await otp.enforce_login_limits(platform, "otp-verify", phone, ip)
    except RateLimited:
        # once the code is void no guess can succeed: tell people what helps
        if await otp.code_voided(platform, phone):
            raise Unauthenticated("otp_new_code_needed") from None
        raise
    await otp.consume_code(platform, phone, code)
    user, _ = await User.get_or_create(phone=phone)
    if not user.is_active:
        raise Forbidden("account_inactive")
    user.last_login_at = datetime.now(UTC)
    await user.save(update_fields=["last_login_at"])
    # The number is verified now: colleagues' invitations to it take effect.
    from asoud.markets.services import join_invited_markets

    await join_invited_markets(user)
    return await tokens.start_session(platform, user)


async def logout(principal: Principal, *, all_sessions: bool) -> None:
    if all_sessions:
        await tokens.revoke_all_sessions(principal.user.id)
    else:
        await tokens.revoke_session(principal.session_id)


async def describe(user: User) -> Me:
    from asoud.markets.services import markets_of  # markets build on identity, not vice versa

    markets = [
        MarketAccess(market_id=market.id, business_id=market.business_id, access=access)  # type: ignore[arg-type]
        for market, access in await markets_of(user)
    ]
    return Me(
        id=user.id,
        phone=user.phone,
        display_name=user.display_name,
        language=user.language,  # type: ignore[arg-type]
        is_staff=user.is_staff,
        capabilities=Capabilities(buy=True, create_market=True, moderate=user.is_staff),
        markets=markets,
    )


async def update_profile(user: User, patch: MePatch) -> Me:
    await save_changes(user, patch.model_dump(exclude_unset=True))
    return await describe(user)


async def ensure_staff(phone: str) -> tuple[User, bool]:
    """Create or promote a staff account; returns the user and whether it was created."""
    user, created = await User.get_or_create(phone=phone, defaults={"is_staff": True})
    if not user.is_staff:
        user.is_staff = True
        await user.save(update_fields=["is_staff", "updated_at"])
    return user, created


def admin_view(user: User) -> UserAdmin:
    return UserAdmin(
        id=user.id,
        phone=user.phone,
        display_name=user.display_name,
        is_staff=user.is_staff,
        is_active=user.is_active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


async def user_by_phone(phone: str) -> User:
    user = await User.get_or_none(phone=phone)
    if user is None:
        raise NotFound()
    return user


async def set_active(staff: User, user_id: object, active: bool) -> User:
    """Disable (every session ends at once: the next request with any of their tokens is
    refused) or re-enable an account, who then logs in again."""
    user = await User.get_or_none(id=uuid_or_404(user_id))
    if user is None:
        raise NotFound()
    if user.id == staff.id and not active:
        raise Conflict("cannot_disable_yourself")
    if user.is_active != active:
        await save_changes(user, {"is_active": active})
    if not active:
        await tokens.revoke_all_sessions(user.id)
    return user
