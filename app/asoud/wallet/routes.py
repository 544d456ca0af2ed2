"""HTTP routes of the wallet."""

from __future__ import annotations

from typing import Any

from asoud.orders import services as orders
from asoud.orders.schemas import OrderOut
from asoud.platform.errors import uuid_or_404
from asoud.platform.http import Api, Auth, Call
from asoud.platform.money import money
from asoud.wallet import services
from asoud.wallet.schemas import Balances, LedgerPage, LedgerQuery, TransferIn, TransferOut

api = Api()


@api.endpoint(
    "GET",
    "/api/v1/wallet",
    summary="My balances",
    tags=["wallet"],
    auth=Auth.user,
    responses={200: Balances},
)
async def get_wallet(call: Call[Any, Any]) -> Balances:
    return Balances(balances=await services.balances(call.principal.user))


@api.endpoint(
    "GET",
    "/api/v1/wallet/transactions",
    summary="My ledger",
    tags=["wallet"],
    auth=Auth.user,
    query=LedgerQuery,
    responses={200: LedgerPage},
)
async def list_transactions(call: Call[Any, LedgerQuery]) -> LedgerPage:
    items, cursor = await services.history(call.principal.user, call.query.limit, call.query.cursor)
    return LedgerPage(items=items, next_cursor=cursor)


@api.endpoint(
    "POST",
    "/api/v1/wallet/transfers",
    summary="Send money to another person",
    tags=["wallet"],
    auth=Auth.user,
    body=TransferIn,
    responses={201: TransferOut},
    errors=[404, 409],
    idempotent=True,
)
async def create_transfer(call: Call[TransferIn, Any]) -> TransferOut:
    """The balance can never go negative (409 `insufficient_funds`). Send an Idempotency-Key:
    a retried transfer moves the money once."""
    user = call.principal.user
    transaction = await services.transfer(
        user, call.body.to_phone, call.body.amount, call.request.headers.get("Idempotency-Key")
    )
    return TransferOut(
        transaction_id=transaction.id,
        amount=money(transaction.amount, transaction.currency),
        balance=await services.balance(user.id, call.body.amount.currency),
    )


@api.endpoint(
    "POST",
    "/api/v1/orders/{order_id}/pay-with-wallet",
    summary="Pay an order from my wallet",
    tags=["wallet"],
    auth=Auth.user,
    responses={200: OrderOut},
    errors=[404, 409],
    idempotent=True,
)
async def pay_with_wallet(call: Call[Any, Any]) -> OrderOut:
    order = await orders.pay_with_wallet(
        call.platform, call.principal.user, uuid_or_404(call.path["order_id"])
    )
    return await orders.order_view(order)
