"""Exchange rates from a provider (a fake of its JSON API on loopback), staff overrides, and
conversion for display."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asoud.currencies.models import ExchangeRate
from asoud.currencies.services import RateProviderError, refresh_rates
from asoud.runtime import Platform
from tests.support.market import GENEROUS_LIMITS, Actor
from tests.support.servers import serve


class FakeRates:
    def __init__(self) -> None:
        self.rates: dict[str, dict[str, str]] = {"USD": {"IRT": "61000", "EUR": "0.92", "XXX": "5"}}
        self.down = False

    def app(self) -> Starlette:
        async def latest(request: Request) -> JSONResponse:
            if self.down:
                return JSONResponse({"error": "maintenance"}, 503)
            base = request.query_params["base"]
            return JSONResponse({"base": base, "rates": self.rates.get(base, {})})

        return Starlette(routes=[Route("/latest", latest)])


@pytest.fixture
def provider() -> Iterator[tuple[FakeRates, str]]:
    fake = FakeRates()
    with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
def settings_overrides(provider: tuple[FakeRates, str]) -> dict[str, Any]:
    return {**GENEROUS_LIMITS, "exchange_rate_api_url": provider[1], "exchange_rate_bases": "USD"}


async def test_rates_refresh_convert_and_manual_override(
    client: httpx.AsyncClient,
    platform: Platform,
    provider: tuple[FakeRates, str],
    staff: Actor,
    buyer: Actor,
) -> None:
    fake, _ = provider
    assert await refresh_rates(platform) == 2  # unknown currencies are ignored
    converted = await client.get(
        "/api/v1/exchange-rates/convert", params={"amount": "10", "currency": "USD", "to": "IRT"}
    )
    assert converted.json() == {"amount": "610000", "currency": "IRT"}
    back = await client.get(
        "/api/v1/exchange-rates/convert",
        params={"amount": "1220000", "currency": "IRT", "to": "USD"},
    )
    assert back.json() == {"amount": "20.00", "currency": "USD"}  # through the inverse rate
    assert (
        await client.get(
            "/api/v1/exchange-rates/convert", params={"amount": "1", "currency": "EUR", "to": "TRY"}
        )
    ).status_code == 404

    assert (
        await client.put(
            "/api/v1/admin/exchange-rates/USD/IRT", json={"rate": "65000"}, headers=buyer.headers
        )
    ).status_code == 403
    manual = await client.put(
        "/api/v1/admin/exchange-rates/USD/IRT", json={"rate": "65000"}, headers=staff.headers
    )
    assert manual.json()["source"] == "manual"
    fake.rates["USD"]["IRT"] = "70000"
    await refresh_rates(platform)
    assert (await ExchangeRate.get(base="USD", quote="IRT")).rate == 65000  # the override stays
    assert (await ExchangeRate.get(base="USD", quote="EUR")).source.value == "provider"


async def test_provider_outage_keeps_the_last_rates(
    platform: Platform, provider: tuple[FakeRates, str]
) -> None:
    fake, _ = provider
    await refresh_rates(platform)
    fake.down = True
    with pytest.raises(RateProviderError):
        await refresh_rates(platform)  # the task fails and retries; readers keep the old rates
    assert (await ExchangeRate.get(base="USD", quote="IRT")).rate == 61000
