"""Payment sessions: start one per target, settle it exactly once, reconcile the stale ones;
refunds recorded before the gateway is asked.

No database transaction or row lock is held while a gateway is called: the intent is
recorded and committed, the gateway asked, and its answer applied in a second transaction.
Settling (from the buyer's return, a gateway webhook or reconciliation) locks the session row
first: whichever arrives first does the work, the others find it settled and change nothing.
A gateway that cannot be reached, or answers without deciding, leaves the session open for
reconciliation; money is never assumed.
"""

from __future__ import annotations

import hashlib
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
from asoud.markets.models import MarketRevision, RevisionStatus
from asoud.markets.services import fee_due, mark_subscription_paid
from asoud.notifications.services import event_data, notify_quietly
from asoud.orders.models import Order, OrderLine, OrderStatus, PaymentMethod
from asoud.orders.services import apply_action
from asoud.orders.state import next_state
from asoud.payments.gateways.base import (
    Gateway,
    GatewayError,
    GatewayRefused,
    Outcome,
    PaymentRequest,
    refusal,
)
from asoud.payments.gateways.registry import callback_url, gateway_for
from asoud.payments.models import (
    OPEN_STATUSES,
    PaymentSession,
    Refund,
    RefundStatus,
    SessionStatus,
    Target,
)
from asoud.payments.schemas import PaymentOut
from asoud.platform.database import fetch_sql
from asoud.platform.errors import Conflict, DomainError, NotFound, field_error
from asoud.platform.money import MoneyIn, check_amount_precision, display, money, validated_amount
from asoud.runtime import Platform
from asoud.wallet import services as wallet

log = logging.getLogger("asoud.payments")
PAYMENTS = Counter(
    "asoud_payments", "Payment sessions settled, by gateway and result", ["gateway", "result"]
)
REFUNDS = Counter("asoud_refunds", "Refunds by gateway and result", ["gateway", "result"])
RETRY_AFTER = {"Retry-After": "5"}


def _unavailable() -> DomainError:
    return DomainError("payment_gateway_unavailable", status=503, headers=RETRY_AFTER)


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
    """What the owner still owes for the market's category, or for the category a pending
    revision moves it to (paid before staff approve the move)."""
    market, _ = await market_for(user, str(market_id), frozenset({Access.owner}))
    revision = (
        await MarketRevision.filter(market_id=market.id, status=RevisionStatus.pending)
        .order_by("-created_at")
        .first()
    )
    moving_to = revision.changes.get("category_id") if revision is not None else None
    due, currency = await fee_due(market, moving_to if isinstance(moving_to, int) else None)
    if due <= 0:
        raise Conflict("already_paid")
    return due, currency


def _topup_amount(amount: MoneyIn | None) -> tuple[Decimal, str]:
    if amount is None:
        raise field_error("body.amount", "missing")
    return validated_amount(amount, "body.amount"), amount.currency


def _check_takes(gateway: Gateway, amount: Decimal, currency: str, field: str) -> None:
    """Each gateway takes only its own currencies and amounts (gateways.base.ACCEPTS)."""
    refused = refusal(gateway.name, amount, currency)
    if refused is not None:
        raise field_error(field, refused)


