"""The order state machine: every transition is named, and anything else answers 409."""

from __future__ import annotations

from asoud.orders.models import Order, OrderStatus, PaymentMethod
from asoud.platform.errors import Conflict

S = OrderStatus
# action -> (allowed current states, next state)
TRANSITIONS: dict[str, tuple[frozenset[OrderStatus], OrderStatus]] = {
    "start_payment": (frozenset({S.pending}), S.processing),
    "pay_from_wallet": (frozenset({S.pending}), S.paid),
    "payment_succeeded": (frozenset({S.processing}), S.paid),
    "payment_failed": (frozenset({S.processing}), S.failed),
    "payment_not_started": (frozenset({S.processing}), S.pending),  # gateway unreachable
    "accept_cash": (frozenset({S.pending}), S.completed),
    # The owner may release a hold: a pending order, or one whose payment hangs (a late
    # success is credited to the buyer's wallet).
    "reject": (frozenset({S.pending, S.processing}), S.rejected),
    # A buyer may give up on a payment that hangs: a late success goes to their wallet.
    "cancel": (frozenset({S.pending, S.processing}), S.cancelled),
    "expire": (frozenset({S.pending, S.processing}), S.cancelled),
    "fulfil": (frozenset({S.paid}), S.fulfilled),
    "complete": (frozenset({S.fulfilled}), S.completed),
    "refund": (frozenset({S.paid, S.fulfilled, S.completed}), S.refunded),
}


def next_state(order: Order, action: str) -> OrderStatus:
    allowed, target = TRANSITIONS[action]
    if order.status not in allowed:
        raise Conflict(
            "transition_not_allowed",
            entity="order",
            current=order.status.value,
            action=action.replace("_", " "),
            extra={"current_status": order.status.value},
        )
    if action == "pay_from_wallet" and order.payment_method is not PaymentMethod.online:
        raise Conflict(
            "transition_not_allowed",
            entity="order",
            current=order.status.value,
            action="paid online",
            extra={"current_status": order.status.value},
        )
    if action == "accept_cash" and order.payment_method is not PaymentMethod.cash:
        raise Conflict(
            "transition_not_allowed",
            entity="order",
            current=order.status.value,
            action="accepted as cash",
            extra={"current_status": order.status.value},
        )
    return target
