"""Zarinpal v4: request → StartPay redirect → GET callback → verify (100 paid, 101 already)."""

from __future__ import annotations

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

PAID_CODES = (100, 101)  # 101: verified before, which is the same success
# Verify answers that mean "this was not paid": -51 the payment failed or was abandoned, -54
# no such authority. Anything else (-12 too many attempts, -52 unexpected error, a terminal
# problem ...) says nothing about the payment: the session stays open for reconciliation.
NOT_PAID_CODES = (-51, -54)


def _whole(amount: Decimal) -> int:
    """Zarinpal takes whole rials or tomans: a fraction here is a bug upstream, never rounded
    away (the amount charged must be the amount credited)."""
    if amount != amount.to_integral_value():
        raise GatewayError("zarinpal takes whole amounts only")
    return int(amount)


@dataclass
class Zarinpal:
    http: httpx.AsyncClient
    api_url: str
    startpay_url: str
    merchant_id: str
    name: str = "zarinpal"
    idempotent_refunds: bool = False

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(
                self.api_url.rstrip("/") + path, json=body, headers={"Accept": "application/json"}
            )
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise GatewayError(f"zarinpal unreachable: {type(exc).__name__}") from None
        if not isinstance(document, dict):
            raise GatewayError("zarinpal answered nonsense")
        return document

    @staticmethod
    def _code(document: dict[str, Any]) -> int | None:
        data = document.get("data")
        if isinstance(data, dict) and "code" in data:
            return int(data["code"])
        errors = document.get("errors")
        if isinstance(errors, dict) and "code" in errors:
            return int(errors["code"])
        return None

    async def start(self, request: PaymentRequest) -> Started:
        document = await self._post(
            "/pg/v4/payment/request.json",
            {
                "merchant_id": self.merchant_id,
                "amount": _whole(request.amount),
                "currency": request.currency,
                "description": request.description,
                "callback_url": request.callback_url,
                "metadata": {"mobile": request.mobile, "order_id": request.session_id},
            },
        )
        data = document.get("data") or {}
        if self._code(document) != 100 or not isinstance(data, dict) or not data.get("authority"):
            raise GatewayError(f"zarinpal refused the request: code {self._code(document)}")
        authority = str(data["authority"])
        return Started(authority=authority, redirect_url=self.startpay_url + authority)

    async def verify(self, authority: str, amount: Decimal, currency: str) -> Verification:
        document = await self._post(
            "/pg/v4/payment/verify.json",
            {
                "merchant_id": self.merchant_id,
                "authority": authority,
                "amount": _whole(amount),
            },
        )
        code = self._code(document)
        if code in PAID_CODES:
            data = document.get("data") or {}
            reference = str(data.get("ref_id") or "")
            if not reference:  # paid but unconfirmable: ask again later, never guess
                return Verification(Outcome.unknown, reason="paid without ref_id")
            return Verification(Outcome.paid, reference=reference, amount=amount)
        if code in NOT_PAID_CODES:
            return Verification(Outcome.failed, reason=f"zarinpal code {code}")
        return Verification(Outcome.unknown, reason=f"zarinpal code {code}")

    async def refund(
        self, authority: str, capture: str, refund_key: str, amount: Decimal, currency: str
    ) -> str:
        document = await self._post(
            "/pg/v4/payment/refund.json",
            {
                "merchant_id": self.merchant_id,
                "authority": authority,
                "amount": _whole(amount),
            },
        )
        data = document.get("data") or {}
        code = self._code(document)
        if code is not None and code < 0:
            raise GatewayRefused(f"zarinpal refused the refund: code {code}")
        if code != 100 or not isinstance(data, dict):
            raise GatewayError(f"zarinpal refund unclear: code {code}")
        return str(data.get("refund_id") or data.get("ref_id") or "")
