"""Fakes of the payment gateways' real HTTP APIs, to run on loopback in tests."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class FakeZarinpal:
    """Zarinpal v4: request.json → StartPay → callback → verify.json (100, then 101)."""

    merchant_id: str = "9f5c2a1e-0000-4000-8000-00000000a501"
    down: bool = False
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    verify_calls: int = 0
    request_calls: int = 0
    refund_calls: int = 0
    # Zarinpal's other answers: an error code verify gives instead (e.g. -12 too many
    # attempts, -52 unexpected error), and a gate every call waits on (a hanging gateway).
    verify_error: int | None = None
    hang: asyncio.Event | None = None
    waiting: int = 0  # calls held by the gate right now

    async def _gate(self) -> None:
        if self.hang is not None:
            self.waiting += 1
            try:
                await self.hang.wait()
            finally:
                self.waiting -= 1

    def app(self) -> Starlette:
        def error(code: int, message: str, status: int = 400) -> JSONResponse:
            return JSONResponse(
                {"data": [], "errors": {"code": code, "message": message, "validations": []}},
                status,
            )

        async def request(req: Request) -> Response:
            self.request_calls += 1
            await self._gate()
            if self.down:
                return Response("upstream down", 502)
            body = await req.json()
            if body.get("merchant_id") != self.merchant_id:
                return error(-10, "Terminal is not valid")
            # Zarinpal's smallest payment is 1,000 rials: 100 when the amount is in toman.
            smallest = 100 if body.get("currency") == "IRT" else 1000
            if int(body.get("amount", 0)) < smallest:
                return error(-9, "The input params invalid")
            authority = "A" + secrets.token_hex(18)[:35].upper()
            self.payments[authority] = {
                "amount": int(body["amount"]),
                "callback": body["callback_url"],
                "paid": False,
                "verified": False,
                "ref_id": None,
            }
            return JSONResponse(
                {
                    "data": {
                        "code": 100,
                        "message": "Success",
                        "authority": authority,
                        "fee_type": "Merchant",
                        "fee": 0,
                    },
                    "errors": [],
                }
            )

        async def start_pay(req: Request) -> Response:
            """What the buyer's browser does at the gateway: pay (?pay=1) or give up."""
            payment = self.payments.get(req.path_params["authority"])
            if payment is None:
                return Response("unknown", 404)
            paid = req.query_params.get("pay") == "1"
            payment["paid"] = paid
            status = "OK" if paid else "NOK"
            query = urlencode({"Authority": req.path_params["authority"], "Status": status})
            return RedirectResponse(f"{payment['callback']}?{query}", 302)

        async def verify(req: Request) -> Response:
            self.verify_calls += 1
            await self._gate()
            if self.down:
                return Response("upstream down", 502)
            if self.verify_error is not None:
                return error(self.verify_error, "Zarinpal could not decide", 400)
            body = await req.json()
            payment = self.payments.get(body.get("authority", ""))
            if body.get("merchant_id") != self.merchant_id:
                return error(-10, "Terminal is not valid")
            if payment is None:
                return error(-11, "Request not found", 404)
            if int(body.get("amount", 0)) != payment["amount"]:
                return error(-50, "Session is not valid, amounts values is not the same")
            if not payment["paid"]:
                return error(-51, "Session is not active, paid try")
            code = 101 if payment["verified"] else 100
            payment["verified"] = True
            payment["ref_id"] = payment["ref_id"] or secrets.randbelow(10**9) + 10**9
            return JSONResponse(
                {
                    "data": {
                        "code": code,
                        "message": "Paid" if code == 100 else "Verified",
                        "card_hash": "x",
                        "card_pan": "502229******5995",
                        "ref_id": payment["ref_id"],
                        "fee_type": "Merchant",
                        "fee": 0,
                    },
                    "errors": [],
                }
            )

        return Starlette(
            routes=[
                Route("/pg/v4/payment/request.json", request, methods=["POST"]),
                Route("/pg/StartPay/{authority}", start_pay, methods=["GET"]),
                Route("/pg/v4/payment/verify.json", verify, methods=["POST"]),
                _zarinpal_refund(self),
            ]
        )


def _zarinpal_refund(fake: FakeZarinpal) -> Route:
    async def refund(req: Request) -> Response:
        fake.refund_calls += 1
        body = await req.json()
        payment = fake.payments.get(body.get("authority", ""))
        if payment is None or not payment["verified"]:
            return JSONResponse(
                {"data": [], "errors": {"code": -11, "message": "Request not found"}}, 404
            )
        payment.setdefault("refunded", 0)
        if payment["refunded"] + int(body["amount"]) > payment["amount"]:
            return JSONResponse({"data": [], "errors": {"code": -9, "message": "amount"}}, 400)
        payment["refunded"] += int(body["amount"])
        await fake._gate()  # done at Zarinpal; only the answer is late
        return JSONResponse(
            {"data": {"code": 100, "refund_id": secrets.randbelow(10**6)}, "errors": []}
        )

    return Route("/pg/v4/payment/refund.json", refund, methods=["POST"])


