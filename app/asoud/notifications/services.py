"""Notifications: write to the inbox, plan deliveries per channel, deliver them from workers.

The inbox entry is written at once; SMS, push and e-mail are separate deliveries (outbox rows
in PostgreSQL) sent by a worker, held back during the person's quiet hours and retried with
backoff on failure (then marked failed). A delivery is sent at most once; only a worker that
dies between sending and recording it leaves it to be sent a second time.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from asoud.identity.models import User
from asoud.notifications.email import SmtpMail
from asoud.notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    Preference,
)
from asoud.notifications.push import FcmPush, UnregisteredDevice
from asoud.notifications.schemas import Preferences
from asoud.notifications.texts import render
from asoud.platform.database import fetch_sql, on_postgres
from asoud.platform.errors import field_error
from asoud.runtime import Platform

log = logging.getLogger("asoud.notifications")
RETENTION = timedelta(days=90)
DELIVERIES = Counter(
    "asoud_notification_deliveries", "Deliveries by channel and result", ["channel", "result"]
)


def _now() -> datetime:
    return datetime.now(UTC)


def quiet_until(preference: Preference | None, at: datetime) -> datetime | None:
    """The end of the person's quiet hours if ``at`` falls inside them, else None."""
    if preference is None or not preference.quiet_start or not preference.quiet_end:
        return None
    try:
        zone = ZoneInfo(preference.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = at.astimezone(zone)
    start = clock_time.fromisoformat(preference.quiet_start)
    end = clock_time.fromisoformat(preference.quiet_end)
    now = local.time()
    inside = (start <= now < end) if start < end else (now >= start or now < end)  # over midnight
    if not inside:
        return None
    end_at = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_at <= local:
        end_at += timedelta(days=1)
    return end_at.astimezone(UTC)


# Everything notify() needs to know about the recipient, in one round trip: language and
# preferences, and per channel whether the latest delivery of this kind is still waiting and
# when it was sent (one row per channel that has one; a row with NULL channel when none has).
# Each channel is one index probe of the person's latest delivery of the kind: aggregating their
# whole history instead was checkout's slowest statement (1.7 ms at a few thousand orders).
_RECIPIENT_SQL = (
    'SELECT u."language" AS "language", p."sms" AS "sms", p."push" AS "push", '
    'p."email" AS "email", p."email_address" AS "email_address", '
    'p."quiet_start" AS "quiet_start", p."quiet_end" AS "quiet_end", '
    'p."timezone" AS "timezone", p."id" AS "preference_id", '
    'EXISTS (SELECT 1 FROM "notifications_device" v WHERE v."user_id" = u."id") AS "has_device", '
    'd."channel" AS "channel", d."status" = \'pending\' AS "waiting", d."sent_at" AS "last_sent" '
    'FROM "identity_user" u LEFT JOIN "notifications_preference" p ON p."user_id" = u."id" '
    "CROSS JOIN (SELECT 'sms' AS \"name\" UNION ALL SELECT 'push' UNION ALL SELECT 'email') c "
    'LEFT JOIN "notifications_delivery" d ON d."id" = (SELECT l."id" '
    'FROM "notifications_delivery" l WHERE l."recipient_id" = $1 AND l."kind" = $2 '
    'AND l."channel" = c."name" ORDER BY l."id" DESC LIMIT 1) '
    'WHERE u."id" = $1'
)


async def notify(
    platform: Platform, user_id: uuid.UUID, kind: str, data: dict[str, str], **params: str
) -> Notification:
    """Put a message in the person's inbox and queue its outside deliveries."""
    rows = await fetch_sql(_RECIPIENT_SQL, [user_id, kind])
    recipient = rows[0]
    same_kind = {row["channel"]: row for row in rows if row["channel"] is not None}
    title, body = render(kind, recipient["language"] or "en", **params)
    preference = (
        None
        if recipient["preference_id"] is None
        else Preference(
            sms=bool(recipient["sms"]),
            push=bool(recipient["push"]),
            email=bool(recipient["email"]),
            email_address=recipient["email_address"],
            quiet_start=recipient["quiet_start"],
            quiet_end=recipient["quiet_end"],
            timezone=recipient["timezone"],
        )
    )
    channels = (
        [Channel.sms]
        if preference is None
        else [
            channel
            for channel, wanted in (
                (Channel.sms, preference.sms),
                (Channel.push, preference.push and recipient["has_device"]),
                (Channel.email, preference.email and preference.email_address),
            )
            if wanted
        ]
    )
    now = _now()
    start_at = quiet_until(preference, now) or now
    window = timedelta(seconds=platform.settings.notification_batch_seconds)
    planned: list[tuple[Channel, datetime]] = []
    for channel in channels:
        # One message per person, channel and kind per window: a buyer cycling checkouts
        # cannot make the platform text an owner each time. A waiting delivery of the same
        # kind carries this one too (its text counts what it stands for).
        previous = same_kind.get(channel.value, {})
        if previous.get("waiting"):
            continue
        last_sent = previous.get("last_sent")
        if isinstance(last_sent, str):  # SQLite hands timestamps back as text
            last_sent = datetime.fromisoformat(last_sent)
        planned.append((channel, max(start_at, last_sent + window) if last_sent else start_at))
    notification = Notification(
        user_id=user_id, kind=kind, title=title, body=body, data=data, created_at=now
    )
    deliveries = await _write(notification, planned)
    for delivery_id, not_before in deliveries:
        if not_before <= _now():
            await _enqueue(platform, delivery_id)
    return notification


# The inbox entry and its deliveries in one statement (PostgreSQL): the notification's id
# and each delivery's (none when no channel is due).
_WRITE_SQL = (
    'WITH n AS (INSERT INTO "notifications_notification" ("kind", "title", "body", "data", '
    '"created_at", "user_id") VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING "id"), '
    'd AS (INSERT INTO "notifications_delivery" ("channel", "status", "not_before", '
    '"attempts", "last_error", "notification_id", "recipient_id", "kind") SELECT c."channel", '
    "'pending', c.\"not_before\", 0, '', n.\"id\", $6, $1 FROM n, "
    "unnest($7::text[], $8::timestamptz[]) "
    'AS c("channel", "not_before") RETURNING "id", "not_before") '
    'SELECT n."id" AS "notification_id", d."id" AS "delivery_id", d."not_before" AS '
    '"not_before" FROM n LEFT JOIN d ON true'
)


async def _write(
    notification: Notification, planned: list[tuple[Channel, datetime]]
) -> list[tuple[int, datetime]]:
    """Store the notification and its planned deliveries; the deliveries' ids and times."""
    if not on_postgres():
        await notification.save()
        made = [
            await Delivery.create(
                notification_id=notification.id,
                recipient_id=notification.user_id,
                kind=notification.kind,
                channel=channel,
                not_before=not_before,
            )
            for channel, not_before in planned
        ]
        return [(delivery.id, delivery.not_before) for delivery in made]
    rows = await fetch_sql(
        _WRITE_SQL,
        [
            notification.kind,
            notification.title,
            notification.body,
            json.dumps(notification.data),
            notification.created_at,
            notification.user_id,
            [channel.value for channel, _ in planned],
            [not_before for _, not_before in planned],
        ],
    )
    notification.id = rows[0]["notification_id"]
    return [(row["delivery_id"], row["not_before"]) for row in rows if row["delivery_id"]]


async def notify_quietly(
    platform: Platform, user_id: uuid.UUID, kind: str, data: dict[str, str], **params: str
) -> None:
    """For side effects of other work: a notification problem never fails the order or payment."""
    try:
        await notify(platform, user_id, kind, data, **params)
    except Exception as exc:
        log.error("notification %s not recorded: %s", kind, type(exc).__name__)


async def _enqueue(platform: Platform, delivery_id: int) -> None:
    from asoud.background.broker import enqueue

    try:
        await enqueue(platform.tasks, "notifications.deliver", delivery_id=delivery_id)
    except Exception:  # the scheduler's sweep sends it later; never fail the caller
        log.warning("could not enqueue a delivery; the periodic sweep will send it")


def _push(platform: Platform) -> FcmPush:
    """One FCM client per process: it keeps its OAuth token until the token expires."""
    sender: FcmPush | None = platform.adapters.get("push:fcm")
    if sender is None:
        sender = platform.adapters["push:fcm"] = _new_push(platform)
    return sender


def _new_push(platform: Platform) -> FcmPush:
    s = platform.settings
    return FcmPush(
        platform.http,
        s.fcm_api_url,
        s.fcm_token_url,
        s.fcm_project_id,
        s.fcm_service_account_email,
        s.fcm_private_key,
    )


def _mail(platform: Platform) -> SmtpMail:
    s = platform.settings
    return SmtpMail(
        s.smtp_host, s.smtp_port, s.smtp_username, s.smtp_password, s.smtp_starttls, s.mail_from
    )


# Longer than a delivery task may run (its timeout is 60 s): a live claim is never taken over.
CLAIM_SECONDS = 120
MAX_ATTEMPTS = 6
# The sweep leaves fresh deliveries to the task enqueued with them.
SWEEP_GRACE_SECONDS = 30


def retry_delay(attempts: int, base: float) -> timedelta:
    """Exponential backoff: base, 2·base, 4·base … capped at 10 minutes."""
    return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 600.0))


