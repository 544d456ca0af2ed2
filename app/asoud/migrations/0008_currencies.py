from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from asoud.currencies.models import RateSource


class Migration(migrations.Migration):
    dependencies = [("asoud", "0007_notifications")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ExchangeRate",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("base", fields.CharField(max_length=3)),
                ("quote", fields.CharField(max_length=3)),
                ("rate", fields.DecimalField(max_digits=24, decimal_places=8)),
                (
                    "source",
                    fields.CharEnumField(
                        description="provider: provider\nmanual: manual",
                        enum_type=RateSource,
                        max_length=10,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "currencies_exchange_rate",
                "app": "asoud",
                "unique_together": (("base", "quote"),),
                "pk_attr": "id",
                "table_description": "How many units of the quote currency one unit of the base buys.",
            },
            bases=["Model"],
        ),
    ]
