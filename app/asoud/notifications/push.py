"""Firebase Cloud Messaging HTTP v1: a service-account JWT is exchanged for an OAuth2 access
token (cached until shortly before it expires), then POST …/messages:send per device."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class PushError(Exception):
    """FCM did not accept the message (retry later)."""


class UnregisteredDevice(Exception):
    """The token no longer reaches an app: forget the device."""


@dataclass
class FcmPush:
    http: httpx.AsyncClient
    api_url: str
    token_url: str
    project_id: str
    service_account_email: str
    private_key: str
    _token: tuple[str, float] | None = field(default=None, repr=False)

    async def _access_token(self) -> str:
        if self._token and self._token[1] > time.time() + 60:
            return self._token[0]
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self.service_account_email,
                "scope": SCOPE,
                "aud": self.token_url,
                "iat": now,
                "exp": now + 3600,
            },
            self.private_key,
            algorithm="RS256",
        )
        try:
            response = await self.http.post(
                self.token_url,
                data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "assertion": assertion,
                },
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PushError(f"token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code != 200 or "access_token" not in body:
            raise PushError(f"token refused: http {response.status_code}")
        self._token = (str(body["access_token"]), now + float(body.get("expires_in", 3600)))
        return self._token[0]

    async def send(self, device_token: str, title: str, body: str, data: dict[str, str]) -> str:
        url = f"{self.api_url.rstrip('/')}/v1/projects/{self.project_id}/messages:send"
        message: dict[str, Any] = {
            "message": {
                "token": device_token,
                "notification": {"title": title, "body": body},
                "data": data,
            }
        }
        try:
            response = await self.http.post(
                url,
                json=message,
                headers={"Authorization": f"Bearer {await self._access_token()}"},
            )
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PushError(f"fcm unreachable: {type(exc).__name__}") from None
        if response.status_code == 404 or "UNREGISTERED" in str(answer.get("error", {})):
            raise UnregisteredDevice()
        if response.status_code != 200:
            raise PushError(f"fcm refused: http {response.status_code}")
        return str(answer.get("name", ""))
