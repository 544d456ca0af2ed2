"""HTTP routes of exchange rates."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from asoud.currencies import services
from asoud.currencies.models import ExchangeRate, RateSource
from asoud.platform.http import Api, Auth, Call
from asoud.platform.money import Amount, Money
from asoud.platform.values import whole_match

api = Api()


class RateOut(BaseModel):
    base: str
    quote: str
    rate: str
    source: RateSource
    updated_at: datetime


class RateList(BaseModel):
    items: list[RateOut]


# Quote units per base unit: positive, up to 16 digits and 8 decimals (the column's precision);
# IRT per USD is large, USD per IRT is tiny.
RATE = re.compile(
    r"^(?:[1-9][0-9]{0,15}(?:\.[0-9]{1,8})?|0\.(?:"
    + "|".join(f"0{{{zeros}}}[1-9][0-9]{{0,{7 - zeros}}}" for zeros in range(8))
    + "))$"
)
Rate = Annotated[
    Decimal,
    BeforeValidator(lambda value: Decimal(whole_match(RATE, value, "invalid_rate"))),
    WithJsonSchema({"type": "string", "pattern": RATE.pattern, "examples": ["600000"]}),
]


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: Rate


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
    rate = await services.set_manual_rate(call.path["base"], call.path["quote"], call.body.rate)
    return _view(rate)
