"""Payment sessions: start one per target, settle it exactly once, reconcile the stale ones.

Settling (from the buyer's redirect, a gateway webhook or reconciliation) locks the session
row first: whichever arrives first does the work, the others find it settled and change
nothing. A gateway that cannot be reached leaves the session open for reconciliation; money
is never assumed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from asoud.catalog import cache as catalog_cache
from asoud.identity.models import User
from asoud.markets.access import Access, market_for
from asoud.markets.services import mark_subscription_paid
from asoud.notifications.services import event_data, notify_quietly
from asoud.orders.models import Order, OrderLine, OrderStatus, PaymentMethod
from asoud.orders.services import apply_action
from asoud.orders.state import next_state
from asoud.payments.gateways.base import Gateway, GatewayError, Outcome, PaymentRequest, refusal
from asoud.payments.gateways.crypto import CryptoProcessor
from asoud.payments.gateways.paypal import PayPal
from asoud.payments.gateways.stripe import Stripe
from asoud.payments.gateways.zarinpal import Zarinpal
from asoud.payments.models import OPEN_STATUSES, PaymentSession, SessionStatus, Target
from asoud.payments.schemas import PaymentOut
from asoud.platform.errors import Conflict, DomainError, NotFound, field_error
from asoud.platform.money import MoneyIn, display, money, validated_amount
from asoud.runtime import Platform
from asoud.taxonomy.models import Category
from asoud.wallet import services as wallet

log = logging.getLogger("asoud.payments")
PAYMENTS = Counter(
    "asoud_payments", "Payment sessions settled, by gateway and result", ["gateway", "result"]
)


def gateway_for(platform: Platform, name: str) -> Gateway:
    settings = platform.settings
    if name not in settings.payment_gateways:
        raise field_error("body.gateway", "unknown_gateway")
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
            _callback_url(platform, "paypal"),
        )
    raise field_error("body.gateway", "unknown_gateway")


def _callback_url(platform: Platform, gateway: str) -> str:
    return f"{platform.settings.public_base_url.rstrip('/')}/api/v1/payments/callback/{gateway}"


def view(session: PaymentSession) -> PaymentOut:
    return PaymentOut(
        id=session.id,
        target=session.target,
        target_id=session.target_id,
        gateway=session.gateway,
        amount=money(session.amount, session.currency),
        status=session.status,
        redirect_url=session.redirect_url,
        client_secret=session.client_secret or None,
        failure_reason=session.failure_reason,
        created_at=session.created_at,
        settled_at=session.settled_at,
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _open_session(target: Target, target_id: str) -> PaymentSession | None:
    return await PaymentSession.get_or_none(
        target=target, target_id=target_id, status__in=list(OPEN_STATUSES)
    )


async def _prepare_order(
    platform: Platform, user: User, order_id: uuid.UUID
) -> tuple[Decimal, str]:
    """Inside a transaction: move the order to processing and stretch its stock hold."""
    order = await Order.filter(id=order_id, user_id=user.id).select_for_update().first()
    if order is None:
        raise NotFound()
    if order.payment_method is not PaymentMethod.online:
        raise Conflict(
            "transition_not_allowed",
            entity="order",
            current=order.status.value,
            action="paid online",
            extra={"current_status": order.status.value},
        )
    order.status = next_state(order, "start_payment")
    # The hold must outlive the payment attempt, reconciliation included.
    order.reserved_until = _now() + timedelta(
        seconds=platform.settings.payment_reconcile_after_seconds
        + platform.settings.stock_hold_online_seconds
    )
    await order.save(update_fields=["status", "reserved_until", "updated_at"])
    return order.total, order.currency


async def _subscription_fee(user: User, market_id: uuid.UUID) -> tuple[Decimal, str]:
    market, _ = await market_for(user, str(market_id), frozenset({Access.owner}))
    if market.fee_paid_at is not None:
        raise Conflict("already_paid")
    category = await Category.get(id=market.category_id)
    if category.subscription_fee is None:
        raise Conflict("conflict")
    return category.subscription_fee, category.fee_currency


def _topup_amount(amount: MoneyIn | None) -> tuple[Decimal, str]:
    if amount is None:
        raise field_error("body.amount", "missing")
    return validated_amount(amount, "body.amount"), amount.currency


async def start(
    platform: Platform,
    user: User,
    target: Target,
    target_id: uuid.UUID | None,
    gateway_name: str,
    amount: MoneyIn | None = None,
) -> PaymentSession:
    """Open a session and send the buyer to the gateway; an open one for the target is reused."""
    gateway = gateway_for(platform, gateway_name)
    if target is not Target.wallet_topup and target_id is None:
        raise field_error("body.target_id", "missing")
    if target is not Target.wallet_topup and amount is not None:
        raise field_error("body.amount", "extra_forbidden")  # the target decides the amount
    key = str(user.id) if target is Target.wallet_topup else str(target_id)
    existing = await _open_session(target, key)
    if existing is not None and existing.user_id == user.id:
        return existing
    try:
        async with in_transaction():
            if target is Target.order:
                assert target_id is not None
                value, currency = await _prepare_order(platform, user, target_id)
            elif target is Target.subscription:
                assert target_id is not None
                value, currency = await _subscription_fee(user, target_id)
            else:
                value, currency = _topup_amount(amount)
            refused = refusal(gateway.name, value, currency)
            if refused is not None:  # rolls back the order's move to processing
                raise field_error(
                    "body.amount" if target is Target.wallet_topup else "body.gateway", refused
                )
            session = await PaymentSession.create(
                user_id=user.id,
                target=target,
                target_id=key,
                gateway=gateway.name,
                amount=value,
                currency=currency,
            )
    except IntegrityError:  # another request opened one for this target just now
        raced = await _open_session(target, key)
        if raced is None or raced.user_id != user.id:
            raise Conflict("conflict") from None
        return raced
    callback = _callback_url(platform, gateway.name)
    try:
        started = await gateway.start(
            PaymentRequest(
                session_id=str(session.id),
                amount=value,
                currency=currency,
                description=f"ASOUD {target.value} {key}",
                callback_url=callback,
                mobile=user.phone,
            )
        )
    except GatewayError as exc:
        log.warning("payment start failed: %s", exc)
        await _abandon(platform, session.id)
        raise DomainError("payment_gateway_unavailable", status=503) from None
    session.authority = started.authority
    session.redirect_url = started.redirect_url
    session.client_secret = started.client_secret
    session.status = SessionStatus.pending
    await session.save(
        update_fields=["authority", "redirect_url", "client_secret", "status", "updated_at"]
    )
    return session


async def _abandon(platform: Platform, session_id: Any) -> None:
    """The gateway never heard of this session: close it and let the order be paid again."""
    async with in_transaction():
        session = await PaymentSession.filter(id=session_id).select_for_update().first()
        assert session is not None
        session.status = SessionStatus.failed
        session.failure_reason = "gateway unavailable"
        session.settled_at = _now()
        await session.save()
        if session.target is Target.order:
            order = await Order.filter(id=session.target_id).select_for_update().first()
            if order is not None and order.status is OrderStatus.processing:
                order.status = next_state(order, "payment_not_started")
                await order.save(update_fields=["status", "updated_at"])


async def _apply_success(platform: Platform, session: PaymentSession, reference: str) -> None:
    """Inside the settling transaction: what the money was for happens, exactly once."""
    if session.target is Target.wallet_topup:
        await wallet.credit_topup(
            uuid.UUID(session.target_id),
            session.amount,
            session.currency,
            reference=f"payment:{session.id}",
        )
    elif session.target is Target.subscription:
        await mark_subscription_paid(session.target_id)
    else:
        order = await Order.filter(id=session.target_id).select_for_update().first()
        if order is None or order.status is not OrderStatus.processing:
            # Paid after the order expired or was cancelled: the money goes to the wallet.
            await wallet.credit_topup(
                session.user_id, session.amount, session.currency, reference=f"payment:{session.id}"
            )
            session.failure_reason = "order no longer payable; amount credited to the wallet"
            return
        await apply_action(order, "payment_succeeded")
        await wallet.receive_for_order(
            session.amount, session.currency, order.id, reference=f"{session.gateway}:{reference}"
        )
        await order.save()


async def _apply_failure(session: PaymentSession) -> None:
    if session.target is not Target.order:
        return
    order = await Order.filter(id=session.target_id).select_for_update().first()
    if order is None or order.status is not OrderStatus.processing:
        return
    await apply_action(order, "payment_failed")
    await order.save()


async def _finish(
    platform: Platform,
    session_id: Any,
    status: SessionStatus,
    *,
    reason: str = "",
    reference: str = "",
) -> PaymentSession:
    async with in_transaction():
        session = await PaymentSession.filter(id=session_id).select_for_update().first()
        assert session is not None
        if session.status not in OPEN_STATUSES:
            return session  # settled by someone else first
        if status is SessionStatus.succeeded:
            await _apply_success(platform, session, reference)
            session.gateway_reference = reference
        else:
            await _apply_failure(session)
        session.status = status
        session.failure_reason = session.failure_reason or reason
        session.settled_at = _now()
        await session.save()
        PAYMENTS.labels(session.gateway, status.value).inc()
    if session.target is Target.order:
        await _invalidate_order(
            platform, session.target_id, sold=session.status is SessionStatus.succeeded
        )
    await notify_quietly(
        platform,
        session.user_id,
        "payment_status",
        event_data(payment_id=session.id, target=session.target.value),
        amount=display(session.amount, session.currency),
        status=session.status.value,
    )
    return session


async def _invalidate_order(platform: Platform, order_id: str, *, sold: bool) -> None:
    """A paid order changes sales counts only; a failed one makes its units available again."""
    order = await Order.get_or_none(id=order_id)
    if order is None:
        return
    if sold:
        await catalog_cache.invalidate(platform, [str(order.market_id)], popularity_only=True)
        return
    product_ids = await OrderLine.filter(order_id=order.id).values_list("product_id", flat=True)
    await catalog_cache.invalidate(platform, [str(order.market_id)], [str(p) for p in product_ids])


async def settle(
    platform: Platform, gateway_name: str, authority: str, *, cancelled: bool
) -> PaymentSession:
    """The buyer came back (or the gateway called): verify once and apply the outcome."""
    session = await PaymentSession.get_or_none(gateway=gateway_name, authority=authority)
    if session is None:
        raise NotFound()
    if session.status not in OPEN_STATUSES:
        return session  # a duplicate callback: nothing to do, same answer
    if cancelled:
        return await _finish(
            platform, session.id, SessionStatus.cancelled, reason="cancelled at the gateway"
        )
    gateway = gateway_for(platform, gateway_name)
    try:
        verification = await gateway.verify(authority, session.amount, session.currency)
    except GatewayError as exc:
        log.warning("payment verification deferred: %s", exc)
        return session  # unknown: reconciliation asks again
    if verification.outcome is Outcome.paid:
        if verification.amount is not None and verification.amount != session.amount:
            log.error("amount mismatch on payment session %s", session.id)
            return session  # never settle a tampered amount; staff and reconciliation look
        return await _finish(
            platform, session.id, SessionStatus.succeeded, reference=verification.reference
        )
    if verification.outcome is Outcome.failed:
        return await _finish(platform, session.id, SessionStatus.failed, reason=verification.reason)
    return session


async def reconcile(platform: Platform, limit: int = 200) -> dict[str, int]:
    """Ask the gateway about open sessions older than the reconciliation age (scheduler)."""
    cutoff = _now() - timedelta(seconds=platform.settings.payment_reconcile_after_seconds)
    stale = (
        await PaymentSession.filter(status__in=list(OPEN_STATUSES), created_at__lt=cutoff)
        .order_by("created_at")
        .limit(limit)
    )
    counts = {"succeeded": 0, "failed": 0, "open": 0}
    for session in stale:
        if session.authority is None:  # the gateway never heard of it
            done = await _finish(platform, session.id, SessionStatus.failed, reason="never started")
        else:
            done = await settle(platform, session.gateway, session.authority, cancelled=False)
        key = done.status.value if done.status.value in counts else "open"
        counts[key] += 1
    return counts


REFUNDABLE = (OrderStatus.paid, OrderStatus.fulfilled, OrderStatus.completed)


async def refund_order(
    platform: Platform, market_id: Any, order_id: Any, amount: Decimal | None, refund_key: str
) -> Order:
    """Give (part of) an online or wallet payment back; the whole total makes it `refunded`."""
    async with in_transaction():
        order = await Order.filter(id=order_id, market_id=market_id).select_for_update().first()
        if order is None:
            raise NotFound()
        if order.status not in REFUNDABLE or order.payment_method is not PaymentMethod.online:
            raise Conflict(
                "transition_not_allowed",
                entity="order",
                current=order.status.value,
                action="refunded",
                extra={"current_status": order.status.value},
            )
        remaining = order.total - order.refunded_amount
        value = remaining if amount is None else amount
        if value <= 0 or value > remaining:
            raise field_error("body.amount", "invalid_amount")
        session = await PaymentSession.get_or_none(
            target=Target.order, target_id=str(order.id), status=SessionStatus.succeeded
        )
        if session is not None and session.authority and session.gateway != "crypto":
            gateway = gateway_for(platform, session.gateway)
            try:
                await gateway.refund(
                    session.authority, session.gateway_reference, refund_key, value, order.currency
                )
            except GatewayError as exc:
                log.warning("refund failed at the gateway: %s", exc)
                raise DomainError("payment_gateway_unavailable", status=503) from None
            session.refunded += value
            await session.save(update_fields=["refunded", "updated_at"])
        else:  # paid from the wallet: the money goes back there
            await wallet.refund_to_wallet(
                order.user_id, value, order.currency, f"{order.id}:{refund_key}"
            )
        order.refunded_amount += value
        if order.refunded_amount == order.total:
            order.status = next_state(order, "refund")
        await order.save()
    return order
