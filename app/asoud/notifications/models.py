"""In-app inbox, per-person channel preferences, push devices and per-channel deliveries."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Channel(StrEnum):
    sms = "sms"
    push = "push"
    email = "email"


class Notification(Model):
    """One message in a person's inbox, written in their language when it was created."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=40)
    title = fields.CharField(max_length=200)
    body = fields.CharField(max_length=1000)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notifications_notification"
        indexes = (("user_id", "id"),)


class Preference(Model):
    """Which outside channels a person wants, and the hours not to be disturbed."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID

    id = fields.IntField(primary_key=True)
    user: fields.OneToOneRelation[Model] = fields.OneToOneField(
        "asoud.User", related_name="notification_preference", on_delete=fields.CASCADE
    )
    sms = fields.BooleanField(default=True)
    push = fields.BooleanField(default=True)
    email = fields.BooleanField(default=False)
    email_address = fields.CharField(max_length=200, default="")
    quiet_start = fields.CharField(max_length=5, null=True, description="HH:MM local time")
    quiet_end = fields.CharField(max_length=5, null=True)
    timezone = fields.CharField(max_length=40, default="Asia/Tehran")

    class Meta:
        table = "notifications_preference"


class Device(Model):
    """A phone or browser that receives push messages (an FCM registration token)."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "asoud.User", related_name="devices", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=300, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notifications_device"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("user_id",),)


class DeliveryStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


class Delivery(Model):
    """One notification on one outside channel: the outbox row a worker claims, sends and
    marks sent. The row is the truth (Redis only carries a hint to look at it): a lost queue
    message is found by the periodic sweep, and a claim stops two workers sending it."""

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    notification_id: int

    id = fields.BigIntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "asoud.Notification", related_name="deliveries", on_delete=fields.CASCADE
    )
    channel = fields.CharEnumField(Channel, max_length=8)
    # The notification's person and kind, copied so that batching finds a person's latest
    # delivery of a kind per channel by one index probe, however long their history.
    recipient_id = fields.UUIDField(null=True)
    kind = fields.CharField(max_length=40, default="")
    status = fields.CharEnumField(DeliveryStatus, max_length=8, default=DeliveryStatus.pending)
    not_before = fields.DatetimeField(db_index=True)
    attempts = fields.IntField(default=0)
    # Held by the worker sending it; if that worker dies, the claim runs out and the sweep
    # sends it again (the only case in which it can be sent twice).
    claimed_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=200, default="")
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications_delivery"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("recipient_id", "kind", "channel", "id"), ("notification_id",))
