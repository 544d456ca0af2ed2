"""Request and response bodies of the payments API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict, JsonValue

from asoud.payments.gateways.base import ACCEPTS
from asoud.payments.models import SessionStatus, Target
from asoud.platform.money import MINOR_UNITS, Amount, Money, MoneyIn
from asoud.platform.openapi import DEPLOYMENT_ENUM

# One of the gateways this deployment enabled (ASOUD_PAYMENT_GATEWAYS; the OpenAPI lists them).
GatewayName = Annotated[
    str, Field(max_length=16, json_schema_extra={DEPLOYMENT_ENUM: "payment_gateways"})
]


def _at_least(minimum: int, decimals: int) -> str:
    """A canonical amount (see platform.money) of at least ``minimum``, a power of ten."""
    digits = len(str(minimum)) - 1
    assert minimum == 10**digits, "gateway minimums are powers of ten"
    fraction = f"(?:\\.[0-9]{{1,{decimals}}})?" if decimals else ""
    return f"^[1-9][0-9]{{{digits},14}}{fraction}$"


def _gateway_amounts() -> list[JsonDict]:
    """Each gateway's currencies and smallest amounts (gateways.base.ACCEPTS) as schema rules
    on a top-up's amount."""
    rules: list[JsonDict] = []
    for gateway, minimums in ACCEPTS.items():
        chosen: JsonDict = {"properties": {"gateway": {"const": gateway}}}
        per_currency: list[JsonDict] = [
            {
                "if": {"properties": {"currency": {"const": currency}}},
                "then": {
                    "properties": {"amount": {"pattern": _at_least(minimum, MINOR_UNITS[currency])}}
                },
            }
            for currency, minimum in minimums.items()
        ]
        amount: JsonDict = {
            "properties": {"currency": {"enum": list(minimums)}},
            "allOf": list[JsonValue](per_currency),
        }
        rules.append({"if": chosen, "then": {"properties": {"amount": amount}}})
    return rules


# An order or a subscription names its target (and no amount); a top-up says how much instead.
_PAYMENT_RULES: JsonDict = {
    "allOf": [
        {
            "if": {"properties": {"target": {"const": Target.wallet_topup.value}}},
            "then": {"required": ["amount"], "properties": {"amount": {"type": "object"}}},
            "else": {
                "required": ["target_id"],
                "properties": {"target_id": {"type": "string"}},
                "not": {"required": ["amount"]},
            },
        },
        *_gateway_amounts(),
    ]
}
_TOPUP_RULES: JsonDict = {"allOf": list[JsonValue](_gateway_amounts())}


class PaymentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_PAYMENT_RULES
    )

    target: Target
    target_id: UUID | None = Field(default=None, description="order or market id; none for top-ups")
    gateway: GatewayName
    amount: MoneyIn | None = Field(default=None, description="top-ups only: how much to add")


class TopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_TOPUP_RULES)

    amount: MoneyIn
    gateway: GatewayName


class PaymentOut(BaseModel):
    id: UUID
    target: Target
    target_id: str
    gateway: str
    amount: Money
    status: SessionStatus
    redirect_url: str
    client_secret: str | None = Field(default=None, description="Stripe: confirm with Stripe.js")
    failure_reason: str
    created_at: datetime
    settled_at: datetime | None


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount | None = Field(default=None, description="omit to refund everything left")
