"""Tasks that failed every retry, kept for staff to inspect and re-queue."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class DeadLetter(Model):
    """A task that exhausted its retries. Its arguments are kept so it can run again."""

    id = fields.IntField(primary_key=True)
    task_id = fields.CharField(max_length=64, db_index=True)
    task_name = fields.CharField(max_length=120)
    args: fields.JSONField[list[object]] = fields.JSONField(default=list)
    kwargs: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)
    attempts = fields.IntField()
    error_type = fields.CharField(max_length=120)
    failed_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    requeued_at = fields.DatetimeField(null=True)

    class Meta:
        table = "background_dead_letter"
