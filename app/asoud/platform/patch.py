"""PATCH bodies: a field left out is not a field set to null.

A field whose column cannot be empty is declared ``name: str = absent(...)``: typed without
``None``, so an explicit null is refused with a 422 naming the field (not a NOT NULL
violation and a 500); left out, it is simply not in ``model_dump(exclude_unset=True)``. Fields
where null means "clear it" keep ``X | None = None``. The OpenAPI schema of an absent field
has no default (null would not be a value of its type).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(**constraints: Any) -> Any:
    """``Field`` for a PATCH member that may be left out but not set to null."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)
