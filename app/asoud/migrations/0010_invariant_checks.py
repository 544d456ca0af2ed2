from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint


class Migration(migrations.Migration):
    dependencies = [("asoud", "0009_one_system_account")]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name="Account",
            constraint=CheckConstraint(
                check="kind <> 'customer' OR balance >= 0",
                name="wallet_account_customer_balance_not_negative",
            ),
        ),
        ops.AddConstraint(
            model_name="Discount",
            constraint=CheckConstraint(
                check="used >= 0 AND reserved >= 0 AND (usage_limit IS NULL OR used + reserved <= usage_limit)",
                name="discounts_discount_uses_within_limit",
            ),
        ),
        ops.AddConstraint(
            model_name="Product",
            constraint=CheckConstraint(
                check="reserved >= 0 AND reserved <= stock",
                name="catalog_product_reserved_within_stock",
            ),
        ),
    ]