async def _claim(delivery_id: int) -> bool:
    """Take the delivery for this worker, if it is due and nobody holds it (one UPDATE)."""
    now = _now()
    claimed = await Delivery.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        id=delivery_id,
        status=DeliveryStatus.pending,
        not_before__lte=now,
    ).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    return bool(claimed)


async def deliver(platform: Platform, delivery_id: int) -> str:
    """Send one delivery at most once: claimed first, marked sent after. A failure schedules
    the next attempt in the row (the sweep picks it up when due), never a sleep."""
    if not await _claim(delivery_id):
        return "nothing to do"  # sent, not due, or being sent by another worker
    delivery = await Delivery.get(id=delivery_id).select_related("notification")
    notification: Notification = delivery.notification
    user = await User.get(id=notification.user_id)
    text = f"{notification.title}: {notification.body}"
    later = await Notification.filter(
        user_id=notification.user_id, kind=notification.kind, id__gt=notification.id
    ).count()
    if later:  # the batch: this message stands for the ones that came while it waited
        text += f" (+{later})"
    try:
        if delivery.channel is Channel.sms:
            await platform.sms.send_text(user.phone, text)
        elif delivery.channel is Channel.push:
            data = {key: str(value) for key, value in notification.data.items()}
            for device in await Device.filter(user_id=user.id):
                try:
                    await _push(platform).send(
                        device.token, notification.title, notification.body, data
                    )
                except UnregisteredDevice:
                    await device.delete()
        else:
            preference = await Preference.get(user_id=user.id)
            await _mail(platform).send(
                preference.email_address, notification.title, notification.body
            )
    except Exception as exc:
        DELIVERIES.labels(delivery.channel.value, "retry").inc()
        failed = delivery.attempts >= MAX_ATTEMPTS
        await Delivery.filter(id=delivery.id).update(
            status=DeliveryStatus.failed if failed else DeliveryStatus.pending,
            not_before=_now()
            + retry_delay(delivery.attempts, platform.settings.task_retry_base_seconds),
            claimed_until=None,
            last_error=type(exc).__name__,
        )
        log.warning(
            "delivery %s failed (attempt %d of %d): %s",
            delivery.id,
            delivery.attempts,
            MAX_ATTEMPTS,
            type(exc).__name__,
        )
        return "failed" if failed else "retry scheduled"
    await Delivery.filter(id=delivery.id).update(
        status=DeliveryStatus.sent, sent_at=_now(), claimed_until=None
    )
    DELIVERIES.labels(delivery.channel.value, "sent").inc()
    return "sent"


