"""SMS delivery adapters: sms.ir (Iran), Twilio (international) and a development outbox.

Each adapter speaks its provider's real HTTP API through a shared ``httpx.AsyncClient``;
tests point the base URL at a fake server of that API, so this code is what gets tested.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol

import httpx
from redis.asyncio import Redis

from asoud.platform.redis import KeySpace
from asoud.platform.settings import Settings

log = logging.getLogger("asoud.sms")

IRAN_PREFIX = "+98"
OUTBOX_LENGTH = 200


class SmsDeliveryError(Exception):
    """The provider did not accept the message."""


class SmsProvider(Protocol):
    name: str

    async def send_code(self, phone: str, code: str, language: str) -> None: ...

    async def send_text(self, phone: str, text: str) -> None: ...


def _local_iranian(phone: str) -> str:
    return "0" + phone[len(IRAN_PREFIX) :] if phone.startswith(IRAN_PREFIX) else phone


CODE_TEXT = {
    "en": "ASOUD code: {code}",
    "fa": "کد ورود آسود: {code}",
    "ar": "رمز آسود: {code}",
    "tr": "ASOUD kodu: {code}",
}


@dataclass
class OutboxProvider:
    """Records messages in Redis and on the console instead of sending (development, tests)."""

    redis: Redis
    keys: KeySpace
    echo: bool = True
    name: str = "outbox"

    async def send_code(self, phone: str, code: str, language: str) -> None:
        entry = json.dumps({"to": phone, "code": code, "language": language})
        key = self.keys("sms-outbox")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, entry)
            pipe.ltrim(key, 0, OUTBOX_LENGTH - 1)
            await pipe.execute()
        if self.echo:
            # Development only (production refuses this provider): the code on the console
            # so a newcomer can log in without an SMS account.
            print(f"[asoud outbox] one-time code for {phone}: {code}", flush=True)

    async def send_text(self, phone: str, text: str) -> None:
        key = self.keys("sms-outbox")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps({"to": phone, "text": text}))
            pipe.ltrim(key, 0, OUTBOX_LENGTH - 1)
            await pipe.execute()

    async def messages(self) -> list[dict[str, str]]:
        raw = await self.redis.lrange(self.keys("sms-outbox"), 0, -1)
        return [json.loads(item) for item in raw]


@dataclass
class SmsIrProvider:
    """sms.ir v1 "verify" (template) API: POST /v1/send/verify with X-API-KEY; status 1 = sent."""

    http: httpx.AsyncClient
    base_url: str
    api_key: str
    template_id: int
    code_parameter: str = "Code"
    line_number: str = ""
    name: str = "smsir"

    async def send_code(self, phone: str, code: str, language: str) -> None:
        try:
            response = await self.http.post(
                self.base_url.rstrip("/") + "/v1/send/verify",
                headers={"X-API-KEY": self.api_key, "Accept": "application/json"},
                json={
                    "mobile": _local_iranian(phone),
                    "templateId": self.template_id,
                    "parameters": [{"name": self.code_parameter, "value": code}],
                },
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SmsDeliveryError(f"sms.ir unreachable: {type(exc).__name__}") from None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != 1:
            status = body.get("status") if isinstance(body, dict) else None
            raise SmsDeliveryError(f"sms.ir refused: http {response.status_code}, status {status}")

    async def send_text(self, phone: str, text: str) -> None:
        """sms.ir bulk send: POST /v1/send/bulk {lineNumber, messageText, mobiles}."""
        try:
            response = await self.http.post(
                self.base_url.rstrip("/") + "/v1/send/bulk",
                headers={"X-API-KEY": self.api_key, "Accept": "application/json"},
                json={
                    "lineNumber": self.line_number,
                    "messageText": text,
                    "mobiles": [_local_iranian(phone)],
                },
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SmsDeliveryError(f"sms.ir unreachable: {type(exc).__name__}") from None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != 1:
            raise SmsDeliveryError(f"sms.ir refused: http {response.status_code}")


@dataclass
class TwilioProvider:
    """Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json (basic auth)."""

    http: httpx.AsyncClient
    base_url: str
    account_sid: str
    auth_token: str
    from_number: str
    name: str = "twilio"

    async def send_code(self, phone: str, code: str, language: str) -> None:
        await self.send_text(phone, CODE_TEXT.get(language, CODE_TEXT["en"]).format(code=code))

    async def send_text(self, phone: str, text: str) -> None:
        url = f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            response = await self.http.post(
                url,
                auth=(self.account_sid, self.auth_token),
                data={"To": phone, "From": self.from_number, "Body": text},
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SmsDeliveryError(f"twilio unreachable: {type(exc).__name__}") from None
        if response.status_code not in (200, 201) or body.get("status") in (
            "failed",
            "undelivered",
        ):
            raise SmsDeliveryError(
                f"twilio refused: http {response.status_code}, code {body.get('code')}"
            )


@dataclass
class SmsRouter:
    """Iranian numbers go to the Iranian provider, all others to the international one."""

    iran: SmsProvider
    international: SmsProvider

    def provider_for(self, phone: str) -> SmsProvider:
        return self.iran if phone.startswith(IRAN_PREFIX) else self.international

    async def send_code(self, phone: str, code: str, language: str) -> None:
        await self.provider_for(phone).send_code(phone, code, language)

    async def send_text(self, phone: str, text: str) -> None:
        await self.provider_for(phone).send_text(phone, text)


def build_provider(
    name: str, settings: Settings, http: httpx.AsyncClient, redis: Redis, keys: KeySpace
) -> SmsProvider:
    if name == "outbox":
        return OutboxProvider(redis, keys, echo=settings.environment.value == "development")
    if name == "smsir":
        return SmsIrProvider(
            http,
            settings.smsir_api_url,
            settings.smsir_api_key,
            settings.smsir_template_id,
            settings.smsir_code_parameter,
            settings.smsir_line_number,
        )
    if name == "twilio":
        return TwilioProvider(
            http,
            settings.twilio_api_url,
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
        )
    raise ValueError(f"unknown SMS provider {name!r} (outbox, smsir, twilio)")


def build_sms_router(
    settings: Settings, http: httpx.AsyncClient, redis: Redis, keys: KeySpace
) -> SmsRouter:
    return SmsRouter(
        iran=build_provider(settings.sms_provider, settings, http, redis, keys),
        international=build_provider(
            settings.sms_international_provider, settings, http, redis, keys
        ),
    )