async def start(
    platform: Platform,
    user: User,
    target: Target,
    target_id: uuid.UUID | None,
    gateway_name: str,
    amount: MoneyIn | None = None,
) -> PaymentSession:
    """Open a session and send the buyer to the gateway. A retry finds the target's open
    session: its redirect again, or the gateway asked now if an earlier start was cut short."""
    gateway = gateway_for(platform, gateway_name)
    if target is Target.wallet_topup:
        value, currency = _topup_amount(amount)
        _check_takes(gateway, value, currency, "body.amount")
        # Every top-up is a session of its own: a new amount never finds an earlier one.
        session_id = uuid.uuid4()
        session = await PaymentSession.create(
            id=session_id,
            user_id=user.id,
            target=target,
            target_id=str(session_id),
            gateway=gateway.name,
            amount=value,
            currency=currency,
        )
        return await _ask_to_start(platform, gateway, session, user)
    if target_id is None:
        raise field_error("body.target_id", "missing")
    if amount is not None:
        raise field_error("body.amount", "extra_forbidden")  # the target decides the amount
    key = str(target_id)
    existing = await _open_session(target, key)
    if existing is not None:
        return await _resume(platform, gateway, existing, user)
    try:
        async with in_transaction():
            if target is Target.order:
                value, currency = await _prepare_order(platform, user, target_id)
            else:
                value, currency = await _subscription_fee(user, target_id)
            if value > 0:  # refused here rolls back the order's move to processing
                _check_takes(gateway, value, currency, "body.gateway")
            session = await PaymentSession.create(
                user_id=user.id,
                target=target,
                target_id=key,
                gateway=gateway.name,
                amount=value,
                currency=currency,
            )
            if value == 0:  # all discounted: nothing to collect, no gateway to ask
                await _apply_success(platform, session, "")
                session.status = SessionStatus.succeeded
                session.settled_at = _now()
                await session.save()
    except IntegrityError:  # another request opened one for this target just now
        raced = await _open_session(target, key)
        if raced is None:
            raise Conflict("conflict") from None
        return await _resume(platform, gateway, raced, user)
    if session.status is SessionStatus.succeeded:
        PAYMENTS.labels(session.gateway, session.status.value).inc()
        await _after_settling(platform, session)
        return session
    return await _ask_to_start(platform, gateway, session, user)


async def _resume(
    platform: Platform, gateway: Gateway, session: PaymentSession, user: User
) -> PaymentSession:
    if session.user_id != user.id:
        raise NotFound()
    if session.authority is not None:
        if session.gateway != gateway.name:  # the buyer may be paying there right now
            raise Conflict("payment_in_progress")
        return session
    # The gateway never heard of this session (a start cut short by a crash or a timeout):
    # nobody can be paying it, so it may move to the gateway asked for now.
    if session.gateway != gateway.name:
        _check_takes(gateway, session.amount, session.currency, "body.gateway")
        await PaymentSession.filter(id=session.id, authority__isnull=True).update(
            gateway=gateway.name
        )
        session.gateway = gateway.name
    return await _ask_to_start(platform, gateway, session, user)


async def _ask_to_start(
    platform: Platform, gateway: Gateway, session: PaymentSession, user: User
) -> PaymentSession:
    """Outside any transaction: ask the gateway, then store its answer if none is stored."""
    try:
        started = await gateway.start(
            PaymentRequest(
                session_id=str(session.id),
                amount=session.amount,
                currency=session.currency,
                description=f"ASOUD {session.target.value} {session.target_id}",
                callback_url=callback_url(platform, gateway.name),
                mobile=user.phone,
            )
        )
    except GatewayError as exc:
        log.warning("payment start failed: %s", exc)
        await _abandon(session.id)
        raise _unavailable() from None
    # A concurrent retry may have asked too: the first answer stored is the one shown.
    await PaymentSession.filter(
        id=session.id, authority__isnull=True, status=SessionStatus.created
    ).update(
        authority=started.authority,
        redirect_url=started.redirect_url,
        client_secret=started.client_secret,
        status=SessionStatus.pending,
        updated_at=_now(),
    )
    await session.refresh_from_db()
    if session.status is not SessionStatus.pending:  # closed meanwhile: try again later
        raise _unavailable()
    return session


async def _abandon(session_id: Any) -> None:
    """The gateway never heard of this session: close it and let the order be paid again."""
    async with in_transaction():
        session = await PaymentSession.filter(id=session_id).select_for_update().first()
        if session is None or session.status is not SessionStatus.created or session.authority:
            return  # started by a concurrent retry after all
        session.status = SessionStatus.failed
        session.failure_reason = "never started at the gateway"
        session.settled_at = _now()
        await session.save()
        if session.target is Target.order:
            order = await Order.filter(id=session.target_id).select_for_update().first()
            if order is not None and order.status is OrderStatus.processing:
                order.status = next_state(order, "payment_not_started")
                await order.save(update_fields=["status", "updated_at"])


