"""Posting to the ledger: balanced, atomic, idempotent, and never negative for a person.

Call :func:`post` inside a database transaction. Account rows are updated in id order, so
two transfers in opposite directions cannot deadlock; a person's account is debited with
``UPDATE … WHERE balance >= amount``, so no race can overdraw it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from asoud.platform.database import fetch_sql, on_postgres
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


Wanted = tuple[uuid.UUID | None, AccountKind, str]

_ACCOUNTS_SQL = (
    'SELECT "id", "user_id", "kind", "currency" FROM "wallet_account" '
    'WHERE "currency" = $1 AND (("user_id" IS NULL AND "kind" = ANY($2::text[])) '
    'OR ("user_id" = $3 AND "kind" = $4))'
)


async def accounts_of(wanted: list[Wanted]) -> list[Account]:
    """The accounts of a posting in one query (made on first use, like :func:`account_of`).
    All in one currency; at most one person's account (the others are the platform's)."""
    currencies = {currency for _, _, currency in wanted}
    people = {user_id for user_id, _, _ in wanted if user_id is not None}
    if len(currencies) != 1 or len(people) > 1 or not on_postgres():
        return [await account_of(*w) for w in wanted]
    currency = currencies.pop()
    person = next(iter(people), None)
    person_kind = next((k.value for u, k, _ in wanted if u is not None), "")
    system_kinds = [k.value for u, k, _ in wanted if u is None]
    rows = await fetch_sql(_ACCOUNTS_SQL, [currency, system_kinds, person, person_kind])
    found = {(row["user_id"], row["kind"]): row["id"] for row in rows}
    accounts = []
    for user_id, kind, _ in wanted:
        account_id = found.get((user_id, kind.value))
        if account_id is None:
            accounts.append(await account_of(user_id, kind, currency))
        else:
            accounts.append(Account(id=account_id, user_id=user_id, kind=kind, currency=currency))
    return accounts


# The whole posting in one statement (PostgreSQL): the transaction (or nothing, if its dedupe
# key exists: a replay), its accounts locked in id order (two postings in opposite directions
# cannot deadlock), balances moved (a person's only if it stays >= 0) and the entries.
_POST_SQL = (
    "WITH t AS ("
    'INSERT INTO "wallet_transaction" ("id", "kind", "currency", "amount", "dedupe_key", '
    '"reference", "created_at") VALUES ($1, $2, $3, $4, $5, $6, $7) '
    'ON CONFLICT ("dedupe_key") DO NOTHING RETURNING "id"), '
    "legs AS (SELECT * FROM unnest($8::int[], $9::numeric[], $10::bool[]) "
    'AS l("account_id", "amount", "guarded")), '
    'locked AS (SELECT a."id" FROM "wallet_account" a WHERE a."id" = ANY($8::int[]) '
    'AND EXISTS (SELECT 1 FROM t) ORDER BY a."id" FOR UPDATE), '
    'moved AS (UPDATE "wallet_account" a SET "balance" = a."balance" + l."amount" '
    'FROM legs l, locked k WHERE a."id" = l."account_id" AND k."id" = a."id" '
    'AND (NOT l."guarded" OR a."balance" + l."amount" >= 0) RETURNING a."id"), '
    'entries AS (INSERT INTO "wallet_entry" ("amount", "created_at", "account_id", '
    '"transaction_id") SELECT l."amount", $7, l."account_id", t."id" FROM legs l, t '
    'RETURNING "id") '
    'SELECT (SELECT "id" FROM t) AS "transaction_id", (SELECT count(*) FROM moved) AS "moved"'
)


async def post(
    kind: TransactionKind,
    currency: str,
    legs: list[tuple[Account, Decimal]],
    dedupe_key: str,
    reference: str = "",
) -> tuple[Transaction, bool]:
    """Record a balanced movement; returns it and whether it is new (False: a replay)."""
    if sum((amount for _, amount in legs), Decimal(0)) != 0:
        raise ValueError("unbalanced ledger transaction")
    if len({account.id for account, _ in legs}) == len(legs) and on_postgres():
        return await _post_in_one_statement(kind, currency, legs, dedupe_key, reference)
    existing = await Transaction.get_or_none(dedupe_key=dedupe_key)
    if existing is not None:
        return existing, False
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


async def _post_in_one_statement(
    kind: TransactionKind,
    currency: str,
    legs: list[tuple[Account, Decimal]],
    dedupe_key: str,
    reference: str,
) -> tuple[Transaction, bool]:
    total = sum((amount for _, amount in legs if amount > 0), Decimal(0))
    transaction = Transaction(
        id=uuid.uuid4(),
        kind=kind,
        currency=currency,
        amount=total,
        dedupe_key=dedupe_key,
        reference=reference,
        created_at=datetime.now(UTC),
    )
    [row] = await fetch_sql(
        _POST_SQL,
        [
            transaction.id,
            kind.value,
            currency,
            total,
            dedupe_key,
            reference,
            transaction.created_at,
            [account.id for account, _ in legs],
            [amount for _, amount in legs],
            [amount < 0 and account.kind is AccountKind.customer for account, amount in legs],
        ],
    )
    if row["transaction_id"] is None:  # the dedupe key was posted before
        return await Transaction.get(dedupe_key=dedupe_key), False
    if row["moved"] != len(legs):
        # A person's balance would go below zero; the caller's transaction rolls back what
        # this statement wrote.
        raise Conflict("insufficient_funds", currency=currency)
    return transaction, True
