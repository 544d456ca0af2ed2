from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("asoud", "0005_background")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Order",
            name="refunded_amount",
            field=fields.DecimalField(default=0, max_digits=18, decimal_places=2),
        ),
        ops.AddField(
            model_name="PaymentSession",
            name="client_secret",
            field=fields.CharField(
                default="", description="Stripe.js confirms with it", max_length=200
            ),
        ),
    ]
