"""Fakes of the SMS providers' real HTTP APIs (sms.ir v1 verify, Twilio Messages)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakeSmsIr:
    """sms.ir: X-API-KEY header, JSON {mobile, templateId, parameters}; answers {status, message, data}."""

    api_key: str = "smsir-test-key"
    fail_with_status: int | None = None  # sms.ir business status other than 1
    received: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def verify(request: Request) -> JSONResponse:
            if request.headers.get("x-api-key") != self.api_key:
                return JSONResponse(
                    {"status": 0, "message": "کلید وب سرویس نامعتبر است", "data": None}, 401
                )
            body = await request.json()
            self.received.append(body)
            if self.fail_with_status is not None:
                return JSONResponse(
                    {"status": self.fail_with_status, "message": "خطا", "data": None}, 200
                )
            if not str(body.get("mobile", "")).startswith("09") or not body.get("parameters"):
                return JSONResponse({"status": 0, "message": "شماره نامعتبر", "data": None}, 400)
            return JSONResponse(
                {
                    "status": 1,
                    "message": "موفق",
                    "data": {"messageId": 1000 + len(self.received), "cost": 1.0},
                }
            )

        return Starlette(routes=[Route("/v1/send/verify", verify, methods=["POST"])])


@dataclass
class FakeTwilio:
    """Twilio: basic auth with the account SID, form-encoded To/From/Body; 201 with a message."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "twilio-token"
    received: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def messages(request: Request) -> JSONResponse:
            expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
            if request.path_params["sid"] != self.account_sid:
                return JSONResponse({"code": 20404, "message": "Not found", "status": 404}, 404)
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            self.received.append(form)
            if not str(form.get("To", "")).startswith("+"):
                return JSONResponse(
                    {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}, 400
                )
            return JSONResponse({"sid": "SM" + "1" * 32, "status": "queued", "to": form["To"]}, 201)

        return Starlette(
            routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", messages, methods=["POST"])]
        )
