"""HTTP routes of exchange rates."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from asoud.currencies import services
from asoud.currencies.models import ExchangeRate, RateSource
from asoud.platform.http import Api, Auth, Call
from asoud.platform.money import Amount, Money

api = Api()


class RateOut(BaseModel):
    base: str
    quote: str
    rate: str
    source: RateSource
    updated_at: datetime


class RateList(BaseModel):
    items: list[RateOut]


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: Amount


class ConvertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    to: str = Field(pattern=r"^[A-Za-z]{3}$")


def _view(rate: ExchangeRate) -> RateOut:
    return RateOut(
        base=rate.base,
        quote=rate.quote,
        rate=format(rate.rate, "f"),
        source=rate.source,
        updated_at=rate.updated_at,
    )


@api.endpoint(
    "GET",
    "/api/v1/exchange-rates",
    summary="Current exchange rates",
    tags=["currencies"],
    responses={200: RateList},
)
async def list_rates(call: Call[Any, Any]) -> RateList:
    rows = await ExchangeRate.all().order_by("base", "quote").limit(500)
    return RateList(items=[_view(r) for r in rows])


@api.endpoint(
    "GET",
    "/api/v1/exchange-rates/convert",
    summary="Show an amount in another currency",
    tags=["currencies"],
    query=ConvertQuery,
    responses={200: Money},
    errors=[404],
)
async def convert(call: Call[Any, ConvertQuery]) -> Money:
    """For display: prices are paid in the market's own currency."""
    query = call.query
    return await services.convert(
        Money(amount=query.amount, currency=query.currency.upper()), query.to.upper()
    )


@api.endpoint(
    "PUT",
    "/api/v1/admin/exchange-rates/{base}/{quote}",
    summary="Set a rate by hand",
    tags=["admin"],
    auth=Auth.staff,
    body=RateIn,
    responses={200: RateOut},
)
async def set_rate(call: Call[RateIn, Any]) -> RateOut:
    """A manual rate wins over the provider's until it is set again."""
    rate = await services.set_manual_rate(
        call.path["base"].upper(), call.path["quote"].upper(), Decimal(call.body.rate)
    )
    return _view(rate)
