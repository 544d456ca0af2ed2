from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from asoud.wallet.models import AccountKind, TransactionKind


class Migration(migrations.Migration):
    dependencies = [("asoud", "0002_marketplace")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Account",
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
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="wallet_accounts",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="customer: customer\nexternal: external\nsettlement: settlement",
                        enum_type=AccountKind,
                        max_length=16,
                    ),
                ),
                ("currency", fields.CharField(max_length=3)),
                ("balance", fields.DecimalField(default=0, max_digits=20, decimal_places=2)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "wallet_account",
                "app": "asoud",
                "unique_together": (("user", "kind", "currency"),),
                "pk_attr": "id",
                "table_description": "One balance in one currency.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Transaction",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        description="topup: topup\ntransfer: transfer\norder_payment: order_payment\nrefund: refund",
                        enum_type=TransactionKind,
                        max_length=16,
                    ),
                ),
                ("currency", fields.CharField(max_length=3)),
                ("amount", fields.DecimalField(max_digits=20, decimal_places=2)),
                ("dedupe_key", fields.CharField(unique=True, max_length=200)),
                ("reference", fields.CharField(default="", max_length=100)),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
            ],
            options={
                "table": "wallet_transaction",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "One movement of money. The dedupe key makes a retried movement happen once.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Entry",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "transaction",
                    fields.ForeignKeyField(
                        "asoud.Transaction",
                        source_field="transaction_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "account",
                    fields.ForeignKeyField(
                        "asoud.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="entries",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("amount", fields.DecimalField(max_digits=20, decimal_places=2)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "wallet_entry",
                "app": "asoud",
                "indexes": [Index(fields=["account_id", "id"])],
                "pk_attr": "id",
                "table_description": "One leg of a transaction: a signed amount on one account.",
            },
            bases=["Model"],
        ),
    ]
