"""Request and response bodies of the inbox and preferences."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


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


class Preferences(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sms: bool = True
    push: bool = True
    email: bool = False
    email_address: str = Field(default="", max_length=200)
    quiet_start: str | None = Field(default=None, examples=["22:00"])
    quiet_end: str | None = Field(default=None, examples=["08:00"])
    timezone: str = Field(default="Asia/Tehran", max_length=40)

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value):
            raise ValueError("invalid_hours")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("invalid") from None
        return value


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=300)


class DeviceOut(BaseModel):
    id: int
