"""Posting to the ledger: balanced, atomic, idempotent, and never negative for a person.

Call :func:`post` inside a database transaction. Account rows are updated in id order, so
two transfers in opposite directions cannot deadlock; a person's account is debited with
``UPDATE … WHERE balance >= amount``, so no race can overdraw it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from asoud.platform.errors import Conflict
from asoud.wallet.models import Account, AccountKind, Entry, Transaction, TransactionKind


async def account_of(user_id: uuid.UUID | None, kind: AccountKind, currency: str) -> Account:
    found = await Account.get_or_none(user_id=user_id, kind=kind, currency=currency)
    if found is not None:
        return found
    try:
        # A savepoint when called inside a transaction: losing the race must not abort it.
        async with in_transaction():
            return await Account.create(user_id=user_id, kind=kind, currency=currency)
    except IntegrityError:  # created concurrently
        return await Account.get(user_id=user_id, kind=kind, currency=currency)


async def post(
    kind: TransactionKind,
    currency: str,
    legs: list[tuple[Account, Decimal]],
    dedupe_key: str,
    reference: str = "",
) -> tuple[Transaction, bool]:
    """Record a balanced movement; returns it and whether it is new (False: a replay)."""
    existing = await Transaction.get_or_none(dedupe_key=dedupe_key)
    if existing is not None:
        return existing, False
    if sum((amount for _, amount in legs), Decimal(0)) != 0:
        raise ValueError("unbalanced ledger transaction")
    for account, amount in sorted(legs, key=lambda leg: leg[0].id):
        if amount < 0 and account.kind is AccountKind.customer:
            moved = await Account.filter(id=account.id, balance__gte=-amount).update(
                balance=F("balance") + amount
            )
            if not moved:
                raise Conflict("insufficient_funds", currency=currency)
        else:
            await Account.filter(id=account.id).update(balance=F("balance") + amount)
    total = sum((amount for _, amount in legs if amount > 0), Decimal(0))
    transaction = await Transaction.create(
        kind=kind, currency=currency, amount=total, dedupe_key=dedupe_key, reference=reference
    )
    await Entry.bulk_create(
        [
            Entry(transaction_id=transaction.id, account_id=account.id, amount=amount)
            for account, amount in legs
        ]
    )
    return transaction, True
