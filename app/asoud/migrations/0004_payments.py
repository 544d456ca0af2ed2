from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from asoud.payments.models import SessionStatus, Target


async def create_open_session_index(apps, schema_editor):
    # One open (created or pending) payment session per target, enforced by the database.
    await schema_editor.client.execute_script(
        "CREATE UNIQUE INDEX payments_session_one_open ON payments_session (target, target_id) "
        "WHERE status IN ('created', 'pending')"
    )


async def drop_open_session_index(apps, schema_editor):
    await schema_editor.client.execute_script("DROP INDEX IF EXISTS payments_session_one_open")


class Migration(migrations.Migration):
    dependencies = [("asoud", "0003_wallet")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PaymentSession",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="payment_sessions",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "target",
                    fields.CharEnumField(
                        description="order: order\nwallet_topup: wallet_topup\nsubscription: subscription",
                        enum_type=Target,
                        max_length=16,
                    ),
                ),
                ("target_id", fields.CharField(max_length=36)),
                ("gateway", fields.CharField(max_length=16)),
                ("amount", fields.DecimalField(max_digits=18, decimal_places=2)),
                ("currency", fields.CharField(max_length=3)),
                (
                    "status",
                    fields.CharEnumField(
                        default=SessionStatus.created,
                        description="created: created\npending: pending\nsucceeded: succeeded\nfailed: failed\ncancelled: cancelled",
                        enum_type=SessionStatus,
                        max_length=16,
                    ),
                ),
                ("authority", fields.CharField(null=True, unique=True, max_length=100)),
                ("redirect_url", fields.CharField(default="", max_length=500)),
                ("gateway_reference", fields.CharField(default="", max_length=100)),
                ("failure_reason", fields.CharField(default="", max_length=200)),
                ("refunded", fields.DecimalField(default=0, max_digits=18, decimal_places=2)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("settled_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "payments_session",
                "app": "asoud",
                "indexes": [
                    Index(fields=["target", "target_id"]),
                    Index(fields=["status", "created_at"]),
                ],
                "pk_attr": "id",
                "table_description": "At most one open session per target (a partial unique index, migration 0004).",
            },
            bases=["Model"],
        ),
        ops.RunPython(create_open_session_index, reverse_code=drop_open_session_index),
    ]
