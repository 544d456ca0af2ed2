"""What every payment gateway adapter offers, in the platform's own terms."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class GatewayError(Exception):
    """The gateway could not be reached or answered nonsense: the outcome is unknown."""


class GatewayRefused(GatewayError):
    """The gateway answered, definitively, that it will not do this (nothing happened)."""


class Outcome(StrEnum):
    paid = "paid"
    failed = "failed"
    unknown = "unknown"  # keep the session open; reconciliation asks again later


@dataclass(frozen=True)
class Started:
    authority: str  # the gateway's id for this payment
    redirect_url: str  # where the buyer goes to pay ("" when the client confirms itself)
    client_secret: str = ""  # for gateways confirmed in the client (Stripe.js)


@dataclass(frozen=True)
class Verification:
    outcome: Outcome
    reference: str = ""  # e.g. Zarinpal ref_id, Stripe charge id
    amount: Decimal | None = None  # what the gateway says it collected
    reason: str = ""


@dataclass(frozen=True)
class PaymentRequest:
    session_id: str
    amount: Decimal
    currency: str
    description: str
    callback_url: str
    mobile: str


class Gateway(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def idempotent_refunds(self) -> bool:
        """Whether asking again for a refund with the same key cannot refund twice (Stripe's
        Idempotency-Key, PayPal-Request-Id); Zarinpal has no such key."""
        ...

    async def start(self, request: PaymentRequest) -> Started: ...

    async def verify(self, authority: str, amount: Decimal, currency: str) -> Verification: ...

    async def refund(
        self, authority: str, capture: str, refund_key: str, amount: Decimal, currency: str
    ) -> str: ...


# What each gateway takes: currency → the smallest amount it accepts, in whole units (a power
# of ten, so the OpenAPI document can state it as a pattern). Zarinpal settles rials only
# (IRT is converted by Zarinpal itself); the card and crypto processors take no rials.
ACCEPTS: dict[str, dict[str, int]] = {
    "zarinpal": {"IRR": 1000, "IRT": 100},
    "stripe": {"USD": 1, "EUR": 1, "GBP": 1, "TRY": 10, "AED": 10},
    "paypal": {"USD": 1, "EUR": 1, "GBP": 1},
    "crypto": {"USD": 1, "EUR": 1},
}


def refusal(gateway: str, amount: Decimal, currency: str) -> str | None:
    """Why the gateway would refuse this charge (a message code), or None if it takes it."""
    minimums = ACCEPTS.get(gateway, {})
    if currency not in minimums:
        return "gateway_currency_unsupported"
    if amount < minimums[currency]:
        return "amount_below_gateway_minimum"
    return None
