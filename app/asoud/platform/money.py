"""Money: Decimal amounts with an ISO-4217 currency; amounts leave the API as strings."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

# Minor units per currency; Iranian toman/rial are whole numbers.
MINOR_UNITS = {"IRT": 0, "IRR": 0, "USD": 2, "EUR": 2, "TRY": 2, "AED": 2, "GBP": 2}
SUPPORTED_CURRENCIES = tuple(MINOR_UNITS)
MAX_AMOUNT = Decimal("999999999999999")


def quantize(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-MINOR_UNITS[currency])
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


AMOUNT_PATTERN = re.compile(r"^\d{1,15}(\.\d{1,2})?$")


def _parse_amount(value: object) -> Decimal:
    """Exactly what the schema documents: a string of up to 15 digits and 2 decimals."""
    if not isinstance(value, str):
        raise ValueError("amount_as_string")  # floats lose cents: send "125000" or "12.50"
    if not AMOUNT_PATTERN.match(value):
        raise ValueError("invalid_amount")
    return Decimal(value)


Amount = Annotated[
    Decimal,
    BeforeValidator(_parse_amount),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN.pattern}),
]


# What responses show: a Decimal as a string, never re-validated.
ShownAmount = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]


class SignedMoney(BaseModel):
    """A movement: positive is money in, negative money out."""

    amount: ShownAmount = Field(examples=["-125000"])
    currency: str = Field(examples=["IRT"], min_length=3, max_length=3)


class Money(BaseModel):
    """An amount the API shows: rendered from what the platform holds, never re-validated
    against the input bounds (a cart whose prices rose must still be shown)."""

    amount: ShownAmount = Field(examples=["125000"])
    currency: str = Field(examples=["IRT"], min_length=3, max_length=3)


class MoneyIn(BaseModel):
    """An amount a client sends: a string of up to 15 digits and 2 decimals, and a currency."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount = Field(examples=["125000"])
    currency: str = Field(examples=["IRT"], pattern=r"^[A-Z]{3}$")


def money(amount: Decimal | int, currency: str) -> Money:
    return Money(amount=quantize(Decimal(amount), currency), currency=currency)


def within_bounds(amount: Decimal) -> bool:
    """Can an order, a cart or a line carry this total (it is stored and shown as money)?"""
    return amount <= MAX_AMOUNT


def check_amount_precision(amount: Decimal, currency: str) -> Decimal:
    """Refuse amounts with more decimals than the currency has (e.g. 10.5 toman)."""
    if quantize(amount, currency) != amount:
        raise ValueError("too_many_decimals")
    return amount


def display(amount: Decimal | int, currency: str) -> str:
    """For messages to people: "125000 IRT", "19.99 USD"."""
    return f"{quantize(Decimal(amount), currency):f} {currency}"


def validated_amount(amount: MoneyIn, field: str) -> Decimal:
    """A positive amount in a supported currency with no more decimals than it has (422 if not)."""
    from asoud.platform.errors import field_error

    if amount.currency not in MINOR_UNITS:
        raise field_error(f"{field}.currency", "unsupported_currency")
    try:
        check_amount_precision(amount.amount, amount.currency)
    except ValueError:
        raise field_error(f"{field}.amount", "too_many_decimals") from None
    if amount.amount <= 0:
        raise field_error(f"{field}.amount", "invalid_amount")
    return amount.amount
