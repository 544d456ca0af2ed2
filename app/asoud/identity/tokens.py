"""Access tokens (JWT from the keyring) and rotating, revocable refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from tortoise.transactions import in_transaction

from asoud.identity.models import RefreshToken, User
from asoud.platform.database import fetch_sql
from asoud.platform.errors import Unauthenticated
from asoud.runtime import Platform

REFRESH_PREFIX = "asr_"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def sign_access_token(platform: Platform, user: User, session_id: uuid.UUID) -> str:
    settings = platform.settings
    now = int(_now().timestamp())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user.id),
        "sid": str(session_id),
        "jti": secrets.token_hex(12),
        "iat": now,
        "nbf": now,
        "exp": now + settings.access_token_ttl_seconds,
    }
    return platform.keyring.get().sign(claims)


async def _new_refresh_token(platform: Platform, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    raw = REFRESH_PREFIX + secrets.token_urlsafe(32)
    await RefreshToken.create(
        user_id=user_id,
        session_id=session_id,
        token_hash=_hash(raw),
        expires_at=_now() + timedelta(seconds=platform.settings.refresh_token_ttl_seconds),
    )
    return raw


async def start_session(platform: Platform, user: User) -> IssuedTokens:
    """A new login: a new session id, the first refresh token of its chain, an access token."""
    session_id = uuid.uuid4()
    refresh = await _new_refresh_token(platform, user.id, session_id)
    return IssuedTokens(
        access_token=sign_access_token(platform, user, session_id),
        refresh_token=refresh,
        expires_in=platform.settings.access_token_ttl_seconds,
        session_id=session_id,
    )


async def refresh(platform: Platform, raw: str) -> IssuedTokens:
    """Exchange a refresh token for a new pair; a second use of one token ends its whole login."""
    token_hash = _hash(raw)
    now = _now()
    async with in_transaction():
        # The conditional update is the lock: of two concurrent refreshes, exactly one wins.
        won = await RefreshToken.filter(
            token_hash=token_hash,
            rotated_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(rotated_at=now)
        token = await RefreshToken.get_or_none(token_hash=token_hash).select_related("user")
        if token is None:
            raise Unauthenticated("refresh_token_invalid")
        reused = not won and token.rotated_at is not None and token.revoked_at is None
        if reused:
            # Either the client or a thief holds a copy; end the login for both.
            await revoke_session(token.session_id)
        elif not won:
            raise Unauthenticated("refresh_token_invalid")
        elif not token.user.is_active:
            raise Unauthenticated("account_inactive")
        else:
            new_refresh = await _new_refresh_token(platform, token.user.id, token.session_id)
    if reused:  # raised after the commit so the revocation sticks
        raise Unauthenticated("refresh_token_reused")
    return IssuedTokens(
        access_token=sign_access_token(platform, token.user, token.session_id),
        refresh_token=new_refresh,
        expires_in=platform.settings.access_token_ttl_seconds,
        session_id=token.session_id,
    )


async def revoke_session(session_id: uuid.UUID) -> int:
    return await RefreshToken.filter(session_id=session_id, revoked_at__isnull=True).update(
        revoked_at=_now()
    )


async def revoke_all_sessions(user_id: uuid.UUID) -> int:
    return await RefreshToken.filter(user_id=user_id, revoked_at__isnull=True).update(
        revoked_at=_now()
    )


def decode_access_token(platform: Platform, token: str) -> dict[str, object]:
    settings = platform.settings
    try:
        return platform.keyring.get().verify(
            token, audience=settings.jwt_audience, issuer=settings.jwt_issuer
        )
    except jwt.InvalidTokenError:
        raise Unauthenticated("token_invalid") from None


# Runs on every authenticated request, so it is fixed SQL (a prepared statement on
# PostgreSQL) rather than a queryset: Tortoise spends ~0.2 ms building this join each time.
_SESSION_USER_SQL = (
    'SELECT u.* FROM "identity_user" u WHERE u."id" = $1 AND u."is_active" = $2 AND EXISTS ('
    'SELECT 1 FROM "identity_refresh_token" t WHERE t."session_id" = $3 AND t."user_id" = u."id" '
    'AND t."revoked_at" IS NULL)'
)


async def load_session_user(user_id: str, session_id: str) -> User | None:
    """The token's user, if active and the token's login has not been revoked: one query."""
    try:
        uid, sid = uuid.UUID(user_id), uuid.UUID(session_id)
    except ValueError:
        return None
    rows = await fetch_sql(_SESSION_USER_SQL, [uid, True, sid])
    return User._init_from_db(**rows[0]) if rows else None
