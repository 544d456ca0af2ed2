"""Staff view of tasks that failed every retry, and re-queueing them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from asoud.background.broker import enqueue
from asoud.background.models import DeadLetter
from asoud.platform.errors import Conflict, NotFound, int_id_or_404
from asoud.platform.http import Api, Auth, Call

api = Api()


class DeadLetterOut(BaseModel):
    id: int
    task_id: str
    task_name: str
    attempts: int
    error_type: str
    failed_at: datetime
    requeued_at: datetime | None


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]


def _view(letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut.model_validate(letter, from_attributes=True)


@api.endpoint(
    "GET",
    "/api/v1/admin/dead-letters",
    summary="Tasks that failed every retry",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: DeadLetterList},
)
async def list_dead_letters(call: Call[Any, Any]) -> DeadLetterList:
    rows = await DeadLetter.filter(requeued_at__isnull=True).order_by("-failed_at").limit(200)
    return DeadLetterList(items=[_view(row) for row in rows])


@api.endpoint(
    "POST",
    "/api/v1/admin/dead-letters/{letter_id}/requeue",
    summary="Run a dead task again",
    tags=["admin"],
    auth=Auth.staff,
    responses={200: DeadLetterOut},
    errors=[404, 409],
)
async def requeue_dead_letter(call: Call[Any, Any]) -> DeadLetterOut:
    letter_id = int_id_or_404(call.path["letter_id"])
    # Claim it first, so two staff members clicking at once queue it once.
    claimed = await DeadLetter.filter(id=letter_id, requeued_at__isnull=True).update(
        requeued_at=datetime.now(UTC)
    )
    letter = await DeadLetter.get_or_none(id=letter_id)
    if letter is None:
        raise NotFound()
    if not claimed:
        raise Conflict("conflict")
    await enqueue(call.platform.tasks, letter.task_name, **letter.kwargs)
    return _view(letter)
