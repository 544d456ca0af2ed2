"""Error tracking with Sentry: no PII, no local variables, and a scrubber for what slips through
(phone numbers, one-time codes, tokens, card numbers) on every event before it leaves."""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.asyncpg import AsyncPGIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.integrations.redis import RedisIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.transport import Transport
from taskiq import TaskiqMessage, TaskiqMiddleware
from taskiq.result import TaskiqResult

from asoud.platform.settings import Settings

REDACTED = "[redacted]"
SENSITIVE_KEYS = re.compile(
    r"authorization|cookie|token|secret|password|passwd|api[-_]?key|phone|mobile|otp|^code$|"
    r"card|pan|cvv|iban|signature|dsn",
    re.IGNORECASE,
)
PATTERNS = [
    re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"),  # JWTs
    re.compile(r"\basr_[\w-]{10,}"),  # our refresh tokens
    re.compile(r"\binv_[\w-]{10,}"),  # invite tokens
    re.compile(r"(?<!\d)(?:\+98|0098|0)9\d{9}(?!\d)"),  # Iranian mobiles
    re.compile(r"\+\d{8,15}(?!\d)"),  # E.164 numbers
    re.compile(r"(?<!\d)(?:\d[ -]?){13,19}(?!\d)"),  # card numbers
    re.compile(r"\b(?:sk|pk|whsec|rk)_(?:test|live)?_?\w+"),  # Stripe keys
]


def _scrub_text(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def scrub(value: Any, key: str = "") -> Any:
    if key and SENSITIVE_KEYS.search(key):
        return REDACTED
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # header lists come as [name, value] pairs
        if len(value) == 2 and isinstance(value[0], str) and SENSITIVE_KEYS.search(value[0]):
            return [value[0], REDACTED]
        return [scrub(item) for item in value]
    return value


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = scrub(event)
    return scrubbed


def init_sentry(settings: Settings, transport: type[Transport] | Transport | None = None) -> bool:
    """Start Sentry when a DSN is configured; returns whether it is on."""
    if not settings.sentry_dsn and transport is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn or "https://public@sentry.invalid/1",
        environment=settings.environment.value,
        release=f"asoud@{__import__('asoud').__version__}",
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        before_send=before_send,  # type: ignore[arg-type]
        integrations=[StarletteIntegration(), AsyncPGIntegration(), RedisIntegration()],
        transport=transport,
    )
    # Task failures are reported by SentryTaskMiddleware (with the task's name); taskiq's own
    # error log line would otherwise be reported first and the middleware's deduplicated away.
    ignore_logger("taskiq.receiver.receiver")
    return True


class SentryTaskMiddleware(TaskiqMiddleware):
    """Report task failures to Sentry with the task's name (never its arguments)."""

    async def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("task", message.task_name)
            scope.set_tag("attempt", str(message.labels.get("attempt", 1)))
            sentry_sdk.capture_exception(exception)
