"""Money: Decimal amounts with an ISO-4217 currency; amounts leave the API as strings."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

# Minor units per currency; Iranian toman/rial are whole numbers.
MINOR_UNITS = {"IRT": 0, "IRR": 0, "USD": 2, "EUR": 2, "TRY": 2, "AED": 2, "GBP": 2}
SUPPORTED_CURRENCIES = tuple(MINOR_UNITS)
MAX_AMOUNT = Decimal("999999999999999")


def quantize(amount: Decimal, currency: str) -> Decimal:
    exponent = Decimal(1).scaleb(-MINOR_UNITS[currency])
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


# Canonical decimal text, as JSON Schema (ECMA-262) reads it: ASCII digits, no leading zeros,
# nothing after the last digit; the server matches with fullmatch so "1\n" or "١٢" never pass.
AMOUNT_PATTERN = re.compile(r"^(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?$")
POSITIVE_AMOUNT_PATTERN = re.compile(
    r"^(?:[1-9][0-9]{0,14}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
)
WHOLE_AMOUNT_PATTERN = re.compile(r"^[1-9][0-9]{0,14}$")  # currencies without minor units


def _amount_parser(pattern: re.Pattern[str]) -> Callable[[object], Decimal]:
    def parse(value: object) -> Decimal:
        """Exactly what the schema documents: a string of up to 15 digits and 2 decimals."""
        if not isinstance(value, str):
            raise ValueError("amount_as_string")  # floats lose cents: send "125000" or "12.50"
        if not pattern.fullmatch(value):
            raise ValueError("invalid_amount")
        return Decimal(value)

    return parse


_AS_TEXT = PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")
Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_parser(AMOUNT_PATTERN)),
    _AS_TEXT,
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN.pattern}),
]
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(_amount_parser(POSITIVE_AMOUNT_PATTERN)),
    _AS_TEXT,
    WithJsonSchema({"type": "string", "pattern": POSITIVE_AMOUNT_PATTERN.pattern}),
]


def _currency(value: object) -> str:
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise ValueError("unsupported_currency")
    return value


Currency = Annotated[
    str,
    BeforeValidator(_currency),
    WithJsonSchema({"type": "string", "enum": list(SUPPORTED_CURRENCIES)}),
]


# What responses show: a Decimal as a string, never re-validated.
ShownAmount = Annotated[
    Decimal,
    _AS_TEXT,
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


def _whole_in_currencies_without_minor_units(schema: dict[str, Any]) -> None:
    whole = [code for code, units in MINOR_UNITS.items() if units == 0]
    schema["if"] = {"properties": {"currency": {"enum": whole}}, "required": ["currency"]}
    schema["then"] = {"properties": {"amount": {"pattern": WHOLE_AMOUNT_PATTERN.pattern}}}


class MoneyIn(BaseModel):
    """An amount a client sends: a positive string of up to 15 digits and as many decimals as
    the currency has (none for IRT and IRR, 2 for the others), and a supported currency."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_whole_in_currencies_without_minor_units
    )

    amount: PositiveAmount = Field(examples=["125000"])
    currency: Currency = Field(examples=["IRT"])


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
