"""Fakes of the payment gateways' real HTTP APIs, to run on loopback in tests."""

from __future__ import annotations

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

    def app(self) -> Starlette:
        def error(code: int, message: str, status: int = 400) -> JSONResponse:
            return JSONResponse(
                {"data": [], "errors": {"code": code, "message": message, "validations": []}},
                status,
            )

        async def request(req: Request) -> Response:
            if self.down:
                return Response("upstream down", 502)
            body = await req.json()
            if body.get("merchant_id") != self.merchant_id:
                return error(-10, "Terminal is not valid")
            if int(body.get("amount", 0)) < 1000:
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
            if self.down:
                return Response("upstream down", 502)
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
            ]
        )
