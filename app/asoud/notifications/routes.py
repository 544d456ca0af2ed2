"""HTTP routes of the inbox, notification preferences and push devices."""

from __future__ import annotations

from typing import Any

from asoud.notifications import services
from asoud.notifications.models import Notification
from asoud.notifications.schemas import (
    DeviceIn,
    DeviceOut,
    Inbox,
    InboxQuery,
    MarkedRead,
    MarkRead,
    NotificationOut,
    Preferences,
)
from asoud.platform.http import Api, Auth, Call
from asoud.platform.pagination import cursor_value, decode_cursor, encode_cursor, int8

api = Api()


@api.endpoint(
    "GET",
    "/api/v1/notifications",
    summary="My inbox",
    tags=["notifications"],
    auth=Auth.user,
    query=InboxQuery,
    responses={200: Inbox},
)
async def inbox(call: Call[Any, InboxQuery]) -> Inbox:
    user = call.principal.user
    qs = Notification.filter(user_id=user.id)
    if call.query.cursor:
        (last,) = decode_cursor(call.query.cursor, 1)
        qs = qs.filter(id__lt=cursor_value(last, int8))
    rows = await qs.order_by("-id").limit(call.query.limit + 1)
    more = len(rows) > call.query.limit
    rows = rows[: call.query.limit]
    unread = await Notification.filter(user_id=user.id, read_at__isnull=True).count()
    items = [
        NotificationOut(
            id=n.id,
            kind=n.kind,
            title=n.title,
            body=n.body,
            data=n.data,
            read=n.read_at is not None,
            created_at=n.created_at,
        )
        for n in rows
    ]
    return Inbox(
        items=items, unread=unread, next_cursor=encode_cursor([rows[-1].id]) if more else None
    )


@api.endpoint(
    "POST",
    "/api/v1/notifications/read",
    summary="Mark notifications read",
    tags=["notifications"],
    auth=Auth.user,
    body=MarkRead,
    responses={200: MarkedRead},
)
async def mark_read(call: Call[MarkRead, Any]) -> MarkedRead:
    return MarkedRead(marked=await services.mark_read(call.principal.user, call.body.ids))


@api.endpoint(
    "GET",
    "/api/v1/me/notification-preferences",
    summary="My channels and quiet hours",
    tags=["notifications"],
    auth=Auth.user,
    responses={200: Preferences},
)
async def get_preferences(call: Call[Any, Any]) -> Preferences:
    preference = await services.preferences(call.principal.user)
    return Preferences.model_validate(preference, from_attributes=True)


@api.endpoint(
    "PUT",
    "/api/v1/me/notification-preferences",
    summary="Set channels and quiet hours",
    tags=["notifications"],
    auth=Auth.user,
    body=Preferences,
    responses={200: Preferences},
    errors=[422],
)
async def put_preferences(call: Call[Preferences, Any]) -> Preferences:
    """Quiet hours need both a start and an end; e-mail needs an address."""
    await services.set_preferences(call.principal.user, call.body)
    return call.body


@api.endpoint(
    "POST",
    "/api/v1/me/devices",
    summary="Register a device for push",
    tags=["notifications"],
    auth=Auth.user,
    body=DeviceIn,
    responses={201: DeviceOut},
)
async def register_device(call: Call[DeviceIn, Any]) -> DeviceOut:
    device = await services.register_device(call.principal.user, call.body.token)
    return DeviceOut(id=device.id)