async def _apply_success(
    platform: Platform, session: PaymentSession, reference: str
) -> Order | None:
    """Inside the settling transaction: what the money was for happens, exactly once.
    Returns the order it paid, if it paid one."""
    if session.target is Target.wallet_topup:
        await wallet.credit_topup(
            session.user_id, session.amount, session.currency, reference=f"payment:{session.id}"
        )
    elif session.target is Target.subscription:
        await mark_subscription_paid(session.target_id, session.amount, session.currency)
    else:
        order = await Order.filter(id=session.target_id).select_for_update().first()
        if order is None or order.status is not OrderStatus.processing:
            # Paid after the order expired or was cancelled: the money goes to the wallet.
            await wallet.credit_topup(
                session.user_id, session.amount, session.currency, reference=f"payment:{session.id}"
            )
            session.failure_reason = "order no longer payable; amount credited to the wallet"
            return None
        await apply_action(order, "payment_succeeded")
        if session.amount > 0:
            await wallet.receive_for_order(
                session.amount,
                session.currency,
                order.id,
                reference=f"{session.gateway}:{reference}",
            )
        await order.save()
        return order
    return None


async def _apply_failure(session: PaymentSession) -> tuple[Order, list[OrderLine]] | None:
    """Returns the order given back and its lines, if there was one."""
    if session.target is not Target.order:
        return None
    order = await Order.filter(id=session.target_id).select_for_update().first()
    if order is None or order.status is not OrderStatus.processing:
        return None
    lines = await apply_action(order, "payment_failed")
    await order.save()
    return order, lines


# Claiming a session closes it: the UPDATE holds its row until the commit, so a concurrent
# settler waits here and then finds nothing open (one statement for the lock and the write).
_CLAIM_SQL = (
    'UPDATE "payments_session" SET "status" = $2, "settled_at" = $3, "updated_at" = $3, '
    '"gateway_reference" = CASE WHEN $4 = \'\' THEN "gateway_reference" ELSE $4 END, '
    '"failure_reason" = CASE WHEN "failure_reason" = \'\' THEN $5 ELSE "failure_reason" END '
    'WHERE "id" = $1 AND "status" IN ($6, $7) RETURNING "failure_reason"'
)


async def _finish(
    platform: Platform,
    session: PaymentSession,
    status: SessionStatus,
    *,
    reason: str = "",
    reference: str = "",
) -> PaymentSession:
    """Close ``session`` (as read before asking the gateway: what it is for never changes)
    with ``status`` and apply what that means, exactly once whoever else tries."""
    settled_at = _now()
    touched: tuple[uuid.UUID, list[str]] | None = None
    async with in_transaction():
        claimed = await fetch_sql(
            _CLAIM_SQL,
            [
                session.id,
                status.value,
                settled_at,
                reference if status is SessionStatus.succeeded else "",
                reason,
                *(s.value for s in OPEN_STATUSES),
            ],
        )
        if not claimed:
            return await PaymentSession.get(id=session.id)  # settled by someone else first
        session.status, session.settled_at = status, settled_at
        recorded_reason = session.failure_reason = claimed[0]["failure_reason"]
        # What the catalogue must hear after the commit, known here without reading it again.
        if status is SessionStatus.succeeded:
            session.gateway_reference = reference
            paid = await _apply_success(platform, session, reference)
            if paid is not None:
                touched = (paid.market_id, [])
            if session.failure_reason != recorded_reason:  # e.g. credited to the wallet
                await PaymentSession.filter(id=session.id).update(
                    failure_reason=session.failure_reason
                )
        else:
            given_back = await _apply_failure(session)
            if given_back is not None:
                order, lines = given_back
                touched = (order.market_id, [str(line.product_id) for line in lines])
        PAYMENTS.labels(session.gateway, status.value).inc()
    await _after_settling(platform, session, touched)
    return session


