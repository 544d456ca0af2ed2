from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("asoud", "0014_indexes_and_delivery_batching")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Category",
            name="retired_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
