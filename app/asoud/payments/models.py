"""Payment sessions (one attempt to collect money through a gateway) and refunds."""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Target(StrEnum):
    order = "order"
    wallet_topup = "wallet_topup"
    subscription = "subscription"


class SessionStatus(StrEnum):
    created = "created"  # stored, gateway not yet asked
    pending = "pending"  # the buyer is at the gateway
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


OPEN_STATUSES = (SessionStatus.created, SessionStatus.pending)


class PaymentSession(Model):
    """At most one open session per target (a partial unique index, migration 0004)."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="payment_sessions", on_delete=fields.RESTRICT
    )
    target = fields.CharEnumField(Target, max_length=16)
    target_id = fields.CharField(max_length=36)
    gateway = fields.CharField(max_length=16)
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    currency = fields.CharField(max_length=3)
    status = fields.CharEnumField(SessionStatus, max_length=16, default=SessionStatus.created)
    authority = fields.CharField(max_length=100, null=True, unique=True)
    redirect_url = fields.CharField(max_length=500, default="")
    client_secret = fields.CharField(
        max_length=200, default="", description="Stripe.js confirms with it"
    )
    gateway_reference = fields.CharField(max_length=100, default="")
    failure_reason = fields.CharField(max_length=200, default="")
    refunded = fields.DecimalField(max_digits=18, decimal_places=2, default=0)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payments_session"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("target", "target_id"), ("status", "created_at"), ("user_id",))


class RefundStatus(StrEnum):
    requested = "requested"  # recorded, the gateway asked (or about to be); outcome not known
    succeeded = "succeeded"
    failed = "failed"  # the gateway refused: the amount is refundable again


class Refund(Model):
    """Money given back on an order: recorded (and counted against what is left to refund)
    before the gateway is asked, so no transaction waits on the gateway and no retry or
    concurrent request can refund more than was paid."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    order_id: uuid.UUID
    session_id: uuid.UUID | None

    id = fields.UUIDField(primary_key=True)
    order: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.Order", related_name="refunds", on_delete=fields.RESTRICT
    )
    session: fields.ForeignKeyNullableRelation[Model] = fields.ForeignKeyField(
        "asoud.PaymentSession", related_name="refunds", null=True, on_delete=fields.RESTRICT
    )
    key = fields.CharField(max_length=64, description="sha256 of the request's Idempotency-Key")
    amount = fields.DecimalField(max_digits=18, decimal_places=2)
    currency = fields.CharField(max_length=3)
    status = fields.CharEnumField(RefundStatus, max_length=16, default=RefundStatus.requested)
    gateway_reference = fields.CharField(max_length=100, default="")
    failure_reason = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payments_refund"
        unique_together = (("order", "key"),)
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("status", "created_at"), ("session_id",))
