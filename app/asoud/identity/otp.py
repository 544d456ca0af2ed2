"""One-time login codes: random, stored only as a salted hash, few tries, single use.

Redis keys per phone (hashed with the server secret so keys reveal no number):
``otp:<h>:code`` = ``<salt>$<hmac>`` for the code's lifetime, ``otp:<h>:tries`` counts wrong
attempts, ``otp:<h>:lock`` blocks a new code for ``otp_resend_lock_seconds``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from redis.exceptions import RedisError

from asoud.identity.phone import mask_phone
from asoud.notifications.sms import SmsDeliveryError
from asoud.platform.errors import DomainError, RateLimited, ServiceUnavailable, Unauthenticated
from asoud.platform.ratelimit import Limit
from asoud.runtime import Platform

log = logging.getLogger("asoud.identity.otp")


def _phone_key(platform: Platform, phone: str) -> str:
    digest = hmac.new(platform.settings.secret_key.encode(), phone.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def _code_hash(platform: Platform, salt: str, code: str) -> str:
    message = f"{salt}:{code}".encode()
    return hmac.new(platform.settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


async def enforce_login_limits(platform: Platform, scope: str, phone: str, ip: str) -> None:
    """Per phone and per IP; fails closed: without Redis nobody may guess codes unlimited."""
    await platform.limiter.enforce(
        [
            Limit(f"{scope}:phone", phone, platform.rates.login_phone),
            Limit(f"{scope}:ip", ip, platform.rates.login_ip),
        ],
        fail_closed=True,
    )


async def code_voided(platform: Platform, phone: str) -> bool:
    """Did too many wrong tries void the last code (so only a new code can help)?"""
    base = platform.keys("otp", _phone_key(platform, phone))
    try:
        return bool(await platform.redis.exists(base + ":void"))
    except RedisError:
        return False


async def request_code(platform: Platform, phone: str, language: str) -> tuple[int, int]:
    """Create and send a code; returns ``(expires_in, resend_after)`` seconds."""
    settings = platform.settings
    base = platform.keys("otp", _phone_key(platform, phone))
    try:
        locked = await platform.redis.set(
            base + ":lock", "1", nx=True, ex=settings.otp_resend_lock_seconds
        )
        if not locked:
            retry_after = max(1, int(await platform.redis.ttl(base + ":lock")))
            raise RateLimited(
                "otp_recently_sent",
                headers={"Retry-After": str(retry_after)},
                retry_after=retry_after,
            )
        code = "".join(secrets.choice("0123456789") for _ in range(settings.otp_length))
        salt = secrets.token_hex(8)
        async with platform.redis.pipeline(transaction=True) as pipe:
            pipe.set(
                base + ":code",
                f"{salt}${_code_hash(platform, salt, code)}",
                ex=settings.otp_ttl_seconds,
            )
            pipe.delete(base + ":tries", base + ":void")
            await pipe.execute()
    except RedisError:
        raise ServiceUnavailable() from None

    try:
        await platform.sms.send_code(phone, code, language)
    except SmsDeliveryError as exc:
        log.warning("one-time code not delivered to %s: %s", mask_phone(phone), exc)
        # Leave nothing behind, so the person may ask again at once.
        await platform.redis.delete(base + ":code", base + ":lock")
        raise DomainError("otp_delivery_failed", status=503) from None
    return settings.otp_ttl_seconds, settings.otp_resend_lock_seconds


async def consume_code(platform: Platform, phone: str, code: str) -> None:
    """Accept the code exactly once, or raise 401 ``otp_invalid`` (one answer for every failure)."""
    settings = platform.settings
    base = platform.keys("otp", _phone_key(platform, phone))
    invalid = Unauthenticated("otp_invalid")
    try:
        stored = await platform.redis.get(base + ":code")
        if stored is None:
            if await platform.redis.exists(base + ":void"):
                raise Unauthenticated("otp_new_code_needed")
            raise invalid
        text = stored.decode() if isinstance(stored, bytes) else str(stored)
        salt, _, expected = text.partition("$")
        if hmac.compare_digest(expected, _code_hash(platform, salt, code)):
            # DEL returns 1 for exactly one of any concurrent verifiers: single use.
            if await platform.redis.delete(base + ":code") != 1:
                raise invalid
            await platform.redis.delete(base + ":tries")
            return
        async with platform.redis.pipeline(transaction=True) as pipe:
            pipe.incr(base + ":tries")
            pipe.expire(base + ":tries", settings.otp_ttl_seconds)
            tries = int((await pipe.execute())[0])
        if tries >= settings.otp_max_attempts:
            # The code is void now: say so (and keep saying so) rather than let the person
            # wait out a rate limit only to find the right code refused.
            async with platform.redis.pipeline(transaction=True) as pipe:
                pipe.delete(base + ":code")
                pipe.set(base + ":void", "1", ex=settings.otp_ttl_seconds)
                await pipe.execute()
            raise Unauthenticated("otp_new_code_needed")
        raise invalid
    except RedisError:
        raise ServiceUnavailable() from None
