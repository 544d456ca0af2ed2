"""A fake of Google's OAuth2 token endpoint and the FCM HTTP v1 send API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class FakeFcm:
    project_id: str = "asoud-test"
    service_account: str = "push@asoud-test.iam.gserviceaccount.com"
    unregistered: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._access: set[str] = set()

    @property
    def private_key_pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def app(self, token_url: str) -> Starlette:
        async def token(req: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await req.body()).decode()).items()}
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            try:
                claims = jwt.decode(
                    form["assertion"],
                    self._key.public_key(),
                    algorithms=["RS256"],
                    audience=token_url,
                )
            except jwt.InvalidTokenError:
                return JSONResponse({"error": "invalid_grant"}, 400)
            if claims.get("iss") != self.service_account or "firebase.messaging" not in claims.get(
                "scope", ""
            ):
                return JSONResponse({"error": "invalid_scope"}, 400)
            access = "ya29." + secrets.token_urlsafe(16)
            self._access.add(access)
            self.tokens_issued += 1
            return JSONResponse(
                {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}
            )

        async def send(req: Request) -> Response:
            bearer = req.headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in self._access:
                return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, 401)
            if req.path_params["project"] != self.project_id:
                return JSONResponse({"error": {"code": 404, "status": "NOT_FOUND"}}, 404)
            message = (await req.json())["message"]
            if message["token"] in self.unregistered:
                return JSONResponse(
                    {
                        "error": {
                            "code": 404,
                            "status": "NOT_FOUND",
                            "details": [{"errorCode": "UNREGISTERED"}],
                        }
                    },
                    404,
                )
            self.sent.append(message)
            return JSONResponse(
                {"name": f"projects/{self.project_id}/messages/{secrets.token_hex(6)}"}
            )

        return Starlette(
            routes=[
                Route("/token", token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", send, methods=["POST"]),
            ]
        )
