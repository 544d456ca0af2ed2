"""Request and response bodies of the markets API."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from asoud.markets.models import MarketStatus, MarketType, MemberRole, Visibility
from asoud.platform.money import Currency
from asoud.platform.patch import absent
from asoud.platform.references import ImageRef
from asoud.platform.values import ClosingTime, EmailAddress, TimeOfDay, matching
from asoud.taxonomy.schemas import CategoryId

BUSINESS_ID = re.compile(r"^[a-z0-9][a-z0-9-]{3,61}[a-z0-9]$")
WEEKDAYS = ("sat", "sun", "mon", "tue", "wed", "thu", "fri")
Weekday = Literal["sat", "sun", "mon", "tue", "wed", "thu", "fri"]
Interval = tuple[TimeOfDay, ClosingTime]

# Degrees as a JSON number (rounded to 6 decimals, about 11 cm) or as canonical decimal text.
LATITUDE = re.compile(r"^-?(?:90(?:\.0{1,6})?|[1-8]?[0-9](?:\.[0-9]{1,6})?)$")
LONGITUDE = re.compile(r"^-?(?:180(?:\.0{1,6})?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]{1,6})?)$")


def _coordinate_parser(pattern: re.Pattern[str], limit: int) -> Any:
    def parse(value: object) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, str) and pattern.fullmatch(value):
            return Decimal(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            degrees = Decimal(str(value))
            if degrees.is_finite() and -limit <= degrees <= limit:
                return degrees.quantize(Decimal("0.000001"))
        raise ValueError("invalid_coordinate")

    return BeforeValidator(parse)


def _coordinate_schema(pattern: re.Pattern[str], limit: int) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": -limit, "maximum": limit},
                {"type": "string", "pattern": pattern.pattern},
                {"type": "null"},
            ]
        }
    )


Latitude = Annotated[
    Decimal | None, _coordinate_parser(LATITUDE, 90), _coordinate_schema(LATITUDE, 90)
]
Longitude = Annotated[
    Decimal | None, _coordinate_parser(LONGITUDE, 180), _coordinate_schema(LONGITUDE, 180)
]
BusinessId = Annotated[
    str,
    matching(BUSINESS_ID, "invalid_business_id"),
    WithJsonSchema({"type": "string", "pattern": BUSINESS_ID.pattern}),
    Field(examples=["tehran-books"]),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def check_opening_hours(
    value: dict[str, list[tuple[str, str]]],
) -> dict[str, list[tuple[str, str]]]:
    """Each day: a list of ["HH:MM", "HH:MM"] intervals, opening before closing, no overlaps.
    (The pairs' format is in the schema; their order and overlaps are rules it cannot state.)"""
    for intervals in value.values():
        spans = []
        for opening, closing in intervals:
            if opening >= closing:
                raise ValueError("invalid_hours")
            spans.append((opening, closing))
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
    latitude: Latitude = None
    longitude: Longitude = None
    contact_phone: str = absent(max_length=20)
    contact_email: EmailAddress = absent()
    theme: dict[str, Annotated[str, Field(max_length=100)]] = absent(max_length=20)
    opening_hours: dict[Weekday, list[Interval]] = absent()
    logo_ref: ImageRef = absent()
    background_ref: ImageRef = absent()
    visibility: Visibility = absent()

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[tuple[str, str]]]) -> Any:
        return check_opening_hours(value)


class MarketCreate(_Profile):
    type: MarketType
    business_id: BusinessId
    name: str = Field(min_length=2, max_length=120)
    category_id: CategoryId
    currency: Currency = "IRT"


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
    """A colleague, or one invited by a number that has not signed in yet (``invited``)."""

    user_id: UUID | None
    display_name: str
    role: MemberRole
    status: Literal["active", "invited"] = "active"
    phone: str | None = Field(default=None, description="invited: the number it waits for")
    invitation_id: int | None = Field(default=None, description="invited: to withdraw it")


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


class AdminMarketQuery(_Strict):
    """The review queue by default: queued markets, longest waiting first."""

    status: MarketStatus = MarketStatus.queued
    category_id: CategoryId | None = None
    city: str | None = Field(default=None, max_length=80)
    q: str | None = Field(default=None, max_length=100, description="in name or business_id")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class AdminMarketPage(BaseModel):
    items: list[MarketDetail]
    next_cursor: str | None


class AdminRevisionQuery(_Strict):
    status: Literal["pending", "approved", "rejected", "superseded"] = "pending"
    market_id: UUID | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)


class MarketPage(BaseModel):
    items: list[MarketPublic]
    next_cursor: str | None