async def deliver_due(platform: Platform, limit: int = 500) -> int:
    """Queue deliveries that are due and unclaimed: quiet hours ended, a retry's time came,
    or their queue message was lost (a Redis restart). Safe to run twice at once."""
    now = _now()
    due = (
        await Delivery.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            status=DeliveryStatus.pending,
            not_before__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
        )
        .order_by("not_before")
        .limit(limit)
        .values_list("id", flat=True)
    )
    for delivery_id in due:
        await _enqueue(platform, int(str(delivery_id)))
    return len(due)


async def cleanup() -> int:
    """Forget read notifications older than the retention period."""
    return await Notification.filter(
        read_at__isnull=False, created_at__lt=_now() - RETENTION
    ).delete()


async def mark_read(user: User, ids: list[int] | None) -> int:
    query = Notification.filter(user_id=user.id, read_at__isnull=True)
    if ids is not None:
        query = query.filter(id__in=ids)
    return await query.update(read_at=_now())


async def register_device(user: User, token: str) -> Device:
    try:
        return await Device.create(user_id=user.id, token=token)
    except IntegrityError:  # the token moved to this person (a shared phone)
        await Device.filter(token=token).update(user_id=user.id)
        return await Device.get(token=token)


async def preferences(user: User) -> Preference:
    preference, _ = await Preference.get_or_create(user_id=user.id)
    return preference


async def set_preferences(user: User, wanted: Preferences) -> Preference:
    """Replace the person's preferences; combinations that could not work are refused, each
    with its own message, and nothing changes."""
    if (wanted.quiet_start is None) != (wanted.quiet_end is None):
        missing = "quiet_end" if wanted.quiet_end is None else "quiet_start"
        raise field_error(f"body.{missing}", "quiet_hours_need_both_ends")
    if wanted.quiet_start is not None and wanted.quiet_start == wanted.quiet_end:
        raise field_error("body.quiet_end", "quiet_hours_empty")
    if wanted.email and not wanted.email_address:
        raise field_error("body.email_address", "email_needs_address")
    preference = await preferences(user)
    for name, value in wanted.model_dump().items():
        setattr(preference, name, value)
    await preference.save()
    return preference


def event_data(**values: Any) -> dict[str, str]:
    return {key: str(value) for key, value in values.items()}
