"""The running platform's shared resources, created once per process and closed on shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from taskiq import AsyncBroker
from tortoise.context import TortoiseContext

from asoud.background.broker import create_broker
from asoud.notifications.sms import SmsRouter, build_sms_router
from asoud.platform import database
from asoud.platform.cache import Cache
from asoud.platform.keyring import KeyringSource
from asoud.platform.ratelimit import Rate, RateLimiter
from asoud.platform.redis import KeySpace, create_redis
from asoud.platform.settings import ConfigurationError, Settings


@dataclass(frozen=True)
class Rates:
    anonymous: Rate
    user: Rate
    burst: Rate
    login_phone: Rate
    login_ip: Rate

    @classmethod
    def from_settings(cls, settings: Settings) -> Rates:
        try:
            return cls(
                anonymous=Rate.parse(settings.rate_limit_anonymous),
                user=Rate.parse(settings.rate_limit_user),
                burst=Rate.parse(settings.rate_limit_burst),
                login_phone=Rate.parse(settings.rate_limit_login_phone),
                login_ip=Rate.parse(settings.rate_limit_login_ip),
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None


@dataclass
class Platform:
    settings: Settings
    redis: Redis
    keys: KeySpace
    cache: Cache
    limiter: RateLimiter
    rates: Rates
    keyring: KeyringSource
    http: httpx.AsyncClient
    sms: SmsRouter
    tasks: AsyncBroker
    # Outbound adapters built once per process (payment gateways, push senders), so what
    # they hold (PayPal's and FCM's OAuth tokens) lives as long as the process does.
    adapters: dict[str, Any] = field(default_factory=dict)
    _orm: TortoiseContext | None = None
    _schedule: tuple[asyncio.Task[None], asyncio.Event] | None = None

    @classmethod
    def create(cls, settings: Settings) -> Platform:
        if settings.jwt_keyring_file is None:
            raise ConfigurationError("ASOUD_JWT_KEYRING_FILE is required (asoud keys generate)")
        keyring = KeyringSource(
            Path(settings.jwt_keyring_file), settings.keyring_reload_interval_seconds
        )
        redis = create_redis(settings)
        keys = KeySpace(settings.redis_key_prefix)
        http = httpx.AsyncClient(
            timeout=settings.sms_timeout_seconds,
            headers={"User-Agent": "asoud/1"},
            follow_redirects=False,
        )
        return cls(
            settings=settings,
            redis=redis,
            keys=keys,
            cache=Cache(redis, keys, enabled=settings.cache_enabled),
            limiter=RateLimiter(
                redis, keys, settings.secret_key, enabled=settings.rate_limit_enabled
            ),
            rates=Rates.from_settings(settings),
            keyring=keyring,
            http=http,
            sms=build_sms_router(settings, http, redis, keys),
            tasks=create_broker(settings),
        )

    async def start(self) -> None:
        self._orm = await database.init_database(self.settings)
        await self.tasks.startup()
        if self.settings.uses_embedded_redis:
            # The quick start runs tasks inside the API process, with its resources.
            from asoud.background import context

            context.set_platform(self)
            if self.settings.environment.value == "development":
                from asoud.background import embedded

                self._schedule = embedded.start(self.tasks, self.redis, self.keys)

    async def close(self) -> None:
        if self._schedule is not None:
            from asoud.background import embedded

            await embedded.stop(self._schedule)
        await self.tasks.shutdown()
        await self.limiter.close()  # the last hits counted here reach Redis
        for adapter in self.adapters.values():
            stop = getattr(adapter, "stop", None)  # background refreshers (local caches)
            if stop is not None:
                await stop()
        await self.http.aclose()
        await self.redis.aclose()
        if self._orm is not None:
            await database.close_database(self._orm)
