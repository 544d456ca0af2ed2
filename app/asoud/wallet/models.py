"""The wallet: an append-only double-entry ledger.

Every movement is one transaction whose entries sum to zero across accounts. A person's
balance is the sum of their account's entries; ``Account.balance`` keeps that sum for fast
reads and is only changed in the same database transaction as the entries, by conditional
updates that never let a person's balance go below zero.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class AccountKind(StrEnum):
    customer = "customer"  # a person's wallet
    external = "external"  # money outside the platform (gateways); may go negative
    settlement = "settlement"  # paid orders awaiting payout to markets


class Account(Model):
    """One balance in one currency."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID | None

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="wallet_accounts", null=True, on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(AccountKind, max_length=16)
    currency = fields.CharField(max_length=3)
    balance = fields.DecimalField(max_digits=20, decimal_places=2, default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wallet_account"
        unique_together = (("user", "kind", "currency"),)
        # A person's balance never goes below zero, whatever code path moves it.
        constraints = (
            CheckConstraint(
                check="kind <> 'customer' OR balance >= 0",
                name="wallet_account_customer_balance_not_negative",
            ),
        )


class TransactionKind(StrEnum):
    topup = "topup"
    transfer = "transfer"
    order_payment = "order_payment"
    refund = "refund"


class Transaction(Model):
    """One movement of money. The dedupe key makes a retried movement happen once."""

    id = fields.UUIDField(primary_key=True)
    kind = fields.CharEnumField(TransactionKind, max_length=16)
    currency = fields.CharField(max_length=3)
    amount = fields.DecimalField(max_digits=20, decimal_places=2)
    dedupe_key = fields.CharField(max_length=200, unique=True)
    reference = fields.CharField(max_length=100, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "wallet_transaction"


class Entry(Model):
    """One leg of a transaction: a signed amount on one account."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    transaction_id: uuid.UUID
    account_id: int

    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[Transaction] = fields.ForeignKeyField(
        "asoud.Transaction", related_name="entries", on_delete=fields.RESTRICT
    )
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "asoud.Account", related_name="entries", on_delete=fields.RESTRICT
    )
    amount = fields.DecimalField(max_digits=20, decimal_places=2)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wallet_entry"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("account_id", "id"), ("transaction_id",))
