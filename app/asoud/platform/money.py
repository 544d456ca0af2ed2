"""Money: Decimal amounts with an ISO-4217 currency; amounts leave the API as strings."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer

# Minor units per currency; Iranian toman/rial are whole numbers.
MINOR_UNITS = {"IRT": 0, "IRR": 0, "USD": 2, "EUR": 2, "TRY": 2, "AED": 2, "GBP": 2}
SUPPORTED_CURRENCIES = tuple(MINOR_UNITS)
MAX_AMOUNT = Decimal("999999999999999")


def quantize(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-MINOR_UNITS[currency])
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def _parse_amount(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError("amount_as_string")  # floats lose cents: send "125000" or "12.50"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("invalid_amount") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ValueError("invalid_amount")
    return amount


Amount = Annotated[
    Decimal,
    BeforeValidator(_parse_amount),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "pattern": r"^\d+(\.\d+)?$"}),
]


def _parse_signed(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError("amount_as_string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("invalid_amount") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValueError("invalid_amount")
    return amount


SignedAmount = Annotated[
    Decimal,
    BeforeValidator(_parse_signed),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    Field(json_schema_extra={"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]


class SignedMoney(BaseModel):
    """A movement: positive is money in, negative money out."""

    amount: SignedAmount = Field(examples=["-125000"])
    currency: str = Field(examples=["IRT"], min_length=3, max_length=3)


class Money(BaseModel):
    amount: Amount = Field(examples=["125000"])
    currency: str = Field(examples=["IRT"], min_length=3, max_length=3)


def money(amount: Decimal | int, currency: str) -> Money:
    return Money(amount=quantize(Decimal(amount), currency), currency=currency)


def check_amount_precision(amount: Decimal, currency: str) -> Decimal:
    """Refuse amounts with more decimals than the currency has (e.g. 10.5 toman)."""
    if quantize(amount, currency) != amount:
        raise ValueError("too_many_decimals")
    return amount


def display(amount: Decimal | int, currency: str) -> str:
    """For messages to people: "125000 IRT", "19.99 USD"."""
    return f"{quantize(Decimal(amount), currency):f} {currency}"


def validated_amount(amount: Money, field: str) -> Decimal:
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
