"""Opaque keyset cursors for lists answered as ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
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


INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
MAX_CURSOR_DECIMAL = Decimal("1e16")  # the widest DecimalField (18 digits, 2 decimals)


def int4(value: Any) -> int:
    """An int cursor component for an IntField (a bool or a float is not one)."""
    return _bounded_int(value, INT4_MAX)


def int8(value: Any) -> int:
    return _bounded_int(value, INT8_MAX)


def _bounded_int(value: Any, limit: int) -> int:
    if (
        isinstance(value, str)
        and value.isascii()
        and value.lstrip("-").isdigit()
        and len(value) < 21
    ):
        value = int(value)
    if type(value) is not int or not -limit - 1 <= value <= limit:  # a bool or float is not one
        raise ValueError("out of range")
    return value


def decimal_value(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise TypeError("not a string")
    number = Decimal(value)
    if not number.is_finite() or abs(number) >= MAX_CURSOR_DECIMAL:
        raise ValueError("out of range")
    return number


def timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return datetime.fromisoformat(value)


def uuid_value(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return uuid.UUID(value)


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
    return await keyset_page(qs, limit, cursor, "created_at", descending=True)


async def oldest_first(
    qs: QuerySet[M], limit: int, cursor: str | None, field: str = "created_at"
) -> tuple[list[M], str | None]:
    """One keyset page ordered by (``field``, id) ascending: queues, longest waiting first.
    Rows whose ``field`` is NULL are left out."""
    return await keyset_page(qs.filter(**{f"{field}__isnull": False}), limit, cursor, field)


async def keyset_page(
    qs: QuerySet[M], limit: int, cursor: str | None, field: str, *, descending: bool = False
) -> tuple[list[M], str | None]:
    """One page ordered by a timestamp column and the id (UUID) that breaks ties."""
    beyond = "lt" if descending else "gt"
    if cursor:
        stamp_text, id_text = decode_cursor(cursor, 2)
        stamp = cursor_value(stamp_text, timestamp)
        last_id = cursor_value(id_text, uuid_value)
        after: dict[str, Any] = {f"{field}__{beyond}": stamp}
        tie: dict[str, Any] = {field: stamp, f"id__{beyond}": last_id}
        qs = qs.filter(Q(**after) | Q(**tie))
    sign = "-" if descending else ""
    rows = await qs.order_by(f"{sign}{field}", f"{sign}id").limit(limit + 1)
    if len(rows) <= limit:
        return list(rows), None
    rows = rows[:limit]
    last = rows[-1]
    return list(rows), encode_cursor([getattr(last, field).isoformat(), str(last.pk)])
