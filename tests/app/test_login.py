"""The one-time-code login journey, sessions and the caller's profile, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from asoud.identity.models import RefreshToken, User
from asoud.runtime import Platform
from tests.support.login import bearer, e164, forget_codes, last_code, login, otp_keys

PHONE = "09121234567"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The login rate limits (5/min per phone) are tested in test_rate_limits.py; here they
    # would hide the one-time-code rules being tested.
    return {"rate_limit_login_phone": "100/minute", "rate_limit_login_ip": "100/minute"}


async def test_full_login_journey(client: httpx.AsyncClient, platform: Platform) -> None:
    sent = await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert sent.status_code == 202
    assert sent.json() == {"expires_in": 120, "resend_after": 60}
    code = await last_code(platform, e164(PHONE))
    assert len(code) == 6 and code.isdigit()

    issued = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
    assert issued.status_code == 200
    tokens = issued.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900

    me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status_code == 200
    body = me.json()
    assert body["phone"] == "+989121234567"
    assert body["capabilities"] == {"buy": True, "create_market": True, "moderate": False}
    assert body["markets"] == []
    user = await User.get(phone="+989121234567")
    assert str(user.id) == body["id"] and user.last_login_at is not None


async def test_code_is_stored_only_as_a_salted_hash(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    stored = [await platform.redis.get(key) for key in await otp_keys(platform, ":code")]
    assert len(stored) == 1
    assert code.encode() not in stored[0] and b"$" in stored[0]
    # the phone number is not readable from the key either
    keys = [key async for key in platform.redis.scan_iter(match=platform.keys("*"))]
    assert not any(b"9121234567" in key for key in keys)


async def test_international_number_logs_in(client: httpx.AsyncClient, platform: Platform) -> None:
    tokens = await login(client, platform, "+14155550123")
    me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert me.json()["phone"] == "+14155550123"


@pytest.mark.parametrize("phone", ["12345", "0912123456", "+98912", "08121234567", "+442071838750"])
async def test_invalid_phone_is_refused_and_nothing_is_sent(
    client: httpx.AsyncClient, platform: Platform, phone: str
) -> None:
    response = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"][0]["field"] == "body.phone"
    assert problem["errors"][0]["code"] in {"invalid_phone", "string_too_short"}
    assert await platform.redis.llen(platform.keys("sms-outbox")) == 0


async def test_five_wrong_codes_void_the_code(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        response = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": wrong})
        assert response.status_code == 401
        assert response.json()["code"] == "otp_invalid"
    # the fifth miss destroys the code, and the answer says a new one is needed
    fifth = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": wrong})
    assert fifth.status_code == 401 and fifth.json()["code"] == "otp_new_code_needed"
    # even the right code is refused now, with the same advice (not "try again in N seconds",
    # though the per-number login limit is spent too)
    for _ in range(3):
        response = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
        assert response.status_code == 401
        assert response.json()["code"] == "otp_new_code_needed"
    assert await User.filter(phone=e164(PHONE)).count() == 0
    # a new code works again (once the resend lock allows one)
    await platform.redis.delete(*await otp_keys(platform, ":lock"))
    assert (await client.post("/api/v1/auth/otp", json={"phone": PHONE})).status_code == 202
    assert await otp_keys(platform, ":void") == []  # the new code is not void


async def test_code_works_after_fewer_than_five_misses(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        assert (
            await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": wrong})
        ).status_code == 401
    assert (
        await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
    ).status_code == 200


async def test_code_is_single_use(client: httpx.AsyncClient, platform: Platform) -> None:
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    first = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
    second = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
    assert (first.status_code, second.status_code) == (200, 401)


async def test_concurrent_use_of_one_code_logs_in_once(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code}) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * 9
    assert await RefreshToken.all().count() == 1


async def test_new_code_cannot_be_requested_within_sixty_seconds(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    assert (await client.post("/api/v1/auth/otp", json={"phone": PHONE})).status_code == 202
    again = await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert again.status_code == 429
    assert again.json()["code"] == "otp_recently_sent"
    assert 55 <= int(again.headers["Retry-After"]) <= 60
    assert len(await platform.sms.iran.messages()) == 1  # type: ignore[attr-defined]


async def test_code_expires(client: httpx.AsyncClient, platform: Platform) -> None:
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    [key] = await otp_keys(platform, ":code")
    assert 115 <= await platform.redis.ttl(key) <= 120  # Redis drops it after 120 s
    await platform.redis.delete(key)  # ...which is what happens here, without waiting
    response = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
    assert response.status_code == 401


async def test_refresh_rotates_and_reuse_ends_the_login(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    first = await login(client, platform, PHONE)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/me", headers=bearer(second))).status_code == 200

    # The old refresh token presented again: someone holds a copy. The whole login ends.
    reused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    assert reused.json()["code"] == "refresh_token_reused"
    newest = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert newest.status_code == 401
    assert newest.json()["code"] == "refresh_token_invalid"
    me = await client.get("/api/v1/me", headers=bearer(second))
    assert me.status_code == 401 and me.json()["code"] == "token_invalid"


async def test_reuse_in_one_login_leaves_other_logins_alone(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    phone_login = await login(client, platform, PHONE)
    await forget_codes(platform)
    laptop_login = await login(client, platform, PHONE)
    await client.post("/api/v1/auth/refresh", json={"refresh_token": phone_login["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": phone_login["refresh_token"]})
    assert (await client.get("/api/v1/me", headers=bearer(laptop_login))).status_code == 200


async def test_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": "asr_" + "x" * 43})
    assert response.status_code == 401
    assert response.json()["code"] == "refresh_token_invalid"


async def test_logout_ends_this_login_only(client: httpx.AsyncClient, platform: Platform) -> None:
    one = await login(client, platform, PHONE)
    await forget_codes(platform)
    two = await login(client, platform, PHONE)
    out = await client.post("/api/v1/auth/logout", json={}, headers=bearer(one))
    assert out.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(one))).status_code == 401
    refused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": one["refresh_token"]}
    )
    assert refused.status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(two))).status_code == 200


async def test_logout_everywhere(client: httpx.AsyncClient, platform: Platform) -> None:
    one = await login(client, platform, PHONE)
    await forget_codes(platform)
    two = await login(client, platform, PHONE)
    out = await client.post("/api/v1/auth/logout", json={"all_sessions": True}, headers=bearer(two))
    assert out.status_code == 204
    for tokens in (one, two):
        assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401


async def test_profile_update(client: httpx.AsyncClient, platform: Platform) -> None:
    tokens = await login(client, platform, PHONE)
    patched = await client.patch(
        "/api/v1/me", json={"display_name": "Sara", "language": "fa"}, headers=bearer(tokens)
    )
    assert patched.status_code == 200
    assert patched.json()["display_name"] == "Sara" and patched.json()["language"] == "fa"
    bad = await client.patch("/api/v1/me", json={"language": "xx"}, headers=bearer(tokens))
    assert bad.status_code == 422
    unknown = await client.patch("/api/v1/me", json={"is_staff": True}, headers=bearer(tokens))
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["code"] == "extra_forbidden"
    user = await User.get(phone=e164(PHONE))
    assert (user.display_name, user.language, user.is_staff) == ("Sara", "fa", False)


async def test_disabled_account_cannot_log_in_or_use_tokens(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    tokens = await login(client, platform, PHONE)
    await User.filter(phone=e164(PHONE)).update(is_active=False)
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401
    await forget_codes(platform)
    await client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = await last_code(platform, e164(PHONE))
    refused = await client.post("/api/v1/auth/token", json={"phone": PHONE, "code": code})
    assert refused.status_code == 403 and refused.json()["code"] == "account_inactive"


async def test_me_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"
    garbage = await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert garbage.status_code == 401 and garbage.json()["code"] == "token_invalid"
