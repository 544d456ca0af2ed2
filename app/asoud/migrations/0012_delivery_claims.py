from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("asoud", "0011_refunds_and_fee_paid")]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name="Delivery",
            options={
                "table": "notifications_delivery",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "One notification on one outside channel: the outbox row a worker claims, sends and",
            },
        ),
        ops.AddField(
            model_name="Delivery",
            name="claimed_until",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