async def _after_settling(
    platform: Platform,
    session: PaymentSession,
    touched: tuple[uuid.UUID, list[str]] | None = None,
) -> None:
    """After the commit: caches and the buyer's notification (neither can undo the payment).
    ``touched``: the order's market and the products given back, when the caller knows."""
    if touched is not None:
        market_id, given_back = touched
        if given_back:
            await catalog_cache.invalidate(platform, [str(market_id)], given_back)
        else:
            await catalog_cache.invalidate(platform, [str(market_id)], popularity_only=True)
    elif session.target is Target.order:
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
    if session.target is Target.order and session.status is SessionStatus.succeeded:
        from asoud.orders.services import announce_paid

        await announce_paid(platform, session.target_id)


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
    """The buyer came back (or the gateway called): ask the gateway, apply what it decided.

    A return that says "cancelled" is a claim from the buyer's browser, not the gateway's
    answer: the gateway is asked all the same, and only a definitive "not paid" closes the
    session (as cancelled); a later successful payment of it is never ignored."""
    session = await PaymentSession.get_or_none(gateway=gateway_name, authority=authority)
    if session is None:
        raise NotFound()
    if session.status not in OPEN_STATUSES:
        return session  # a duplicate callback: nothing to do, same answer
    gateway = gateway_for(platform, gateway_name, new_payment=False)
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
            platform, session, SessionStatus.succeeded, reference=verification.reference
        )
    if verification.outcome is Outcome.failed:
        closed = SessionStatus.cancelled if cancelled else SessionStatus.failed
        return await _finish(platform, session, closed, reason=verification.reason)
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
        if session.authority is None:  # the gateway never heard of it: payable again
            await _abandon(session.id)
            done = await PaymentSession.get(id=session.id)
        else:
            done = await settle(platform, session.gateway, session.authority, cancelled=False)
        key = done.status.value if done.status.value in counts else "open"
        counts[key] += 1
    await _reconcile_refunds(platform, cutoff, limit)
    return counts


async def _reconcile_refunds(platform: Platform, cutoff: datetime, limit: int) -> None:
    """Refunds whose outcome stayed unknown are asked again where the gateway deduplicates
    by refund key; elsewhere they wait for staff (asoud_refunds{result="unknown"})."""
    waiting = (
        await Refund.filter(
            status=RefundStatus.requested, session_id__isnull=False, created_at__lt=cutoff
        )
        .order_by("created_at")
        .limit(limit)
    )
    for refund in waiting:
        try:
            await _ask_to_refund(platform, refund, asked_before=True)
        except DomainError:
            continue  # still unknown, refused, or in doubt: recorded, nothing more to do now


REFUNDABLE = (OrderStatus.paid, OrderStatus.fulfilled, OrderStatus.completed)


async def refund_order(
    platform: Platform, market_id: Any, order_id: Any, amount: Decimal | None, refund_key: str
) -> Order:
    """Give (part of) an online or wallet payment back; the whole total makes it `refunded`.

    The refund is recorded (and counted against what is left) and committed before the
    gateway is asked, so no transaction waits on the gateway and two concurrent requests
    cannot together refund more than was paid. The same Idempotency-Key finds the same
    refund: done, refused, or still to be confirmed with the gateway."""
    key = hashlib.sha256(refund_key.encode()).hexdigest()
    async with in_transaction():
        order = await Order.filter(id=order_id, market_id=market_id).select_for_update().first()
        if order is None:
            raise NotFound()
        refund = await Refund.get_or_none(order_id=order.id, key=key)
        asked_before = refund is not None
        if refund is None:
            refund = await _record_refund(order, amount, key)
    if refund.status is RefundStatus.requested and refund.session_id is not None:
        await _ask_to_refund(platform, refund, asked_before=asked_before)
    elif refund.status is RefundStatus.failed:
        raise Conflict("refund_refused")
    return await Order.get(id=order.id)


