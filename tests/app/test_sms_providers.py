"""The production SMS adapters against fakes of the providers' HTTP APIs on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from asoud.app import create_app
from tests.conftest import make_settings
from tests.support.fake_sms import FakeSmsIr, FakeTwilio
from tests.support.login import otp_keys
from tests.support.servers import serve


@pytest.fixture
def smsir() -> Iterator[tuple[FakeSmsIr, str]]:
    fake = FakeSmsIr()
    with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
def twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    with serve(fake.app()) as url:
        yield fake, url


@pytest.fixture
async def real_sms_app(
    database_url: str, tmp_path: Path, smsir: tuple[FakeSmsIr, str], twilio: tuple[FakeTwilio, str]
) -> AsyncIterator[Starlette]:
    fake_ir, ir_url = smsir
    fake_tw, tw_url = twilio
    settings = make_settings(
        database_url,
        tmp_path,
        sms_provider="smsir",
        smsir_api_url=ir_url,
        smsir_api_key=fake_ir.api_key,
        smsir_template_id=260323,
        sms_international_provider="twilio",
        twilio_api_url=tw_url,
        twilio_account_sid=fake_tw.account_sid,
        twilio_auth_token=fake_tw.auth_token,
        twilio_from_number="+15005550006",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(real_sms_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=real_sms_app), base_url="http://t"
    ) as client:
        yield client


async def test_iranian_number_goes_through_smsir(
    http: httpx.AsyncClient, smsir: tuple[FakeSmsIr, str]
) -> None:
    fake, _ = smsir
    response = await http.post("/api/v1/auth/otp", json={"phone": "+989121234567"})
    assert response.status_code == 202
    [sent] = fake.received
    assert sent["mobile"] == "09121234567" and sent["templateId"] == 260323
    [parameter] = sent["parameters"]
    assert parameter["name"] == "Code" and re.fullmatch(r"\d{6}", parameter["value"])
    # and that code logs in
    token = await http.post(
        "/api/v1/auth/token", json={"phone": "09121234567", "code": parameter["value"]}
    )
    assert token.status_code == 200


async def test_international_number_goes_through_twilio(
    http: httpx.AsyncClient, twilio: tuple[FakeTwilio, str], smsir: tuple[FakeSmsIr, str]
) -> None:
    fake, _ = twilio
    response = await http.post(
        "/api/v1/auth/otp", json={"phone": "+14155550123"}, headers={"Accept-Language": "tr"}
    )
    assert response.status_code == 202
    [sent] = fake.received
    assert sent["To"] == "+14155550123" and sent["From"] == "+15005550006"
    assert sent["Body"].startswith("ASOUD kodu: ")
    assert smsir[0].received == []


async def test_provider_refusal_is_503_and_leaves_no_code(
    http: httpx.AsyncClient, real_sms_app: Starlette, smsir: tuple[FakeSmsIr, str]
) -> None:
    fake, _ = smsir
    fake.fail_with_status = 0
    response = await http.post("/api/v1/auth/otp", json={"phone": "09121234567"})
    assert response.status_code == 503 and response.json()["code"] == "otp_delivery_failed"
    platform = real_sms_app.state.platform
    assert await otp_keys(platform) == []
    # the person may try again at once (no 60 s lock after a failed delivery)
    fake.fail_with_status = None
    assert (await http.post("/api/v1/auth/otp", json={"phone": "09121234567"})).status_code == 202


async def test_wrong_api_key_is_a_delivery_failure(
    http: httpx.AsyncClient, smsir: tuple[FakeSmsIr, str]
) -> None:
    fake, _ = smsir
    fake.api_key = "rotated-elsewhere"
    response = await http.post("/api/v1/auth/otp", json={"phone": "09121234567"})
    assert response.status_code == 503


async def test_unreachable_provider_is_a_delivery_failure(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        sms_provider="smsir",
        smsir_api_url="http://127.0.0.1:1",
        smsir_api_key="k",
        smsir_template_id=1,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.post("/api/v1/auth/otp", json={"phone": "09121234567"})
    assert response.status_code == 503 and response.json()["code"] == "otp_delivery_failed"
