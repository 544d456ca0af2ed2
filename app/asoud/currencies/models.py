"""Exchange rates for showing prices in another currency (never for settlement)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class RateSource(StrEnum):
    provider = "provider"
    manual = "manual"  # set by staff; the provider refresh leaves it alone


class ExchangeRate(Model):
    """How many units of the quote currency one unit of the base buys."""

    id = fields.IntField(primary_key=True)
    base = fields.CharField(max_length=3)
    quote = fields.CharField(max_length=3)
    rate = fields.DecimalField(max_digits=24, decimal_places=8)
    source = fields.CharEnumField(RateSource, max_length=10)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "currencies_exchange_rate"
        unique_together = (("base", "quote"),)
