"""HTTP routes of payments: start, status, and the gateways' callbacks."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, RedirectResponse, Response

from asoud.markets.access import WRITE, market_for
from asoud.orders import services as order_services
from asoud.orders.schemas import OrderOut
from asoud.payments import services
from asoud.payments.gateways.crypto import signature_valid
from asoud.payments.gateways.stripe import SignatureError, verify_signature
from asoud.payments.models import PaymentSession, Target
from asoud.payments.schemas import PaymentIn, PaymentOut, RefundIn, TopupIn
from asoud.platform.errors import DomainError, NotFound, uuid_or_404
from asoud.platform.http import Api, Auth, Call

api = Api()


@api.endpoint(
    "POST",
    "/api/v1/payments",
    summary="Start paying (order, top-up, subscription)",
    tags=["payments"],
    auth=Auth.user,
    body=PaymentIn,
    responses={201: PaymentOut},
    errors=[404, 409, 503],
    idempotent=True,
)
async def start_payment(call: Call[PaymentIn, Any]) -> PaymentOut:
    """Opens a session and answers the gateway's `redirect_url`. One open session per target:
    asking again returns the same one. For an order the stock stays held while the buyer pays."""
    body = call.body
    session = await services.start(
        call.platform, call.principal.user, body.target, body.target_id, body.gateway, body.amount
    )
    return services.view(session)


@api.endpoint(
    "POST",
    "/api/v1/wallet/topups",
    summary="Add money to my wallet",
    tags=["wallet"],
    auth=Auth.user,
    body=TopupIn,
    responses={201: PaymentOut},
    errors=[409, 503],
    idempotent=True,
)
async def start_topup(call: Call[TopupIn, Any]) -> PaymentOut:
    session = await services.start(
        call.platform,
        call.principal.user,
        Target.wallet_topup,
        None,
        call.body.gateway,
        call.body.amount,
    )
    return services.view(session)


@api.endpoint(
    "GET",
    "/api/v1/payments/{payment_id}",
    summary="A payment's status",
    tags=["payments"],
    auth=Auth.user,
    responses={200: PaymentOut},
    errors=[404],
)
async def get_payment(call: Call[Any, Any]) -> PaymentOut:
    session = await PaymentSession.get_or_none(
        id=uuid_or_404(call.path["payment_id"]), user_id=call.principal.user.id
    )
    if session is None:
        raise NotFound()
    return services.view(session)


async def _settle_and_return(
    call: Call[Any, Any], gateway: str, authority: str, cancelled: bool
) -> Response:
    """The buyer is back from the gateway: settle, then send them on to the app's result page."""
    if not authority or len(authority) > 100 or not authority.isprintable():
        raise NotFound()
    session = await services.settle(call.platform, gateway, authority, cancelled=cancelled)
    query = urlencode({"payment_id": str(session.id), "status": session.status.value})
    return RedirectResponse(f"{call.platform.settings.payment_return_url}?{query}", status_code=303)


async def _zarinpal_return(call: Call[Any, Any]) -> Response:
    """Zarinpal sends the buyer back with ?Authority=…&Status=OK|NOK."""
    params = call.request.query_params
    return await _settle_and_return(
        call, "zarinpal", params.get("Authority", ""), cancelled=params.get("Status") != "OK"
    )


async def _paypal_return(call: Call[Any, Any]) -> Response:
    """PayPal sends the buyer back with ?token=<order id> (or to our cancel URL)."""
    params = call.request.query_params
    return await _settle_and_return(
        call, "paypal", params.get("token", ""), cancelled=params.get("cancelled") == "1"
    )


api.endpoint(
    "GET",
    "/api/v1/payments/callback/paypal",
    summary="PayPal return",
    tags=["payments"],
    responses={303: None},
    errors=[404],
    rate_limited=False,
)(_paypal_return)

for _method in ("GET", "POST"):
    api.endpoint(
        _method,
        "/api/v1/payments/callback/zarinpal",
        summary="Zarinpal return",
        tags=["payments"],
        responses={303: None},
        errors=[404],
        rate_limited=False,
    )(_zarinpal_return)


@api.endpoint(
    "POST",
    "/api/v1/payments/webhooks/stripe",
    summary="Stripe webhook",
    tags=["payments"],
    responses={200: None},
    errors=[400],
    rate_limited=False,
)
async def stripe_webhook(call: Call[Any, Any]) -> Response:
    """Signed with the endpoint secret (Stripe-Signature, 300 s tolerance). The outcome is
    always read back from Stripe's API, so a forged or stale event can change nothing."""
    settings = call.platform.settings
    payload = await call.request.body()
    try:
        verify_signature(
            payload,
            call.request.headers.get("stripe-signature", ""),
            settings.stripe_webhook_secret,
            settings.stripe_webhook_tolerance_seconds,
        )
        event = json.loads(payload)
        intent_id = str(event["data"]["object"]["id"])
        event_type = str(event["type"])
    except (SignatureError, ValueError, KeyError, TypeError):
        raise DomainError("webhook_signature_invalid", status=400) from None
    if event_type.startswith("payment_intent."):
        session = await PaymentSession.get_or_none(gateway="stripe", authority=intent_id)
        if session is not None:
            await services.settle(call.platform, "stripe", intent_id, cancelled=False)
    return JSONResponse({"received": True})


@api.endpoint(
    "POST",
    "/api/v1/payments/webhooks/crypto",
    summary="Crypto processor webhook",
    tags=["payments"],
    responses={200: None},
    errors=[400],
    rate_limited=False,
)
async def crypto_webhook(call: Call[Any, Any]) -> Response:
    """Signed with HMAC-SHA512 of the raw body (X-Signature); the invoice's state is then
    read back from the processor, so the event itself decides nothing."""
    payload = await call.request.body()
    secret = call.platform.settings.crypto_webhook_secret
    if not secret or not signature_valid(
        payload, call.request.headers.get("x-signature", ""), secret
    ):
        raise DomainError("webhook_signature_invalid", status=400)
    try:
        invoice_id = str(json.loads(payload)["invoice_id"])
    except (ValueError, KeyError, TypeError):
        raise DomainError("webhook_signature_invalid", status=400) from None
    if await PaymentSession.exists(gateway="crypto", authority=invoice_id):
        await services.settle(call.platform, "crypto", invoice_id, cancelled=False)
    return JSONResponse({"received": True})


@api.endpoint(
    "POST",
    "/api/v1/markets/{market_id}/orders/{order_id}/refund",
    summary="Refund an order (all or part)",
    tags=["orders"],
    auth=Auth.user,
    body=RefundIn,
    responses={200: OrderOut},
    errors=[404, 409, 503],
    idempotent=True,
)
async def refund_order(call: Call[RefundIn, Any]) -> OrderOut:
    market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
    key = call.request.headers.get("Idempotency-Key") or str(uuid.uuid4())
    order = await services.refund_order(
        call.platform, market.id, uuid_or_404(call.path["order_id"]), call.body.amount, key
    )
    return await order_services.order_view(order)
