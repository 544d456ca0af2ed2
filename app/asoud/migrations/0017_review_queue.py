from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def queued_since_last_change(apps, schema_editor):
    # markets already waiting keep their place: they entered the queue at their last change
    await schema_editor.client.execute_script(
        "UPDATE markets_market SET submitted_at = updated_at WHERE status = 'queued'"
    )


async def nothing_to_undo(apps, schema_editor):
    pass


class Migration(migrations.Migration):
    dependencies = [("asoud", "0016_revision_base")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Market",
            name="submitted_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(queued_since_last_change, reverse_code=nothing_to_undo),
    ]
