"""Stripe PaymentIntents: created server-side, confirmed by the client with Stripe.js, settled
by a signed webhook (or by asking the API); refunds through /v1/refunds."""

from __future__ import annotations

import hashlib
import hmac
import time
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
from asoud.platform.money import MINOR_UNITS


def minor_units(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(MINOR_UNITS[currency]))


def from_minor_units(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-MINOR_UNITS[currency])


class SignatureError(Exception):
    """The webhook was not signed by our endpoint secret within the tolerance."""


def verify_signature(
    payload: bytes, header: str, secret: str, tolerance: int, now: float | None = None
) -> None:
    """Stripe's scheme: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`, v1 may repeat."""
    if not secret:  # an empty key would make every forger's signature "valid"
        raise SignatureError("no webhook secret is configured")
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for key, value in parts if key == "t"]
    signatures = [value for key, value in parts if key == "v1"]
    if len(timestamps) != 1 or not signatures or not timestamps[0].isdigit():
        raise SignatureError("malformed signature header")
    timestamp = int(timestamps[0])
    if abs((now or time.time()) - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    # Bytes: compare_digest refuses non-ASCII str, and a header is whatever a client sends.
    if not any(
        hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
        for signature in signatures
    ):
        raise SignatureError("no matching signature")


@dataclass
class Stripe:
    http: httpx.AsyncClient
    api_url: str
    secret_key: str
    name: str = "stripe"
    idempotent_refunds: bool = True

    async def _call(
        self,
        method: str,
        path: str,
        data: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self.http.request(
                method, self.api_url.rstrip("/") + path, data=data, headers=headers
            )
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise GatewayError(f"stripe unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or not isinstance(document, dict):
            raise GatewayError(f"stripe error: http {response.status_code}")
        if response.status_code >= 400:
            error = document.get("error", {})
            raise GatewayRefused(f"stripe refused: {error.get('type')}/{error.get('code')}")
        return document

    async def start(self, request: PaymentRequest) -> Started:
        intent = await self._call(
            "POST",
            "/v1/payment_intents",
            {
                "amount": minor_units(request.amount, request.currency),
                "currency": request.currency.lower(),
                "automatic_payment_methods[enabled]": "true",
                "description": request.description,
                "metadata[session_id]": request.session_id,
            },
            idempotency_key=f"asoud-session-{request.session_id}",
        )
        return Started(
            authority=str(intent["id"]),
            redirect_url="",
            client_secret=str(intent.get("client_secret", "")),
        )

    async def verify(self, authority: str, amount: Decimal, currency: str) -> Verification:
        intent = await self._call("GET", f"/v1/payment_intents/{authority}")
        status = intent.get("status")
        if status == "succeeded":
            received = from_minor_units(int(intent.get("amount_received", 0)), currency)
            return Verification(
                Outcome.paid,
                reference=str(intent.get("latest_charge") or authority),
                amount=received,
            )
        if status == "canceled" or (
            status == "requires_payment_method" and intent.get("last_payment_error")
        ):
            return Verification(Outcome.failed, reason=f"stripe status {status}")
        return Verification(Outcome.unknown, reason=f"stripe status {status}")

    async def refund(
        self, authority: str, capture: str, refund_key: str, amount: Decimal, currency: str
    ) -> str:
        refund = await self._call(
            "POST",
            "/v1/refunds",
            {
                "payment_intent": authority,
                "amount": minor_units(amount, currency),
            },
            idempotency_key=f"asoud-refund-{refund_key}",
        )
        if refund.get("status") in ("failed", "canceled"):
            raise GatewayRefused(f"stripe refund {refund.get('status')}")
        if refund.get("status") not in ("succeeded", "pending"):
            raise GatewayError(f"stripe refund {refund.get('status')}")
        return str(refund["id"])
