"""Opaque keyset cursors and the list envelope ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from asoud.platform.errors import InvalidInput
from asoud.platform.i18n import translate_field_error

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class PageQuery(BaseModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=512)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid_cursor() -> InvalidInput:
    error = {
        "field": "query.cursor",
        "code": "invalid_cursor",
        "message": translate_field_error("invalid_cursor"),
    }
    return InvalidInput(extra={"errors": [error]})


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