async def _record_refund(order: Order, amount: Decimal | None, key: str) -> Refund:
    """On the locked order: check, count and record a refund; to the wallet it is done here."""
    if order.status not in REFUNDABLE or order.payment_method is not PaymentMethod.online:
        raise Conflict(
            "transition_not_allowed",
            entity="order",
            current=order.status.value,
            action="refunded",
            extra={"current_status": order.status.value},
        )
    remaining = order.total - order.refunded_amount  # refunds being confirmed count too
    value = remaining if amount is None else amount
    if amount is not None:
        try:
            check_amount_precision(amount, order.currency)  # 0.4 IRT cannot be given back
        except ValueError:
            raise field_error("body.amount", "too_many_decimals") from None
    if value <= 0 or value > remaining:
        raise field_error("body.amount", "invalid_amount")
    session = await PaymentSession.get_or_none(
        target=Target.order, target_id=str(order.id), status=SessionStatus.succeeded
    )
    through_gateway = (
        session is not None and session.authority is not None and session.gateway != "crypto"
    )
    refund = await Refund.create(
        order_id=order.id,
        session_id=session.id if through_gateway and session is not None else None,
        key=key,
        amount=value,
        currency=order.currency,
    )
    order.refunded_amount += value
    if not through_gateway:  # paid from the wallet (or in crypto): the money goes back there
        await wallet.refund_to_wallet(
            order.user_id, value, order.currency, f"{order.id}:{key[:32]}"
        )
        refund.status = RefundStatus.succeeded
        refund.settled_at = _now()
        await refund.save()
        REFUNDS.labels("wallet", "succeeded").inc()
    if order.refunded_amount == order.total and not through_gateway:
        order.status = next_state(order, "refund")
    await order.save()
    return refund


async def _ask_to_refund(platform: Platform, refund: Refund, *, asked_before: bool) -> None:
    """Outside any transaction: ask the gateway, then settle the refund with its answer."""
    session = await PaymentSession.get(id=refund.session_id)
    gateway = gateway_for(platform, session.gateway, new_payment=False)
    if asked_before and not gateway.idempotent_refunds:
        # Asked before with an unknown outcome, and this gateway has no refund key: asking
        # again could refund twice. Staff confirm it with the gateway.
        raise Conflict("refund_in_doubt")
    assert session.authority is not None
    try:
        reference = await gateway.refund(
            session.authority, session.gateway_reference, refund.key, refund.amount, refund.currency
        )
    except GatewayRefused as exc:
        log.warning("refund refused by the gateway: %s", exc)
        await _settle_refund(refund.id, RefundStatus.failed, reason=str(exc)[:200])
        REFUNDS.labels(session.gateway, "failed").inc()
        raise Conflict("refund_refused") from None
    except GatewayError as exc:
        log.warning("refund outcome unknown: %s", exc)
        REFUNDS.labels(session.gateway, "unknown").inc()
        raise _unavailable() from None
    await _settle_refund(refund.id, RefundStatus.succeeded, reference=reference)
    REFUNDS.labels(session.gateway, "succeeded").inc()


async def _settle_refund(
    refund_id: Any, status: RefundStatus, *, reference: str = "", reason: str = ""
) -> None:
    async with in_transaction():
        refund = await Refund.filter(id=refund_id).select_for_update().get()
        if refund.status is not RefundStatus.requested:
            return
        order = await Order.filter(id=refund.order_id).select_for_update().get()
        session = await PaymentSession.filter(id=refund.session_id).select_for_update().get()
        refund.status = status
        refund.settled_at = _now()
        refund.gateway_reference = reference[:100]
        refund.failure_reason = reason
        await refund.save()
        if status is RefundStatus.succeeded:
            session.refunded += refund.amount
            await session.save(update_fields=["refunded", "updated_at"])
            if order.refunded_amount == order.total and order.status in REFUNDABLE:
                order.status = next_state(order, "refund")
        else:  # refused: the amount may be refunded again
            order.refunded_amount -= refund.amount
        await order.save()
