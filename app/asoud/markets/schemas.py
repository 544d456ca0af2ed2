"""Request and response bodies of the markets API."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from asoud.markets.models import MarketStatus, MarketType, MemberRole, Visibility
from asoud.platform.money import SUPPORTED_CURRENCIES
from asoud.platform.patch import absent
from asoud.platform.references import ImageRef
from asoud.taxonomy.schemas import CategoryId

BUSINESS_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{3,61})[a-z0-9]$")
WEEKDAYS = ("sat", "sun", "mon", "tue", "wed", "thu", "fri")
Weekday = Literal["sat", "sun", "mon", "tue", "wed", "thu", "fri"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def check_opening_hours(value: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    """Each day: a list of ["HH:MM", "HH:MM"] intervals, opening before closing, no overlaps."""
    for intervals in value.values():
        spans = []
        for interval in intervals:
            if len(interval) != 2 or not all(_HHMM.match(t) for t in interval):
                raise ValueError("invalid_hours")
            if interval[0] >= interval[1]:
                raise ValueError("invalid_hours")
            spans.append((interval[0], interval[1]))
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            if start < end:
                raise ValueError("overlapping_hours")
    return value


class _Profile(_Strict):
    # Fields that cannot be empty in the database refuse an explicit null (a 422 naming the
    # field, never a 500 from a NOT NULL column): they are typed without None and merely
    # default to it when left out. Only the coordinates may be cleared with null.
    name: str = absent(min_length=2, max_length=120)
    description: str = absent(max_length=5000)
    slogan: str = absent(max_length=200)
    category_id: CategoryId = absent()
    city: str = absent(max_length=80)
    address: str = absent(max_length=300)
    latitude: Decimal | None = Field(
        default=None, ge=-90, le=90, decimal_places=6, allow_inf_nan=False
    )
    longitude: Decimal | None = Field(
        default=None, ge=-180, le=180, decimal_places=6, allow_inf_nan=False
    )
    contact_phone: str = absent(max_length=20)
    contact_email: str = absent(max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    theme: dict[str, Annotated[str, Field(max_length=100)]] = absent(max_length=20)
    opening_hours: dict[Weekday, list[list[str]]] = absent()
    logo_ref: ImageRef = absent()
    background_ref: ImageRef = absent()
    visibility: Visibility = absent()

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[list[str]]]) -> Any:
        return check_opening_hours(value)


class MarketCreate(_Profile):
    type: MarketType
    business_id: str = Field(min_length=5, max_length=63, examples=["tehran-books"])
    name: str = Field(min_length=2, max_length=120)
    category_id: CategoryId
    currency: str = Field(default="IRT", min_length=3, max_length=3)

    @field_validator("business_id")
    @classmethod
    def _business_id(cls, value: str) -> str:
        if not BUSINESS_ID.match(value):
            raise ValueError("invalid_business_id")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in SUPPORTED_CURRENCIES:
            raise ValueError("invalid")
        return value


class MarketPatch(_Profile):
    pass


class MarketPublic(BaseModel):
    id: UUID
    business_id: str
    type: MarketType
    name: str
    description: str
    slogan: str
    category_id: CategoryId
    currency: str
    visibility: Visibility
    city: str
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    contact_phone: str
    contact_email: str
    theme: dict[str, str]
    opening_hours: dict[str, list[list[str]]]
    logo_ref: str
    background_ref: str


class MarketManagement(BaseModel):
    """Only for the owner, colleagues and staff."""

    status: MarketStatus
    owner_id: UUID
    subscription_paid: bool
    review_reason: str
    published_at: datetime | None
    created_at: datetime
    access: Literal["owner", "manager", "editor", "viewer", "staff"]


class MarketDetail(MarketPublic):
    management: MarketManagement | None = None


class RevisionOut(BaseModel):
    id: UUID
    market_id: UUID
    status: str
    changes: dict[str, Any]
    reason: str
    created_at: datetime


class ReviewDecision(_Strict):
    decision: Literal["approve", "reject", "request_changes"]
    reason: str = Field(default="", max_length=2000)


class MemberIn(_Strict):
    phone: str = Field(min_length=8, max_length=20)
    role: MemberRole


class MemberOut(BaseModel):
    user_id: UUID
    display_name: str
    role: MemberRole


class MemberList(BaseModel):
    items: list[MemberOut]


class InviteIn(_Strict):
    expires_in_hours: int = Field(default=72, ge=1, le=24 * 90)
    max_uses: int | None = Field(default=None, ge=1, le=100_000)


class InviteOut(BaseModel):
    id: UUID
    token: str = Field(description="shown once; share it as the invite link")
    expires_at: datetime
    max_uses: int | None


class AccessGranted(BaseModel):
    market_id: UUID
    business_id: str


class MarketListQuery(_Strict):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)
    q: str | None = Field(default=None, max_length=100)
    category_id: CategoryId | None = None


class MarketPage(BaseModel):
    items: list[MarketPublic]
    next_cursor: str | None
