"""The gateways a deployment enabled, built once per process and bounded in time.

Each adapter is held for the process lifetime (PayPal keeps its OAuth token between calls),
and every call is wrapped in one deadline of ``ASOUD_GATEWAY_TIMEOUT_SECONDS``: httpx's
timeouts bound each connect, read or write, not a whole call that trickles in slowly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from asoud.payments.gateways.base import (
    Gateway,
    GatewayError,
    PaymentRequest,
    Started,
    Verification,
)
from asoud.payments.gateways.crypto import CryptoProcessor
from asoud.payments.gateways.paypal import PayPal
from asoud.payments.gateways.stripe import Stripe
from asoud.payments.gateways.zarinpal import Zarinpal
from asoud.platform.errors import field_error
from asoud.runtime import Platform


@dataclass
class Bounded:
    """A gateway whose every call ends within ``seconds``, or raises GatewayError."""

    inner: Gateway
    seconds: float

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def idempotent_refunds(self) -> bool:
        return self.inner.idempotent_refunds

    async def start(self, request: PaymentRequest) -> Started:
        try:
            async with asyncio.timeout(self.seconds):
                return await self.inner.start(request)
        except TimeoutError:
            raise GatewayError(f"{self.name} did not answer within {self.seconds} s") from None

    async def verify(self, authority: str, amount: Decimal, currency: str) -> Verification:
        try:
            async with asyncio.timeout(self.seconds):
                return await self.inner.verify(authority, amount, currency)
        except TimeoutError:
            raise GatewayError(f"{self.name} did not answer within {self.seconds} s") from None

    async def refund(
        self, authority: str, capture: str, refund_key: str, amount: Decimal, currency: str
    ) -> str:
        try:
            async with asyncio.timeout(self.seconds):
                return await self.inner.refund(authority, capture, refund_key, amount, currency)
        except TimeoutError:
            raise GatewayError(f"{self.name} did not answer within {self.seconds} s") from None


def callback_url(platform: Platform, gateway: str) -> str:
    return f"{platform.settings.public_base_url.rstrip('/')}/api/v1/payments/callback/{gateway}"


def _build(platform: Platform, name: str) -> Gateway:
    settings = platform.settings
    if name == "zarinpal":
        return Zarinpal(
            platform.http,
            settings.zarinpal_api_url,
            settings.zarinpal_startpay_url,
            settings.zarinpal_merchant_id,
        )
    if name == "stripe":
        return Stripe(platform.http, settings.stripe_api_url, settings.stripe_secret_key)
    if name == "crypto":
        webhook = f"{settings.public_base_url.rstrip('/')}/api/v1/payments/webhooks/crypto"
        return CryptoProcessor(
            platform.http, settings.crypto_api_url, settings.crypto_api_key, webhook
        )
    if name == "paypal":
        return PayPal(
            platform.http,
            settings.paypal_api_url,
            settings.paypal_client_id,
            settings.paypal_client_secret,
            callback_url(platform, "paypal"),
        )
    raise field_error("body.gateway", "unknown_gateway")


def gateway_for(platform: Platform, name: str, *, new_payment: bool = True) -> Gateway:
    """The process's adapter for a gateway: new payments only through the enabled ones (422
    unknown_gateway); sessions already open there are still verified and refunded."""
    if new_payment and name not in platform.settings.payment_gateways:
        raise field_error("body.gateway", "unknown_gateway")
    key = f"gateway:{name}"
    gateway: Gateway | None = platform.adapters.get(key)
    if gateway is None:
        gateway = Bounded(_build(platform, name), platform.settings.gateway_timeout_seconds)
        platform.adapters[key] = gateway
    return gateway
