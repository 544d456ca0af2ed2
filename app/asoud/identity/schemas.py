"""Request and response bodies of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from asoud.identity.phone import normalise_phone
from asoud.platform.patch import absent

Language = Literal["en", "fa", "ar", "tr"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OtpRequest(_Strict):
    phone: str = Field(
        min_length=8,
        max_length=32,
        examples=["09121234567", "+14155550123", "۰۹۱۲۱۲۳۴۵۶۷"],
        description="Iranian 09xxxxxxxxx or international E.164 mobile number; Persian or "
        "Arabic-Indic digits, spaces, dashes and parentheses are accepted",
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)


class OtpAccepted(BaseModel):
    expires_in: int = Field(description="seconds the code stays valid")
    resend_after: int = Field(description="seconds before another code may be requested")


class TokenRequest(OtpRequest):
    code: str = Field(min_length=4, max_length=8, examples=["123456"])

    @field_validator("code")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value.isascii() or not value.isdigit():
            raise ValueError("otp_format")
        return value


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="access token lifetime in seconds")


class RefreshRequest(_Strict):
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutRequest(_Strict):
    all_sessions: bool = Field(
        default=False, description="end every login of this user, not only the current one"
    )


class Capabilities(BaseModel):
    buy: bool
    create_market: bool
    moderate: bool


class MarketAccess(BaseModel):
    market_id: UUID
    business_id: str
    access: Literal["owner", "manager", "editor", "viewer"]


class Me(BaseModel):
    id: UUID
    phone: str
    display_name: str
    language: Language | None
    is_staff: bool
    capabilities: Capabilities
    markets: list[MarketAccess]


class MePatch(_Strict):
    display_name: str = absent(min_length=1, max_length=120)
    language: Language | None = Field(
        default=None, description="null: follow each request's Accept-Language"
    )


class Jwks(BaseModel):
    keys: list[dict[str, str]]


class UserLookup(_Strict):
    phone: str = Field(min_length=8, max_length=32, description="the person's mobile number")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)


class UserAdmin(BaseModel):
    """What staff see of an account (never its tokens)."""

    id: UUID
    phone: str
    display_name: str
    is_staff: bool
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
