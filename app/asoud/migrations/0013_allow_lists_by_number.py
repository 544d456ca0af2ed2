from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from asoud.markets.models import MemberRole


async def user_ids_to_numbers(apps, schema_editor):
    # Allow-lists named accounts (created on the spot for unknown numbers); they now name
    # the numbers themselves, matched against the buyer's verified login number.
    import json

    client = schema_editor.client
    mark = (lambda n: f"${n}") if client.capabilities.dialect == "postgres" else (lambda n: "?")
    _, rows = await client.execute_query("SELECT id, allowed_phones FROM discounts_discount")
    for row in rows:
        ids = row["allowed_phones"]
        ids = json.loads(ids) if isinstance(ids, str) else ids
        if not ids:
            continue
        phones = []
        for user_id in ids:
            _, found = await client.execute_query(
                f"SELECT phone FROM identity_user WHERE CAST(id AS TEXT) = {mark(1)}",  # noqa: S608
                [user_id],
            )
            phones.extend(r["phone"] for r in found)
        await client.execute_query(
            f"UPDATE discounts_discount SET allowed_phones = {mark(1)} WHERE id = {mark(2)}",  # noqa: S608
            [json.dumps(sorted(set(phones))), row["id"]],
        )


async def numbers_to_user_ids(apps, schema_editor):
    pass  # numbers stay numbers: the accounts they named may not exist


class Migration(migrations.Migration):
    dependencies = [("asoud", "0012_delivery_claims")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PendingMember",
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
                        related_name="pending_members",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("phone", fields.CharField(db_index=True, max_length=20)),
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
                "table": "markets_pending_member",
                "app": "asoud",
                "unique_together": (("market", "phone"),),
                "pk_attr": "id",
                "table_description": "A colleague added by a number that has no account yet: becomes a member when that",
            },
            bases=["Model"],
        ),
        ops.RenameField(
            model_name="Discount",
            old_name="allowed_user_ids",
            new_name="allowed_phones",
        ),
        ops.RunPython(user_ids_to_numbers, reverse_code=numbers_to_user_ids),
    ]
