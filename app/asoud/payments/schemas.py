"""Request and response bodies of the payments API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from asoud.payments.models import SessionStatus, Target
from asoud.platform.money import Amount, Money, MoneyIn


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    target: Target
    target_id: UUID | None = Field(default=None, description="order or market id; none for top-ups")
    gateway: str = Field(default="zarinpal", max_length=16)
    amount: MoneyIn | None = Field(default=None, description="top-ups only: how much to add")


class TopupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: MoneyIn
    gateway: str = Field(default="zarinpal", max_length=16)


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
