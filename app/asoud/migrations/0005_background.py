import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("asoud", "0004_payments")]

    initial = False

    operations = [
        ops.CreateModel(
            name="DeadLetter",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("task_id", fields.CharField(db_index=True, max_length=64)),
                ("task_name", fields.CharField(max_length=120)),
                (
                    "args",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "kwargs",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("attempts", fields.IntField()),
                ("error_type", fields.CharField(max_length=120)),
                (
                    "failed_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
                (
                    "requeued_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "background_dead_letter",
                "app": "asoud",
                "pk_attr": "id",
                "table_description": "A task that exhausted its retries. Its arguments are kept so it can run again.",
            },
            bases=["Model"],
        ),
    ]
