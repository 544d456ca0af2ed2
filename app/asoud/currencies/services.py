"""Exchange rates: refreshed from a provider, overridable by staff, used to display prices.

Provider protocol (a common JSON shape): ``GET {url}/latest?base=USD`` answers
``{"base": "USD", "rates": {"IRT": "61234.5", "EUR": "0.92", ...}}``.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

import httpx

from asoud.currencies.models import ExchangeRate, RateSource
from asoud.platform.errors import NotFound, field_error
from asoud.platform.money import MINOR_UNITS, Money, money, within_bounds
from asoud.runtime import Platform

log = logging.getLogger("asoud.currencies")


class RateProviderError(Exception):
    """The provider could not be read; the stored rates stay in use."""


async def fetch_rates(platform: Platform, base: str) -> dict[str, Decimal]:
    url = platform.settings.exchange_rate_api_url.rstrip("/") + "/latest"
    try:
        response = await platform.http.get(url, params={"base": base})
        document = response.json()
        rates = {
            quote: Decimal(str(value))
            for quote, value in document["rates"].items()
            if quote in MINOR_UNITS and quote != base
        }
    except (
        httpx.HTTPError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        InvalidOperation,
    ) as exc:
        raise RateProviderError(f"rates unavailable: {type(exc).__name__}") from None
    if response.status_code != 200 or document.get("base") != base:
        raise RateProviderError(f"rates refused: http {response.status_code}")
    return {quote: rate for quote, rate in rates.items() if rate > 0}


async def refresh_rates(platform: Platform) -> int:
    """Store the provider's rates for every base currency; manual overrides are kept."""
    if not platform.settings.exchange_rate_api_url:
        return 0  # no provider configured (the quick start): staff set rates by hand
    updated = 0
    manual = {(r.base, r.quote) for r in await ExchangeRate.filter(source=RateSource.manual)}
    for base in platform.settings.exchange_rate_bases:
        for quote, rate in (await fetch_rates(platform, base)).items():
            if (base, quote) in manual:
                continue
            await ExchangeRate.update_or_create(
                base=base, quote=quote, defaults={"rate": rate, "source": RateSource.provider}
            )
            updated += 1
    return updated


async def set_manual_rate(base: str, quote: str, rate: Decimal) -> ExchangeRate:
    for field, code in (("path.base", base), ("path.quote", quote)):
        if code not in MINOR_UNITS:
            raise field_error(field, "unsupported_currency")
    if base == quote:
        raise field_error("path.quote", "same_currency")
    found, _ = await ExchangeRate.update_or_create(
        base=base, quote=quote, defaults={"rate": rate, "source": RateSource.manual}
    )
    return found


async def convert(amount: Money, to: str) -> Money:
    """For display only: orders settle in the market's currency."""
    if amount.currency == to:
        return amount
    direct = await ExchangeRate.get_or_none(base=amount.currency, quote=to)
    if direct is not None:
        converted = amount.amount * direct.rate
    else:
        inverse = await ExchangeRate.get_or_none(base=to, quote=amount.currency)
        if inverse is None or inverse.rate <= 0:
            raise NotFound()
        converted = amount.amount / inverse.rate
    if not within_bounds(converted):
        raise field_error("query.amount", "amount_too_large")
    return money(converted, to)
