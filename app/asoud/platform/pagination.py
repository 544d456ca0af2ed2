"""Opaque keyset cursors for lists answered as ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from asoud.platform.errors import InvalidInput, field_error

T = TypeVar("T")
M = TypeVar("M", bound=Model)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid_cursor() -> InvalidInput:
    return field_error("query.cursor", "invalid_cursor")


def cursor_value(value: Any, parse: Callable[[Any], T]) -> T:
    """Parse one cursor component (a date, a price, ...); a forged one is a 422, not a 500."""
    try:
        return parse(value)
    except (ValueError, TypeError, ArithmeticError):
        raise _invalid_cursor() from None


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise _invalid_cursor()
    return values


async def newest_first(
    qs: QuerySet[M], limit: int, cursor: str | None
) -> tuple[list[M], str | None]:
    """One keyset page ordered by (created_at, id) descending, and the cursor of the next."""
    if cursor:
        created_text, id_text = decode_cursor(cursor, 2)
        created = cursor_value(created_text, datetime.fromisoformat)
        last_id = cursor_value(id_text, uuid.UUID)
        qs = qs.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=last_id))
    rows = await qs.order_by("-created_at", "-id").limit(limit + 1)
    if len(rows) <= limit:
        return list(rows), None
    rows = rows[:limit]
    last = rows[-1]
    return list(rows), encode_cursor([last.created_at.isoformat(), str(last.pk)])  # type: ignore[attr-defined]
