"""Rate limits in Redis: login per phone and per IP (fail-closed), general limits (fail-open)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from asoud.platform.ratelimit import Limit, Rate, RateLimiter
from asoud.runtime import Platform
from tests.support.login import bearer, forget_codes, login


def test_rate_parsing() -> None:
    assert Rate.parse("100/hour") == Rate(100, 3600)
    assert Rate.parse("5/minutes") == Rate(5, 60)
    for bad in ("0/hour", "x/hour", "5/fortnight", "5"):
        with pytest.raises(ValueError, match="invalid rate"):
            Rate.parse(bad)


async def test_login_code_requests_are_limited_per_phone(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    for _ in range(5):
        assert (
            await client.post("/api/v1/auth/otp", json={"phone": "09121234567"})
        ).status_code == 202
        await forget_codes(platform, ":lock")  # the 60 s lock is not tested here
    limited = await client.post("/api/v1/auth/otp", json={"phone": "09121234567"})
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (
        limited.headers["RateLimit-Limit"] == "5" and limited.headers["RateLimit-Remaining"] == "0"
    )
    assert limited.headers["RateLimit-Policy"] == "5;w=60"
    # another number from the same address is still served
    assert (await client.post("/api/v1/auth/otp", json={"phone": "09127654321"})).status_code == 202


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login_ip": "3/minute"}])
async def test_login_is_limited_per_ip(client: httpx.AsyncClient, platform: Platform) -> None:
    for n in range(3):
        assert (
            await client.post("/api/v1/auth/otp", json={"phone": f"0912000000{n}"})
        ).status_code == 202
    limited = await client.post("/api/v1/auth/otp", json={"phone": "09120000009"})
    assert limited.status_code == 429 and limited.headers["RateLimit-Limit"] == "3"
    verify = await client.post(
        "/api/v1/auth/token", json={"phone": "09120000001", "code": "123456"}
    )
    assert verify.status_code == 401  # the verify endpoint has its own counters


async def test_login_fails_closed_when_redis_is_down(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    platform: Platform = app.state.platform
    healthy = platform.limiter.redis
    platform.limiter.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        for path, body in [
            ("/api/v1/auth/otp", {"phone": "09121234567"}),
            ("/api/v1/auth/token", {"phone": "09121234567", "code": "123456"}),
        ]:
            response = await client.post(path, json=body, headers={"Accept-Language": "fa"})
            assert response.status_code == 503
            assert response.json()["code"] == "service_unavailable"
            assert response.json()["title"] == "سرویس در دسترس نیست"
    finally:
        await platform.limiter.redis.aclose()
        platform.limiter.redis = healthy
    assert await platform.redis.llen(platform.keys("sms-outbox")) == 0


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_anonymous": "3/hour"}])
async def test_anonymous_callers_are_limited_per_ip(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        ok = await client.post("/api/v1/auth/refresh", json={"refresh_token": "asr_unknown-token"})
        assert ok.status_code == 401 and ok.headers["RateLimit-Limit"] == "3"
    limited = await client.post("/api/v1/auth/refresh", json={"refresh_token": "asr_unknown-token"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) <= 3600
    assert (await client.get("/livez")).status_code == 200  # probes are never limited


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_user": "4/hour", "rate_limit_login_phone": "50/minute"}],
)
async def test_users_are_limited_per_account(client: httpx.AsyncClient, platform: Platform) -> None:
    tokens = await login(client, platform, "09121234567")
    statuses = [
        (await client.get("/api/v1/me", headers=bearer(tokens))).status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_burst": "2/minute"}])
async def test_burst_limit(client: httpx.AsyncClient) -> None:
    statuses = [(await client.get("/api/v1/me")).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # failed authentication counts: token guessing is limited


async def test_general_limits_fail_open(
    client: httpx.AsyncClient, app: Starlette, caplog: Any
) -> None:
    """General limits never wait for Redis; a flush that fails keeps the hits for the next."""
    platform: Platform = app.state.platform
    healthy = platform.limiter.redis
    platform.limiter.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        response = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": "asr_nothing-here"}
        )
        await platform.limiter.flush()
    finally:
        await platform.limiter.redis.aclose()
        platform.limiter.redis = healthy
    assert response.status_code == 401  # served, not 503
    assert "rate limiter unavailable, counting locally" in caplog.text
    pending = sum(w.pending for w in platform.limiter._windows.values())
    assert pending >= 2  # the anonymous and burst hits wait for Redis to come back
    await platform.limiter.flush()
    assert sum(w.pending for w in platform.limiter._windows.values()) == 0


async def test_processes_see_each_others_hits_after_a_flush(app: Starlette) -> None:
    """Two processes' local counts meet in Redis: each decides from the shared total."""
    platform: Platform = app.state.platform
    first = platform.limiter
    second = RateLimiter(first.redis, first.keys, "same-secret")
    first._secret = b"same-secret"
    limit = [Limit("test", "ip:203.0.113.9", Rate(5, 3600))]
    assert [first.count_locally(limit).allowed for _ in range(3)] == [True] * 3  # type: ignore[union-attr]
    await first.flush()
    await second.flush()
    second.count_locally(limit)
    await second.flush()  # learns the total: 3 from the first process, 1 of its own
    decision = second.count_locally(limit)
    assert decision is not None and decision.remaining == 0 and decision.allowed
    refused = second.count_locally(limit)
    assert refused is not None and not refused.allowed
