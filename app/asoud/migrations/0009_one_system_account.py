from tortoise import migrations
from tortoise.migrations import operations as ops


async def create_index(apps, schema_editor):
    # NULLs are distinct in a unique constraint, so (user, kind, currency) alone would let
    # concurrent first postings create several "external" or "settlement" accounts.
    await schema_editor.client.execute_script(
        "CREATE UNIQUE INDEX wallet_account_one_system ON wallet_account (kind, currency) "
        "WHERE user_id IS NULL"
    )


async def drop_index(apps, schema_editor):
    await schema_editor.client.execute_script("DROP INDEX IF EXISTS wallet_account_one_system")


class Migration(migrations.Migration):
    dependencies = [("asoud", "0008_currencies")]

    initial = False

    operations = [
        ops.RunPython(create_index, reverse_code=drop_index),
    ]
