"""Request and response bodies of the wallet API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from asoud.platform.money import Money, MoneyIn, SignedMoney
from asoud.wallet.models import TransactionKind


class Balances(BaseModel):
    balances: list[Money]


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to_phone: str = Field(min_length=8, max_length=20)
    amount: MoneyIn


class TransferOut(BaseModel):
    transaction_id: UUID
    amount: Money
    balance: Money


class LedgerLine(BaseModel):
    transaction_id: UUID
    kind: TransactionKind
    amount: SignedMoney
    reference: str
    created_at: datetime


class LedgerPage(BaseModel):
    items: list[LedgerLine]
    next_cursor: str | None


class LedgerQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)
