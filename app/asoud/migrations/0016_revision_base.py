from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from asoud.markets.models import RevisionStatus


async def restore_sqlite_index(apps, schema_editor):
    # SQLite alters a column by rebuilding the table, which drops its indexes
    if schema_editor.client.capabilities.dialect == "sqlite":
        await schema_editor.client.execute_script(
            'CREATE INDEX IF NOT EXISTS "idx_markets_rev_market__ea5afe" '
            'ON "markets_revision" ("market_id")'
        )


async def nothing_to_undo(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("asoud", "0015_category_retirement")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="MarketRevision",
            name="status",
            field=fields.CharEnumField(
                default=RevisionStatus.pending,
                description="pending: pending\napproved: approved\nrejected: rejected\nsuperseded: superseded",
                enum_type=RevisionStatus,
                max_length=16,
            ),
        ),
        ops.AddField(
            model_name="MarketRevision",
            name="base_updated_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(restore_sqlite_index, reverse_code=nothing_to_undo),
    ]
