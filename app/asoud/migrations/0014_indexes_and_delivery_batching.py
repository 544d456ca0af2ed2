from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


async def copy_recipient_and_kind(apps, schema_editor):
    # Deliveries made before these columns existed learn them from their notification, so
    # batching still sees a delivery that is waiting.
    await schema_editor.client.execute_script(
        "UPDATE notifications_delivery SET recipient_id = n.user_id, kind = n.kind "
        "FROM notifications_notification n WHERE n.id = notifications_delivery.notification_id"
    )


async def nothing_to_undo(apps, schema_editor):
    pass


# On SQLite, the table rebuilds of 0010 (adding CHECK constraints) dropped these: without them
# the embedded default allowed duplicate discount codes and wallet accounts.
SQLITE_LOST_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS "uid_discounts_d_market__eb3092"
    ON "discounts_discount" ("market_id", "code");
CREATE UNIQUE INDEX IF NOT EXISTS "uid_wallet_acco_user_id_297d34"
    ON "wallet_account" ("user_id", "kind", "currency");
CREATE UNIQUE INDEX IF NOT EXISTS wallet_account_one_system
    ON wallet_account (kind, currency) WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS "idx_catalog_pro_market__96cd0b"
    ON "catalog_product" ("market_id", "status", "created_at");
CREATE INDEX IF NOT EXISTS "idx_catalog_pro_status_d0b136"
    ON "catalog_product" ("status", "created_at");
"""


async def restore_sqlite_indexes(apps, schema_editor):
    if schema_editor.client.capabilities.dialect == "sqlite":
        await schema_editor.client.execute_script(SQLITE_LOST_INDEXES)


class Migration(migrations.Migration):
    dependencies = [("asoud", "0013_allow_lists_by_number")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Cart",
            index=Index(fields=["market_id"]),
        ),
        ops.AddIndex(
            model_name="CartItem",
            index=Index(fields=["product_id"]),
        ),
        ops.AddIndex(
            model_name="Category",
            index=Index(fields=["parent_id"]),
        ),
        ops.AddField(
            model_name="Delivery",
            name="kind",
            field=fields.CharField(default="", max_length=40),
        ),
        ops.AddField(
            model_name="Delivery",
            name="recipient_id",
            field=fields.UUIDField(null=True),
        ),
        ops.RunPython(copy_recipient_and_kind, reverse_code=nothing_to_undo),
        ops.RunPython(restore_sqlite_indexes, reverse_code=nothing_to_undo),
        ops.AddIndex(
            model_name="Delivery",
            index=Index(fields=["recipient_id", "kind", "channel", "id"]),
        ),
        ops.AddIndex(
            model_name="Delivery",
            index=Index(fields=["notification_id"]),
        ),
        ops.AddIndex(
            model_name="Device",
            index=Index(fields=["user_id"]),
        ),
        ops.AddIndex(
            model_name="Discount",
            index=Index(fields=["product_id"]),
        ),
        ops.AddIndex(
            model_name="Entry",
            index=Index(fields=["transaction_id"]),
        ),
        ops.AddIndex(
            model_name="Market",
            index=Index(fields=["category_id"]),
        ),
        ops.AddIndex(
            model_name="Market",
            index=Index(fields=["owner_id"]),
        ),
        ops.AddIndex(
            model_name="MarketInvite",
            index=Index(fields=["market_id"]),
        ),
        ops.AddIndex(
            model_name="MarketMember",
            index=Index(fields=["user_id"]),
        ),
        ops.AddIndex(
            model_name="MarketRevision",
            index=Index(fields=["market_id"]),
        ),
        ops.AddIndex(
            model_name="Order",
            index=Index(fields=["discount_id"]),
        ),
        ops.AddIndex(
            model_name="OrderLine",
            index=Index(fields=["order_id"]),
        ),
        ops.AddIndex(
            model_name="OrderLine",
            index=Index(fields=["product_id"]),
        ),
        ops.AddIndex(
            model_name="PaymentSession",
            index=Index(fields=["user_id"]),
        ),
        ops.AddIndex(
            model_name="Product",
            index=Index(fields=["category_id"]),
        ),
        ops.AddIndex(
            model_name="Redemption",
            index=Index(fields=["discount_id"]),
        ),
        ops.AddIndex(
            model_name="Redemption",
            index=Index(fields=["user_id"]),
        ),
        ops.AddIndex(
            model_name="RefreshToken",
            index=Index(fields=["user_id"]),
        ),
        ops.AddIndex(
            model_name="Refund",
            index=Index(fields=["session_id"]),
        ),
        ops.AddIndex(
            model_name="StorefrontAccess",
            index=Index(fields=["user_id"]),
        ),
        ops.AddIndex(
            model_name="Order",
            index=Index(fields=["user_id", "market_id", "status"]),
        ),
    ]
