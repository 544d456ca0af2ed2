from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from asoud.payments.models import RefundStatus


async def record_fees_paid(apps, schema_editor):
    # Markets that paid before the amount was kept paid their category's fee at the time.
    await schema_editor.client.execute_script(
        "UPDATE markets_market SET fee_paid_amount = c.subscription_fee, "
        "fee_paid_currency = c.fee_currency FROM taxonomy_category c "
        "WHERE c.id = markets_market.category_id AND markets_market.fee_paid_at IS NOT NULL "
        "AND c.subscription_fee IS NOT NULL"
    )


async def forget_fees_paid(apps, schema_editor):
    pass  # the columns go with the fields


class Migration(migrations.Migration):
    dependencies = [("asoud", "0010_invariant_checks")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Refund",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "order",
                    fields.ForeignKeyField(
                        "asoud.Order",
                        source_field="order_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="refunds",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "session",
                    fields.ForeignKeyField(
                        "asoud.PaymentSession",
                        source_field="session_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="refunds",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "key",
                    fields.CharField(
                        description="sha256 of the request's Idempotency-Key", max_length=64
                    ),
                ),
                ("amount", fields.DecimalField(max_digits=18, decimal_places=2)),
                ("currency", fields.CharField(max_length=3)),
                (
                    "status",
                    fields.CharEnumField(
                        default=RefundStatus.requested,
                        description="requested: requested\nsucceeded: succeeded\nfailed: failed",
                        enum_type=RefundStatus,
                        max_length=16,
                    ),
                ),
                ("gateway_reference", fields.CharField(default="", max_length=100)),
                ("failure_reason", fields.CharField(default="", max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("settled_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "payments_refund",
                "app": "asoud",
                "unique_together": (("order", "key"),),
                "indexes": [Index(fields=["status", "created_at"])],
                "pk_attr": "id",
                "table_description": "Money given back on an order: recorded (and counted against what is left to refund)",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Market",
            name="fee_paid_amount",
            field=fields.DecimalField(default=0, max_digits=18, decimal_places=2),
        ),
        ops.AddField(
            model_name="Market",
            name="fee_paid_currency",
            field=fields.CharField(default="", max_length=3),
        ),
        ops.RunPython(record_fees_paid, reverse_code=forget_fees_paid),
    ]
