"""Wallet rules: balances, transfers between people, paying orders, crediting top-ups."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from asoud.identity.models import User
from asoud.identity.phone import normalise_phone
from asoud.platform.errors import Conflict, NotFound, field_error
from asoud.platform.money import (
    Money,
    MoneyIn,
    SignedMoney,
    money,
    quantize,
    validated_amount,
)
from asoud.platform.pagination import cursor_value, decode_cursor, encode_cursor, int8
from asoud.wallet import ledger
from asoud.wallet.models import Account, AccountKind, Entry, Transaction, TransactionKind
from asoud.wallet.schemas import LedgerLine


async def balances(user: User) -> list[Money]:
    accounts = await Account.filter(user_id=user.id, kind=AccountKind.customer).order_by("currency")
    return [money(a.balance, a.currency) for a in accounts]


async def balance(user_id: uuid.UUID, currency: str) -> Money:
    account = await Account.get_or_none(
        user_id=user_id, kind=AccountKind.customer, currency=currency
    )
    return money(account.balance if account else Decimal(0), currency)


async def _posted(dedupe_key: str, work: Any) -> Transaction:
    """Run a posting; a concurrent duplicate of the same key returns the first one's result."""
    try:
        async with in_transaction():
            transaction: Transaction = await work()
        return transaction
    except IntegrityError:
        existing = await Transaction.get_or_none(dedupe_key=dedupe_key)
        if existing is None:
            raise
        return existing


async def transfer(sender: User, to_phone: str, amount: MoneyIn, key: str | None) -> Transaction:
    value = validated_amount(amount, "body.amount")
    try:
        phone = normalise_phone(to_phone)
    except ValueError:
        raise field_error("body.to_phone", "invalid_phone") from None
    # Funds first: a sender who cannot pay learns nothing about who has an account (the same
    # 409 for any number), so probing numbers costs real money, which goes to the number.
    if (await balance(sender.id, amount.currency)).amount < value:
        raise Conflict("insufficient_funds", currency=amount.currency)
    recipient = await User.get_or_none(phone=phone, is_active=True)
    if recipient is None:
        raise NotFound("recipient_not_found")
    if recipient.id == sender.id:
        raise field_error("body.to_phone", "self_transfer")
    dedupe = f"transfer:{sender.id}:{key or uuid.uuid4()}"

    async def work() -> Transaction:
        source = await ledger.account_of(sender.id, AccountKind.customer, amount.currency)
        target = await ledger.account_of(recipient.id, AccountKind.customer, amount.currency)
        transaction, _ = await ledger.post(
            TransactionKind.transfer,
            amount.currency,
            [(source, -value), (target, value)],
            dedupe,
            reference=f"to:{recipient.id}",
        )
        return transaction

    return await _posted(dedupe, work)


async def credit_topup(
    user_id: uuid.UUID, amount: Decimal, currency: str, reference: str
) -> Transaction:
    """Money arrived through a gateway for a person's wallet (once per payment reference)."""
    dedupe = f"topup:{reference}"

    async def work() -> Transaction:
        outside, wallet = await ledger.accounts_of(
            [(None, AccountKind.external, currency), (user_id, AccountKind.customer, currency)]
        )
        transaction, _ = await ledger.post(
            TransactionKind.topup,
            currency,
            [(outside, -amount), (wallet, amount)],
            dedupe,
            reference=reference,
        )
        return transaction

    return await _posted(dedupe, work)


async def charge_for_order(
    user_id: uuid.UUID, amount: Decimal, currency: str, order_id: uuid.UUID
) -> Transaction:
    """Inside the caller's transaction: move an order's total from the buyer to settlement."""
    wallet, settlement = await ledger.accounts_of(
        [(user_id, AccountKind.customer, currency), (None, AccountKind.settlement, currency)]
    )
    transaction, _ = await ledger.post(
        TransactionKind.order_payment,
        currency,
        [(wallet, -amount), (settlement, amount)],
        f"order:{order_id}",
        reference=f"order:{order_id}",
    )
    return transaction


async def receive_for_order(
    amount: Decimal, currency: str, order_id: uuid.UUID, reference: str
) -> Transaction:
    """Inside the caller's transaction: a gateway collected an order's total (into settlement)."""
    outside, settlement = await ledger.accounts_of(
        [(None, AccountKind.external, currency), (None, AccountKind.settlement, currency)]
    )
    transaction, _ = await ledger.post(
        TransactionKind.order_payment,
        currency,
        [(outside, -amount), (settlement, amount)],
        f"order:{order_id}",
        reference=reference,
    )
    return transaction


async def refund_to_wallet(
    user_id: uuid.UUID, amount: Decimal, currency: str, refund_key: str
) -> Transaction:
    """Inside the caller's transaction: give (part of) a wallet-paid order back."""
    wallet, settlement = await ledger.accounts_of(
        [(user_id, AccountKind.customer, currency), (None, AccountKind.settlement, currency)]
    )
    transaction, _ = await ledger.post(
        TransactionKind.refund,
        currency,
        [(settlement, -amount), (wallet, amount)],
        f"refund:{refund_key}",
        reference=refund_key,
    )
    return transaction


async def history(
    user: User, limit: int, cursor: str | None
) -> tuple[list[LedgerLine], str | None]:
    """The person's ledger lines, newest first (keyset on entry id): two queries."""
    before = cursor_value(decode_cursor(cursor, 1)[0], int8) if cursor else None
    accounts = {
        a.id: a.currency for a in await Account.filter(user_id=user.id, kind=AccountKind.customer)
    }
    if not accounts:
        return [], None
    qs = Entry.filter(account_id__in=list(accounts)).select_related("transaction")
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = await qs.order_by("-id").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [
        LedgerLine(
            transaction_id=entry.transaction_id,
            kind=entry.transaction.kind,
            amount=SignedMoney(
                amount=quantize(entry.amount, accounts[entry.account_id]),
                currency=accounts[entry.account_id],
            ),
            reference=entry.transaction.reference,
            created_at=entry.created_at,
        )
        for entry in rows
    ]
    return lines, (encode_cursor([rows[-1].id]) if more else None)


async def ledger_is_balanced() -> bool:
    """Every transaction's entries sum to zero and every balance equals its entries (audits)."""
    from tortoise import connections

    client = connections.get("default")
    unbalanced = await client.execute_query_dict(
        "SELECT transaction_id FROM wallet_entry GROUP BY transaction_id "
        "HAVING SUM(amount) <> 0 LIMIT 1"
    )
    drifted = await client.execute_query_dict(
        "SELECT a.id FROM wallet_account a LEFT JOIN wallet_entry e ON e.account_id = a.id "
        "GROUP BY a.id, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0) LIMIT 1"
    )
    return not unbalanced and not drifted
