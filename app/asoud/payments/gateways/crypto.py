"""A crypto payment processor: an invoice gives an address and an amount in a coin; the
processor confirms on-chain payment with a signed webhook (HMAC-SHA512 of the raw body).

Protocol (the common shape of such processors):
``POST /v1/invoices {amount, currency, order_id, callback_url}`` with ``X-API-Key`` →
``{id, invoice_url, address, pay_amount, pay_currency, status}``; ``GET /v1/invoices/{id}``
→ ``{status: waiting|confirming|confirmed|expired|failed, amount, currency}``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
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


def signature_valid(payload: bytes, signature: str, secret: str) -> bool:
    if not secret or not signature:  # no key: nothing can be verified
        return False
    expected = hmac.new(secret.encode(), payload, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace"))


@dataclass
class CryptoProcessor:
    http: httpx.AsyncClient
    api_url: str
    api_key: str
    callback_url: str
    name: str = "crypto"
    idempotent_refunds: bool = False

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(
                method,
                self.api_url.rstrip("/") + path,
                json=body,
                headers={"X-API-Key": self.api_key},
            )
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise GatewayError(f"crypto processor unreachable: {type(exc).__name__}") from None
        if response.status_code >= 400 or not isinstance(document, dict):
            raise GatewayError(f"crypto processor refused: http {response.status_code}")
        return document

    async def start(self, request: PaymentRequest) -> Started:
        invoice = await self._call(
            "POST",
            "/v1/invoices",
            {
                "amount": f"{request.amount:f}",
                "currency": request.currency,
                "order_id": request.session_id,
                "callback_url": self.callback_url,
            },
        )
        return Started(authority=str(invoice["id"]), redirect_url=str(invoice["invoice_url"]))

    async def verify(self, authority: str, amount: Decimal, currency: str) -> Verification:
        invoice = await self._call("GET", f"/v1/invoices/{authority}")
        status = invoice.get("status")
        if status == "confirmed":
            paid = (
                Decimal(str(invoice.get("amount"))) if invoice.get("currency") == currency else None
            )
            return Verification(
                Outcome.paid, reference=str(invoice.get("tx_hash", authority)), amount=paid
            )
        if status in ("expired", "failed"):
            return Verification(Outcome.failed, reason=f"invoice {status}")
        return Verification(Outcome.unknown, reason=f"invoice {status}")

    async def refund(
        self, authority: str, capture: str, refund_key: str, amount: Decimal, currency: str
    ) -> str:
        raise GatewayRefused("crypto payments are refunded to the wallet")
