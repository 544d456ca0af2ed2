"""Request and response bodies of the inbox and preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from asoud.platform.values import EmailAddress, TimeOfDay, TimeZone


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    data: dict[str, str]
    read: bool
    created_at: datetime


class Inbox(BaseModel):
    items: list[NotificationOut]
    unread: int
    next_cursor: str | None


class InboxQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=500, description="omit for all"
    )


class MarkedRead(BaseModel):
    marked: int


# Stated in the schema as well: quiet hours have both ends or none; e-mail needs an address.
_PREFERENCE_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"quiet_start": {"type": "string"}}, "required": ["quiet_start"]},
            "then": {"properties": {"quiet_end": {"type": "string"}}, "required": ["quiet_end"]},
        },
        {
            "if": {"properties": {"quiet_end": {"type": "string"}}, "required": ["quiet_end"]},
            "then": {
                "properties": {"quiet_start": {"type": "string"}},
                "required": ["quiet_start"],
            },
        },
        {
            "if": {"properties": {"email": {"const": True}}, "required": ["email"]},
            "then": {
                "properties": {"email_address": {"minLength": 3}},
                "required": ["email_address"],
            },
        },
    ]
}


class Preferences(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_PREFERENCE_RULES
    )

    sms: bool = True
    push: bool = True
    email: bool = False
    email_address: EmailAddress = ""
    quiet_start: TimeOfDay | None = None
    quiet_end: TimeOfDay | None = None
    timezone: TimeZone = "Asia/Tehran"


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=300)


class DeviceOut(BaseModel):
    id: int
