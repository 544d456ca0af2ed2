"""Helpers that walk the real login journey over HTTP."""

from __future__ import annotations

import httpx

from asoud.notifications.sms import OutboxProvider
from asoud.runtime import Platform


async def last_code(platform: Platform, phone_e164: str) -> str:
    outbox = platform.sms.provider_for(phone_e164)
    assert isinstance(outbox, OutboxProvider), "tests read codes from the outbox provider"
    for message in await outbox.messages():
        if message["to"] == phone_e164:
            return message["code"]
    raise AssertionError(f"no code was sent to {phone_e164}")


def e164(phone: str) -> str:
    return "+98" + phone[1:] if phone.startswith("09") else phone


async def login(client: httpx.AsyncClient, platform: Platform, phone: str) -> dict[str, str]:
    sent = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    code = await last_code(platform, e164(phone))
    issued = await client.post("/api/v1/auth/token", json={"phone": phone, "code": code})
    assert issued.status_code == 200, issued.text
    return issued.json()  # type: ignore[no-any-return]


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def otp_keys(platform: Platform, suffix: str = "") -> list[bytes]:
    """The one-time-code keys in Redis (``suffix``: ":code", ":lock", ":tries" or all)."""
    pattern = platform.keys("otp", "*") + suffix
    return [key async for key in platform.redis.scan_iter(match=pattern)]


async def forget_codes(platform: Platform, suffix: str = "") -> None:
    """Drop pending codes and the 60 s re-request lock, to log the same number in again."""
    keys = await otp_keys(platform, suffix)
    if keys:
        await platform.redis.delete(*keys)
