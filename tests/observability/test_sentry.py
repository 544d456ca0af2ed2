"""Sentry gets errors from requests and from tasks, with phone numbers, codes, tokens and card
numbers scrubbed, no local variables and no request bodies (custom transport, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from asoud.background import broker as background
from asoud.observability.sentry import init_sentry, scrub
from asoud.runtime import Platform
from tests.conftest import make_settings
from tests.support.login import last_code

SECRET_BITS = (
    "+989121234567",
    "09121234567",
    "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    "asr_abcdefghijklmnop",
    "6037991234567890",
    "4242 4242 4242 4242",
)


class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__({})
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Any) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def transport(settings: Any) -> Iterator[CapturingTransport]:
    capture = CapturingTransport()
    init_sentry(settings, transport=capture)
    yield capture
    sentry_sdk.init()  # off again for the other tests


def test_scrubber_redacts_values_and_keys() -> None:
    event = {
        "exception": {
            "values": [{"value": "login failed for +989121234567, card 6037991234567890"}]
        },
        "request": {
            "headers": {
                "Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
                "X-Request-ID": "abc123",
            },
            "data": {"phone": "09121234567", "code": "123456", "note": "call 09121234567"},
        },
        "extra": {"list": [["authorization", "secret"], "refresh asr_abcdefghijklmnop"]},
    }
    text = json.dumps(scrub(event))
    for bit in (*SECRET_BITS, "123456"):
        assert bit not in text
    assert "abc123" in text  # harmless values survive


async def test_request_error_arrives_scrubbed(
    client: httpx.AsyncClient, platform: Platform, transport: CapturingTransport
) -> None:
    from asoud.identity.models import User

    async def explode(*args: Any, **kwargs: Any) -> Any:
        secret = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
        raise RuntimeError(f"could not save +989121234567 ({secret}) card 4242 4242 4242 4242")

    await client.post("/api/v1/auth/otp", json={"phone": "09121234567"})
    code = await last_code(platform, "+989121234567")
    original = User.get_or_create
    User.get_or_create = explode  # type: ignore[method-assign]
    try:
        response = await client.post(
            "/api/v1/auth/token",
            json={"phone": "09121234567", "code": code},
            headers={"Authorization": "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
        )
    finally:
        User.get_or_create = original  # type: ignore[method-assign]
    assert response.status_code == 500
    sentry_sdk.flush()
    [event] = [e for e in transport.events if e.get("exception")]
    text = json.dumps(event)
    assert "RuntimeError" in text and "could not save" in text
    for bit in (*SECRET_BITS, code):
        assert bit not in text, bit
    for value in event["exception"]["values"]:
        for frame in value.get("stacktrace", {}).get("frames", []):
            assert "vars" not in frame  # local variables are never sent


async def test_task_error_arrives_with_its_name(
    app: Any, database_url: str, tmp_path: Path, transport: CapturingTransport
) -> None:
    async def fails(phone: str) -> None:
        raise ValueError(f"no route to {phone}")

    background.task("test.sentry_fails", max_attempts=1)(fails)
    try:
        broker = background.create_broker(
            make_settings(database_url, tmp_path, redis_url="memory://")
        )
        await broker.startup()
        try:
            await background.enqueue(broker, "test.sentry_fails", phone="+989121234567")
            for _ in range(100):
                await broker.wait_all()  # type: ignore[attr-defined]
                if any(e.get("tags", {}).get("task") for e in transport.events):
                    break
                await asyncio.sleep(0.02)
        finally:
            await broker.shutdown()
    finally:
        del background.REGISTRY["test.sentry_fails"]
    sentry_sdk.flush()
    [event] = [e for e in transport.events if e.get("tags", {}).get("task")]
    assert event["tags"]["task"] == "test.sentry_fails"
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert "+989121234567" not in json.dumps(transport.events)  # nor in the log-born events
