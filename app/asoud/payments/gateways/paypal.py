"""PayPal Orders v2: create (intent CAPTURE) → buyer approves → capture, and the capture's own
status decides (an order can be COMPLETED with a DECLINED capture)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from asoud.payments.gateways.base import (
    GatewayError,
    GatewayRefused,
    Outcome,
    PaymentRequest,
    Started,
    Verification,
)
from asoud.platform.money import quantize


@dataclass
class PayPal:
    http: httpx.AsyncClient
    api_url: str
    client_id: str
    client_secret: str
    return_url: str
    name: str = "paypal"
    idempotent_refunds: bool = True
    _token: tuple[str, float] | None = field(default=None, repr=False)

    async def _access_token(self) -> str:
        if self._token and self._token[1] > time.time() + 60:
            return self._token[0]
        try:
            response = await self.http.post(
                self.api_url.rstrip("/") + "/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise GatewayError(f"paypal unreachable: {type(exc).__name__}") from None
        if response.status_code != 200 or "access_token" not in body:
            raise GatewayError(f"paypal token refused: http {response.status_code}")
        self._token = (str(body["access_token"]), time.time() + float(body.get("expires_in", 300)))
        return self._token[0]

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {
            "Authorization": f"Bearer {await self._access_token()}",
            "Content-Type": "application/json",
        }
        if request_id:
            headers["PayPal-Request-Id"] = request_id  # PayPal's idempotency key
        try:
            response = await self.http.request(
                method, self.api_url.rstrip("/") + path, json=body, headers=headers
            )
            document = response.json() if response.content else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise GatewayError(f"paypal unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise GatewayError(f"paypal error: http {response.status_code}")
        return response.status_code, document

    async def start(self, request: PaymentRequest) -> Started:
        status, order = await self._call(
            "POST",
            "/v2/checkout/orders",
            {
                "intent": "CAPTURE",
                "purchase_units": [
                    {
                        "reference_id": request.session_id,
                        "description": request.description[:127],
                        "amount": {
                            "currency_code": request.currency,
                            "value": f"{quantize(request.amount, request.currency):f}",
                        },
                    }
                ],
                "application_context": {
                    "return_url": self.return_url,
                    "cancel_url": f"{self.return_url}?cancelled=1",
                },
            },
            request_id=f"asoud-session-{request.session_id}",
        )
        approve = next(
            (
                link["href"]
                for link in order.get("links", [])
                if link.get("rel") in ("approve", "payer-action")
            ),
            None,
        )
        if status not in (200, 201) or not approve:
            raise GatewayError(f"paypal refused the order: http {status}")
        return Started(authority=str(order["id"]), redirect_url=str(approve))

    @staticmethod
    def _capture_of(order: dict[str, Any]) -> dict[str, Any] | None:
        for unit in order.get("purchase_units", []):
            captures = unit.get("payments", {}).get("captures", [])
            if captures:
                return captures[0]  # type: ignore[no-any-return]
        return None

    async def verify(self, authority: str, amount: Decimal, currency: str) -> Verification:
        status, order = await self._call(
            "POST",
            f"/v2/checkout/orders/{authority}/capture",
            {},
            request_id=f"asoud-capture-{authority}",
        )
        issue = str(order.get("details", [{}])[0].get("issue", "")) if status == 422 else ""
        if issue == "ORDER_ALREADY_CAPTURED":
            status, order = await self._call("GET", f"/v2/checkout/orders/{authority}")
        elif issue == "ORDER_NOT_APPROVED":
            return Verification(Outcome.failed, reason="the buyer never approved the order")
        if status not in (200, 201):
            return Verification(Outcome.unknown, reason=f"paypal http {status}")
        capture = self._capture_of(order)
        if capture is None:
            return Verification(Outcome.unknown, reason="no capture yet")
        if capture.get("status") == "COMPLETED":
            value = capture.get("amount", {})
            collected = (
                Decimal(str(value.get("value"))) if value.get("currency_code") == currency else None
            )
            return Verification(Outcome.paid, reference=str(capture["id"]), amount=collected)
        if capture.get("status") in ("DECLINED", "FAILED"):
            return Verification(Outcome.failed, reason=f"capture {capture.get('status')}")
        return Verification(Outcome.unknown, reason=f"capture {capture.get('status')}")

    async def refund(
        self, authority: str, capture: str, refund_key: str, amount: Decimal, currency: str
    ) -> str:
        status, refund = await self._call(
            "POST",
            f"/v2/payments/captures/{capture}/refund",
            {"amount": {"value": f"{quantize(amount, currency):f}", "currency_code": currency}},
            request_id=f"asoud-refund-{refund_key}",
        )
        if 400 <= status < 500 or refund.get("status") in ("CANCELLED", "FAILED"):
            raise GatewayRefused(f"paypal refund refused: http {status} {refund.get('status')}")
        if status not in (200, 201) or refund.get("status") not in ("COMPLETED", "PENDING"):
            raise GatewayError(f"paypal refund unclear: http {status}")
        return str(refund["id"])