@dataclass
class FakeStripe:
    """Stripe's PaymentIntents and Refunds APIs (form-encoded, bearer key, Idempotency-Key)."""

    secret_key: str = "sk_test_asoud"
    webhook_secret: str = "whsec_asoud"
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def confirm(self, intent_id: str, *, succeed: bool) -> None:
        """What Stripe.js and the card network do in the buyer's browser."""
        intent = self.intents[intent_id]
        if succeed:
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                latest_charge="ch_" + secrets.token_hex(8),
            )
        else:
            intent.update(
                status="requires_payment_method", last_payment_error={"code": "card_declined"}
            )

    def signed_event(
        self,
        event_type: str,
        intent_id: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, str]:
        import hashlib
        import hmac
        import json
        import time

        payload = json.dumps(
            {
                "id": "evt_" + secrets.token_hex(8),
                "type": event_type,
                "data": {"object": self.intents[intent_id]},
            }
        ).encode()
        t = timestamp or int(time.time())
        signature = hmac.new(
            (secret or self.webhook_secret).encode(), f"{t}.".encode() + payload, hashlib.sha256
        ).hexdigest()
        return payload, f"t={t},v1={signature}"

    def app(self) -> Starlette:
        from urllib.parse import parse_qs

        def unauthorised(req: Request) -> bool:
            return req.headers.get("authorization") != f"Bearer {self.secret_key}"

        async def create_intent(req: Request) -> Response:
            if unauthorised(req):
                return JSONResponse(
                    {"error": {"type": "invalid_request_error", "code": "api_key_invalid"}}, 401
                )
            key = req.headers.get("idempotency-key")
            if key and key in self.idempotent:
                return JSONResponse(self.idempotent[key])
            form = {k: v[0] for k, v in parse_qs((await req.body()).decode()).items()}
            intent_id = "pi_" + secrets.token_hex(12)
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "amount_received": 0,
                "metadata": {"session_id": form.get("metadata[session_id]")},
            }
            self.intents[intent_id] = intent
            if key:
                self.idempotent[key] = intent
            return JSONResponse(intent)

        async def get_intent(req: Request) -> Response:
            if unauthorised(req):
                return JSONResponse({"error": {"type": "invalid_request_error"}}, 401)
            intent = self.intents.get(req.path_params["intent_id"])
            if intent is None:
                return JSONResponse(
                    {"error": {"type": "invalid_request_error", "code": "resource_missing"}}, 404
                )
            return JSONResponse(intent)

        async def create_refund(req: Request) -> Response:
            if unauthorised(req):
                return JSONResponse({"error": {"type": "invalid_request_error"}}, 401)
            key = req.headers.get("idempotency-key")
            if key and key in self.idempotent:
                return JSONResponse(self.idempotent[key])
            form = {k: v[0] for k, v in parse_qs((await req.body()).decode()).items()}
            intent = self.intents[form["payment_intent"]]
            already = sum(r["amount"] for r in self.refunds if r["payment_intent"] == intent["id"])
            if already + int(form["amount"]) > intent["amount_received"]:
                return JSONResponse(
                    {"error": {"type": "invalid_request_error", "code": "amount_too_large"}}, 400
                )
            refund = {
                "id": "re_" + secrets.token_hex(8),
                "payment_intent": intent["id"],
                "amount": int(form["amount"]),
                "status": "succeeded",
            }
            self.refunds.append(refund)
            if key:
                self.idempotent[key] = refund
            return JSONResponse(refund)

        return Starlette(
            routes=[
                Route("/v1/payment_intents", create_intent, methods=["POST"]),
                Route("/v1/payment_intents/{intent_id}", get_intent, methods=["GET"]),
                Route("/v1/refunds", create_refund, methods=["POST"]),
            ]
        )


