import functools
from json import dumps, loads
from uuid import uuid4

from tortoise import fields, migrations
from tortoise.contrib.postgres.fields import TSVectorField
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from asoud.catalog.models import ProductKind, ProductStatus
from asoud.discounts.models import DiscountKind, RedemptionState
from asoud.markets.models import MarketStatus, MarketType, MemberRole, RevisionStatus, Visibility
from asoud.orders.models import OrderStatus, PaymentMethod, StockState

SEARCH_SQL = """
CREATE TRIGGER catalog_product_search_vector BEFORE INSERT OR UPDATE OF search_text
    ON catalog_product FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.simple', search_text);
CREATE INDEX catalog_product_search ON catalog_product USING GIN (search_vector);
"""


async def create_search_index(apps, schema_editor):
    # Full-text search over every language's words. The 'simple' configuration does no
    # stemming, which is right for a mix of English, Persian, Arabic and Turkish text.
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(SEARCH_SQL)


async def drop_search_index(apps, schema_editor):
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(
            "DROP INDEX IF EXISTS catalog_product_search; "
            "DROP TRIGGER IF EXISTS catalog_product_search_vector ON catalog_product"
        )


class Migration(migrations.Migration):
    dependencies = [("asoud", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Category",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "parent",
                    fields.ForeignKeyField(
                        "asoud.Category",
                        source_field="parent_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="children",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("level", fields.SmallIntField()),
                ("slug", fields.CharField(unique=True, max_length=80)),
                (
                    "names",
                    fields.JSONField(
                        description="name per language code (en, fa, ar, tr)",
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "subscription_fee",
                    fields.DecimalField(null=True, max_digits=18, decimal_places=2),
                ),
                ("fee_currency", fields.CharField(default="IRT", max_length=3)),
                ("position", fields.IntField(default=0)),
            ],
            options={
                "table": "taxonomy_category",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "A node of the taxonomy: group (1) > category (2) > subcategory (3).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Market",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "owner",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="owner_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="markets",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "type",
                    fields.CharEnumField(
                        description="company: company\nshop: shop",
                        enum_type=MarketType,
                        max_length=16,
                    ),
                ),
                ("business_id", fields.CharField(unique=True, max_length=63)),
                ("name", fields.CharField(max_length=120)),
                ("description", fields.TextField(default="", unique=False)),
                ("slogan", fields.CharField(default="", max_length=200)),
                (
                    "category",
                    fields.ForeignKeyField(
                        "asoud.Category",
                        source_field="category_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="markets",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("currency", fields.CharField(default="IRT", max_length=3)),
                (
                    "status",
                    fields.CharEnumField(
                        default=MarketStatus.draft,
                        db_index=True,
                        description="draft: draft\nqueued: queued\npublished: published\nnot_published: not_published\nneeds_editing: needs_editing\ninactive: inactive",
                        enum_type=MarketStatus,
                        max_length=16,
                    ),
                ),
                (
                    "visibility",
                    fields.CharEnumField(
                        default=Visibility.public,
                        description="public: public\ninvite_only: invite_only",
                        enum_type=Visibility,
                        max_length=16,
                    ),
                ),
                ("city", fields.CharField(default="", max_length=80)),
                ("address", fields.CharField(default="", max_length=300)),
                ("latitude", fields.DecimalField(null=True, max_digits=9, decimal_places=6)),
                ("longitude", fields.DecimalField(null=True, max_digits=9, decimal_places=6)),
                ("contact_phone", fields.CharField(default="", max_length=20)),
                ("contact_email", fields.CharField(default="", max_length=200)),
                (
                    "theme",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "opening_hours",
                    fields.JSONField(
                        default=dict,
                        description="weekday -> [[open, close], ...]",
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("logo_ref", fields.CharField(default="", max_length=300)),
                ("background_ref", fields.CharField(default="", max_length=300)),
                (
                    "fee_paid_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("review_reason", fields.TextField(default="", unique=False)),
                (
                    "published_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "markets_market",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "A vendor's store. The business id is its storefront subdomain.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Cart",
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
                        related_name="carts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="carts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "orders_cart",
                "app": "asoud",
                "unique_together": (("user", "market"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MarketInvite",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invites",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("max_uses", fields.IntField(null=True)),
                ("uses", fields.IntField(default=0)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "markets_invite",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "An invite link to an invite-only storefront. Only the token's SHA-256 is stored.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MarketMember",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="members",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="memberships",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "role",
                    fields.CharEnumField(
                        description="manager: manager\neditor: editor\nviewer: viewer",
                        enum_type=MemberRole,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "markets_member",
                "app": "asoud",
                "unique_together": (("market", "user"),),
                "pk_attr": "id",
                "table_description": "A colleague: managers and editors may write, viewers only read.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MarketRevision",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="revisions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "changes",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=RevisionStatus.pending,
                        description="pending: pending\napproved: approved\nrejected: rejected",
                        enum_type=RevisionStatus,
                        max_length=16,
                    ),
                ),
                ("reason", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "markets_revision",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "Edits to a published market, waiting for staff. Live data changes only on approval.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Product",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="products",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "kind",
                    fields.CharEnumField(
                        default=ProductKind.good,
                        description="good: good\nservice: service",
                        enum_type=ProductKind,
                        max_length=16,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("description", fields.TextField(default="", unique=False)),
                ("price", fields.DecimalField(max_digits=18, decimal_places=2)),
                (
                    "compare_at_price",
                    fields.DecimalField(null=True, max_digits=18, decimal_places=2),
                ),
                ("currency", fields.CharField(max_length=3)),
                ("stock", fields.IntField(default=0)),
                ("reserved", fields.IntField(default=0)),
                (
                    "status",
                    fields.CharEnumField(
                        default=ProductStatus.draft,
                        description="draft: draft\npublished: published\narchived: archived",
                        enum_type=ProductStatus,
                        max_length=16,
                    ),
                ),
                (
                    "images",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "keywords",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "category",
                    fields.ForeignKeyField(
                        "asoud.Category",
                        source_field="category_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="products",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "translations",
                    fields.JSONField(
                        default=dict,
                        description="lang -> {name, description}",
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "search_text",
                    fields.TextField(
                        default="", description="every language's words, for search", unique=False
                    ),
                ),
                ("search_vector", TSVectorField(null=True, source_fields=(), stored=False)),
                ("sales_count", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "catalog_product",
                "app": "asoud",
                "indexes": [
                    Index(fields=["market_id", "status", "created_at"]),
                    Index(fields=["status", "created_at"]),
                ],
                "pk_attr": "id",
                "table_description": "A product. Reserved units are held for orders being paid or accepted.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CartItem",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "cart",
                    fields.ForeignKeyField(
                        "asoud.Cart",
                        source_field="cart_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="items",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "product",
                    fields.ForeignKeyField(
                        "asoud.Product",
                        source_field="product_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="cart_items",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("quantity", fields.IntField()),
            ],
            options={
                "table": "orders_cart_item",
                "app": "asoud",
                "unique_together": (("cart", "product"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Discount",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="discounts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "product",
                    fields.ForeignKeyField(
                        "asoud.Product",
                        source_field="product_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="discounts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("code", fields.CharField(max_length=32)),
                (
                    "kind",
                    fields.CharEnumField(
                        description="percentage: percentage\nfixed: fixed",
                        enum_type=DiscountKind,
                        max_length=16,
                    ),
                ),
                ("value", fields.DecimalField(max_digits=18, decimal_places=2)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("usage_limit", fields.IntField(null=True)),
                ("used", fields.IntField(default=0)),
                ("reserved", fields.IntField(default=0)),
                (
                    "allowed_user_ids",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "discounts_discount",
                "app": "asoud",
                "unique_together": (("market", "code"),),
                "pk_attr": "id",
                "table_description": "Reserved uses are held by orders not yet paid or accepted. Used ones are final.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Order",
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
                        related_name="orders",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="orders",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=OrderStatus.pending,
                        description="pending: pending\nprocessing: processing\npaid: paid\nfulfilled: fulfilled\ncompleted: completed\nrejected: rejected\nfailed: failed\ncancelled: cancelled\nrefunded: refunded",
                        enum_type=OrderStatus,
                        max_length=16,
                    ),
                ),
                (
                    "payment_method",
                    fields.CharEnumField(
                        description="cash: cash\nonline: online",
                        enum_type=PaymentMethod,
                        max_length=16,
                    ),
                ),
                ("currency", fields.CharField(max_length=3)),
                ("subtotal", fields.DecimalField(max_digits=18, decimal_places=2)),
                (
                    "discount_amount",
                    fields.DecimalField(default=0, max_digits=18, decimal_places=2),
                ),
                ("total", fields.DecimalField(max_digits=18, decimal_places=2)),
                (
                    "discount",
                    fields.ForeignKeyField(
                        "asoud.Discount",
                        source_field="discount_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="orders",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "stock_state",
                    fields.CharEnumField(
                        default=StockState.none,
                        description="none: none\nreserved: reserved\ntaken: taken\nreleased: released",
                        enum_type=StockState,
                        max_length=16,
                    ),
                ),
                (
                    "reserved_until",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                ("idempotency_key", fields.CharField(null=True, max_length=64)),
                ("note", fields.CharField(default="", max_length=500)),
                ("reason", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "orders_order",
                "app": "asoud",
                "unique_together": (("user", "idempotency_key"),),
                "indexes": [
                    Index(fields=["user_id", "created_at"]),
                    Index(fields=["market_id", "created_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OrderLine",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "order",
                    fields.ForeignKeyField(
                        "asoud.Order",
                        source_field="order_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="lines",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "product",
                    fields.ForeignKeyField(
                        "asoud.Product",
                        source_field="product_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="order_lines",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("name", fields.CharField(max_length=200)),
                ("unit_price", fields.DecimalField(max_digits=18, decimal_places=2)),
                ("quantity", fields.IntField()),
                ("line_total", fields.DecimalField(max_digits=18, decimal_places=2)),
            ],
            options={"table": "orders_order_line", "app": "asoud", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Redemption",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "discount",
                    fields.ForeignKeyField(
                        "asoud.Discount",
                        source_field="discount_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="redemptions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="redemptions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("order_id", fields.UUIDField(unique=True)),
                (
                    "state",
                    fields.CharEnumField(
                        default=RedemptionState.reserved,
                        description="reserved: reserved\nconsumed: consumed\nreleased: released",
                        enum_type=RedemptionState,
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "discounts_redemption",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "A discount applied to an order. A buyer holds at most one live redemption per discount.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="StorefrontAccess",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "market",
                    fields.ForeignKeyField(
                        "asoud.Market",
                        source_field="market_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="accesses",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "asoud.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="storefront_accesses",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("granted_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "markets_storefront_access",
                "app": "asoud",
                "unique_together": (("market", "user"),),
                "pk_attr": "id",
                "table_description": "A customer admitted to an invite-only storefront.",
            },
            bases=["Model"],
        ),
        ops.RunPython(create_search_index, reverse_code=drop_search_index),
    ]
