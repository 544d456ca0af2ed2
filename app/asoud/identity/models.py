"""Tables of the identity domain: users and their login sessions (refresh tokens).

No semicolons in model docstrings: they become table comments, and Tortoise's SQLite
schema editor splits statements on ";".
"""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


class User(Model):
    """A person, identified by a verified mobile number. Roles come from data, not a type field."""

    id = fields.UUIDField(primary_key=True)
    phone = fields.CharField(max_length=20, unique=True, description="E.164, e.g. +989121234567")
    display_name = fields.CharField(max_length=120, default="")
    language = fields.CharField(max_length=5, null=True)
    is_staff = fields.BooleanField(default=False)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "identity_user"


class RefreshToken(Model):
    """One link of the rotating refresh-token chain of a login. Only the token's SHA-256 is kept.

    ``session_id`` names the login (the chain). Presenting a token that was already rotated
    is reuse: the whole chain is revoked, because either the client or a thief holds a copy.
    """

    # foreign-key columns Tortoise adds beside the relations (typed for mypy)
    user_id: uuid.UUID

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "asoud.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    session_id = fields.UUIDField(db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    rotated_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "identity_refresh_token"
        # every foreign key is indexed (look-ups and cascades)
        indexes = (("user_id",),)