@dataclass
class FakePayPal:
    """PayPal Orders v2: OAuth2 client credentials, create → approve → capture, refunds."""

    client_id: str = "paypal-client"
    client_secret: str = "paypal-secret"
    decline_captures: bool = False
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    captures: int = 0
    tokens_issued: int = 0

    def app(self, base_url_holder: dict[str, str]) -> Starlette:
        import base64

        tokens: set[str] = set()

        async def token(req: Request) -> Response:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if req.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client"}, 401)
            access = "A21" + secrets.token_hex(12)
            tokens.add(access)
            self.tokens_issued += 1
            return JSONResponse(
                {"access_token": access, "token_type": "Bearer", "expires_in": 32400}
            )

        def authorised(req: Request) -> bool:
            return req.headers.get("authorization", "").removeprefix("Bearer ") in tokens

        async def create(req: Request) -> Response:
            if not authorised(req):
                return JSONResponse({"name": "AUTHENTICATION_FAILURE"}, 401)
            request_id = req.headers.get("paypal-request-id", "")
            if request_id in self.requests:
                return JSONResponse(self.requests[request_id], 201)
            body = await req.json()
            order_id = secrets.token_hex(8).upper()
            order = {
                "id": order_id,
                "status": "CREATED",
                "purchase_units": body["purchase_units"],
                "context": body.get("application_context", {}),
                "links": [
                    {
                        "rel": "approve",
                        "href": f"{base_url_holder['url']}/checkoutnow?token={order_id}",
                        "method": "GET",
                    }
                ],
            }
            self.orders[order_id] = order
            self.requests[request_id] = order
            return JSONResponse(order, 201)

        async def checkout(req: Request) -> Response:
            order = self.orders[req.query_params["token"]]
            if req.query_params.get("approve") == "1":
                order["status"] = "APPROVED"
                target = f"{order['context']['return_url']}?token={order['id']}&PayerID=PAYER1"
            else:
                target = f"{order['context']['cancel_url']}&token={order['id']}"
            return RedirectResponse(target, 302)

        def unprocessable(issue: str) -> JSONResponse:
            return JSONResponse(
                {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": issue}]}, 422
            )

        async def capture(req: Request) -> Response:
            if not authorised(req):
                return JSONResponse({"name": "AUTHENTICATION_FAILURE"}, 401)
            order = self.orders.get(req.path_params["order_id"])
            if order is None:
                return JSONResponse({"name": "RESOURCE_NOT_FOUND"}, 404)
            if order["status"] == "COMPLETED":
                return unprocessable("ORDER_ALREADY_CAPTURED")
            if order["status"] != "APPROVED":
                return unprocessable("ORDER_NOT_APPROVED")
            self.captures += 1
            amount = order["purchase_units"][0]["amount"]
            order["status"] = "COMPLETED"
            order["purchase_units"][0]["payments"] = {
                "captures": [
                    {
                        "id": "CAP" + secrets.token_hex(6).upper(),
                        "status": "DECLINED" if self.decline_captures else "COMPLETED",
                        "amount": {
                            "currency_code": amount["currency_code"],
                            "value": amount["value"],
                        },
                    }
                ]
            }
            return JSONResponse(order, 201)

        async def get_order(req: Request) -> Response:
            if not authorised(req):
                return JSONResponse({"name": "AUTHENTICATION_FAILURE"}, 401)
            return JSONResponse(self.orders[req.path_params["order_id"]])

        async def refund(req: Request) -> Response:
            if not authorised(req):
                return JSONResponse({"name": "AUTHENTICATION_FAILURE"}, 401)
            body = await req.json()
            entry = {
                "id": "REF" + secrets.token_hex(6).upper(),
                "status": "COMPLETED",
                "capture_id": req.path_params["capture_id"],
                "amount": body["amount"],
            }
            self.refunds.append(entry)
            return JSONResponse(entry, 201)

        return Starlette(
            routes=[
                Route("/v1/oauth2/token", token, methods=["POST"]),
                Route("/v2/checkout/orders", create, methods=["POST"]),
                Route("/checkoutnow", checkout, methods=["GET"]),
                Route("/v2/checkout/orders/{order_id}/capture", capture, methods=["POST"]),
                Route("/v2/checkout/orders/{order_id}", get_order, methods=["GET"]),
                Route("/v2/payments/captures/{capture_id}/refund", refund, methods=["POST"]),
            ]
        )


@dataclass
class FakeCryptoProcessor:
    """A crypto processor: invoices with an address and amount, confirmed on chain later."""

    api_key: str = "crypto-key"
    webhook_secret: str = "crypto-ipn-secret"
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set_status(self, invoice_id: str, status: str) -> None:
        self.invoices[invoice_id]["status"] = status
        if status == "confirmed":
            self.invoices[invoice_id]["tx_hash"] = "0x" + secrets.token_hex(32)

    def signed_event(self, invoice_id: str, *, secret: str | None = None) -> tuple[bytes, str]:
        import hashlib
        import hmac
        import json

        payload = json.dumps(
            {"invoice_id": invoice_id, "status": self.invoices[invoice_id]["status"]}
        ).encode()
        signature = hmac.new(
            (secret or self.webhook_secret).encode(), payload, hashlib.sha512
        ).hexdigest()
        return payload, signature

    def app(self) -> Starlette:
        async def create(req: Request) -> Response:
            if req.headers.get("x-api-key") != self.api_key:
                return JSONResponse({"message": "bad key"}, 401)
            body = await req.json()
            invoice_id = "inv_" + secrets.token_hex(8)
            self.invoices[invoice_id] = {
                "id": invoice_id,
                "status": "waiting",
                "amount": body["amount"],
                "currency": body["currency"],
                "address": "bc1q" + secrets.token_hex(16),
                "pay_amount": "0.00123",
                "pay_currency": "BTC",
                "invoice_url": f"https://pay.example/invoice/{invoice_id}",
                "callback": body["callback_url"],
            }
            return JSONResponse(self.invoices[invoice_id], 201)

        async def get(req: Request) -> Response:
            if req.headers.get("x-api-key") != self.api_key:
                return JSONResponse({"message": "bad key"}, 401)
            invoice = self.invoices.get(req.path_params["invoice_id"])
            return JSONResponse(invoice) if invoice else JSONResponse({"message": "not found"}, 404)

        return Starlette(
            routes=[
                Route("/v1/invoices", create, methods=["POST"]),
                Route("/v1/invoices/{invoice_id}", get, methods=["GET"]),
            ]
        )
