import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from asoud.notifications.models import Channel, DeliveryStatus


class Migration(migrations.Migration):
    dependencies = [("asoud", "0006_stripe_and_refunds")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Device",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="devices",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token", fields.CharField(unique=True, max_length=300)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "notifications_device",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "A phone or browser that receives push messages (an FCM registration token).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=40)),
                ("title", fields.CharField(max_length=200)),
                ("body", fields.CharField(max_length=1000)),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("read_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "notifications_notification",
                "app": "asoud",
                "indexes": [Index(fields=["user_id", "id"])],
                "pk_attr": "id",
                "table_description": "One message in a person's inbox, written in their language when it was created.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Delivery",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "notification",
                    fields.ForeignKeyField(
                        "asoud.Notification",
                        source_field="notification_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.CharEnumField(
                        description="sms: sms\npush: push\nemail: email",
                        enum_type=Channel,
                        max_length=8,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=DeliveryStatus.pending,
                        description="pending: pending\nsent: sent\nfailed: failed\nskipped: skipped",
                        enum_type=DeliveryStatus,
                        max_length=8,
                    ),
                ),
                (
                    "not_before",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("attempts", fields.IntField(default=0)),
                ("last_error", fields.CharField(default="", max_length=200)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notifications_delivery",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "One notification on one outside channel, sent by a worker (retried on failure).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Preference",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.OneToOneField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notification_preference",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sms", fields.BooleanField(default=True)),
                ("push", fields.BooleanField(default=True)),
                ("email", fields.BooleanField(default=False)),
                ("email_address", fields.CharField(default="", max_length=200)),
                (
                    "quiet_start",
                    fields.CharField(null=True, description="HH:MM local time", max_length=5),
                ),
                ("quiet_end", fields.CharField(null=True, max_length=5)),
                ("timezone", fields.CharField(default="Asia/Tehran", max_length=40)),
            ],
            options={
                "table": "notifications_preference",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "Which outside channels a person wants, and the hours not to be disturbed.",
            },
            bases=["Model"],
        ),
    ]
