"""Cross-cutting HTTP behaviour: problem documents, languages, headers, probes, docs, metrics."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from starlette.applications import Starlette

from asoud.app import create_app
from asoud.platform.settings import Settings

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.mark.parametrize(
    ("accept_language", "language", "title"),
    [
        ("en-US,en;q=0.9", "en", "Not found"),
        ("fa-IR", "fa", "یافت نشد"),
        ("ar;q=0.9, de;q=1.0", "ar", "غير موجود"),
        ("tr", "tr", "Bulunamadı"),
        ("de", "en", "Not found"),
        ("", "en", "Not found"),
    ],
)
async def test_problem_documents_speak_the_callers_language(
    client: httpx.AsyncClient, accept_language: str, language: str, title: str
) -> None:
    response = await client.get("/api/v1/nowhere", headers={"Accept-Language": accept_language})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["content-language"] == language
    problem = response.json()
    assert problem["title"] == title
    assert problem["type"] == "https://asoud.io/problems/not_found"
    assert problem["status"] == 404 and problem["code"] == "not_found" and problem["detail"]


@pytest.mark.parametrize("language", ["en", "fa", "ar", "tr"])
async def test_validation_errors_are_translated_per_field(
    client: httpx.AsyncClient, language: str
) -> None:
    response = await client.post(
        "/api/v1/auth/token", json={"phone": "09121234567"}, headers={"Accept-Language": language}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    [error] = problem["errors"]
    assert error["field"] == "body.code" and error["code"] == "missing"
    expected = {
        "en": "This field is required.",
        "fa": "این فیلد الزامی است.",
        "ar": "هذا الحقل مطلوب.",
        "tr": "Bu alan zorunludur.",
    }[language]
    assert error["message"] == expected
    if language in ("fa", "ar"):
        assert response.headers["x-text-direction"] == "rtl"


async def test_bad_bodies_get_clear_4xx(client: httpx.AsyncClient) -> None:
    malformed = await client.post(
        "/api/v1/auth/otp", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"
    form = await client.post("/api/v1/auth/otp", data={"phone": "09121234567"})
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    charset = await client.post(
        "/api/v1/auth/otp",
        content=b'{"phone": "0912"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert charset.status_code == 422  # parsed (and refused for the short number), not 415
    huge = await client.post(
        "/api/v1/auth/otp",
        content=b'{"phone": "' + b"9" * 300_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    wrong_method = await client.delete("/api/v1/auth/otp")
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == "method_not_allowed"


async def test_input_values_are_never_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/otp", json={"phone": "<script>0912"})
    assert response.status_code == 422
    assert "<script>" not in response.text


async def test_security_headers_request_id_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "client-supplied-id-1"})
    assert response.status_code == 200 and response.json() == {"status": "ok", "checks": {}}
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "geolocation=()" in response.headers["permissions-policy"]
    assert response.headers["x-request-id"] == "client-supplied-id-1"
    assert response.headers["api-version"] == "1"
    assert "strict-transport-security" not in response.headers  # only in production
    generated = await client.get("/livez", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{24}", generated.headers["x-request-id"])


async def test_hsts_in_production_settings(database_url: str, tmp_path: Any) -> None:
    from asoud.platform.middleware import RequestContextMiddleware

    seen: dict[str, str] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def capture(message: Any) -> None:
        if message["type"] == "http.response.start":
            seen.update({k.decode(): v.decode() for k, v in message["headers"]})

    middleware = RequestContextMiddleware(inner, hsts=True, trusted_proxy_hops=0)
    await middleware({"type": "http", "headers": [], "client": ("127.0.0.1", 1)}, None, capture)
    assert seen["strict-transport-security"].startswith("max-age=31536000")


async def test_cors_allows_only_listed_origins(database_url: str, tmp_path: Any) -> None:
    from tests.conftest import make_settings

    app = create_app(
        make_settings(database_url, tmp_path, cors_allow_origins="https://app.asoud.ir")
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        preflight = {"Access-Control-Request-Method": "POST"}
        good = await http.options(
            "/api/v1/auth/otp", headers={"Origin": "https://app.asoud.ir", **preflight}
        )
        bad = await http.options(
            "/api/v1/auth/otp", headers={"Origin": "https://evil.example", **preflight}
        )
    assert good.headers["access-control-allow-origin"] == "https://app.asoud.ir"
    assert "access-control-allow-origin" not in bad.headers


async def test_readyz_needs_the_database_and_reports_redis(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}

    platform = app.state.platform
    healthy = platform.redis
    platform.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        down = await client.get("/readyz")
    finally:
        await platform.redis.aclose()
        platform.redis = healthy
    # degraded, still ready: a Redis outage must not take every pod out of the Service
    assert down.status_code == 200
    assert down.json() == {"status": "degraded", "checks": {"database": "ok", "redis": "fail"}}
    assert "Connection" not in down.text and "127.0.0.1" not in down.text


async def test_unexpected_errors_leak_nothing(
    client: httpx.AsyncClient, app: Starlette, caplog: Any
) -> None:
    from asoud.identity.models import User

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SELECT secret_column FROM users WHERE password='hunter2'")

    original = User.get_or_create
    User.get_or_create = explode  # type: ignore[method-assign]
    try:
        platform = app.state.platform
        await client.post("/api/v1/auth/otp", json={"phone": "09121234567"})
        from tests.support.login import last_code

        code = await last_code(platform, "+989121234567")
        response = await client.post(
            "/api/v1/auth/token",
            json={"phone": "09121234567", "code": code},
            headers={"X-Request-ID": "trace-me-12345"},
        )
    finally:
        User.get_or_create = original  # type: ignore[method-assign]
    assert response.status_code == 500
    problem = response.json()
    assert problem["code"] == "internal_error" and "trace-me-12345" in problem["detail"]
    assert "hunter2" not in response.text and "SELECT" not in response.text
    assert "hunter2" not in caplog.text and "Traceback" not in response.text


async def test_a_client_that_leaves_mid_body_is_not_a_server_error(
    app: Starlette, buyer: Any, caplog: Any
) -> None:
    """Load generators and browsers hang up mid-request: answered 499 (counted as 4xx), no
    error logged, nothing for Sentry."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/cart/items",
        "raw_path": b"/api/v1/cart/items",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"64"),
            (b"authorization", buyer.headers["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    labels = {"route": "/api/v1/cart/items", "method": "POST", "status": "4xx"}
    before = REGISTRY.get_sample_value("asoud_http_requests_total", labels) or 0
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 499
    assert "unhandled exception" not in caplog.text
    assert REGISTRY.get_sample_value("asoud_http_requests_total", labels) == before + 1


async def test_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"] == "3.1.0"
    for path, method in [
        ("/api/v1/auth/otp", "post"),
        ("/api/v1/auth/token", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/me", "patch"),
        ("/livez", "get"),
        ("/readyz", "get"),
        ("/.well-known/jwks.json", "get"),
    ]:
        assert method in spec["paths"][path], (path, method)
    otp = spec["paths"]["/api/v1/auth/otp"]["post"]
    assert otp["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OtpRequest"
    }
    assert {"202", "422", "429"} <= otp["responses"].keys()
    assert otp["responses"]["422"]["content"]["application/problem+json"]
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
    for ref in re.findall(r'"\$ref": ?"#/components/schemas/([^"]+)"', response.text):
        assert ref in spec["components"]["schemas"], ref


async def test_openapi_document_is_valid(client: httpx.AsyncClient) -> None:
    from openapi_spec_validator import validate

    validate((await client.get("/api/v1/openapi.json")).json())


async def test_swagger_ui_is_served_offline(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.split("<body>")[1]  # no CDN
    bundle = await client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    init = await client.get("/docs/init.js")
    assert "/api/v1/openapi.json" in init.text


async def test_metrics_by_route_template_with_slo_bucket(client: httpx.AsyncClient) -> None:
    await client.get("/livez")
    await client.get("/api/v1/me")  # 401
    await client.get("/api/v1/no/such/path/unique-segment-4f2c")
    text = (await client.get("/metrics")).text
    assert 'asoud_http_requests_total{method="GET",route="/livez",status="2xx"}' in text
    assert 'asoud_http_requests_total{method="GET",route="/api/v1/me",status="4xx"}' in text
    # Raw paths never become labels (cardinality): the unmatched one is folded away.
    assert 'route="<unmatched>"' in text and "unique-segment-4f2c" not in text
    assert (
        'asoud_http_request_duration_seconds_bucket{le="0.2",method="GET",route="/livez"}' in text
    )
    assert "asoud_db_queries_per_request_bucket" in text
    assert "process_resident_memory_bytes" in text


async def test_queries_are_counted_per_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    from prometheus_client import REGISTRY

    def total(route: str) -> float:
        return (
            REGISTRY.get_sample_value("asoud_db_queries_per_request_sum", {"route": route}) or 0.0
        )

    before = total("/readyz")
    await client.get("/readyz")
    assert total("/readyz") - before == 1  # SELECT 1


async def test_logs_are_json_with_request_context_and_no_secrets(
    client: httpx.AsyncClient, app: Starlette, capsys: Any
) -> None:
    import json
    import logging

    from asoud.platform.logging import configure_logging

    configure_logging()
    try:
        platform = app.state.platform
        platform.sms.iran.echo = False
        await client.post("/api/v1/auth/otp", json={"phone": "09121234567"})
        from tests.support.login import last_code

        code = await last_code(platform, "+989121234567")
        tokens = (
            await client.post("/api/v1/auth/token", json={"phone": "09121234567", "code": code})
        ).json()
        platform.redis, healthy = (
            Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
            platform.redis,
        )
        try:
            await client.get(
                "/readyz",
                headers={
                    "X-Request-ID": "log-check-0001",
                    "Authorization": f"Bearer {tokens['access_token']}",
                },
            )
        finally:
            await platform.redis.aclose()
            platform.redis = healthy
    finally:
        logging.getLogger().handlers.clear()
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    warning = next(line for line in lines if "readiness check redis failed" in line["message"])
    assert warning["request_id"] == "log-check-0001" and warning["route"] == "/readyz"
    assert warning["level"] == "warning"
    everything = json.dumps(lines)
    for secret in (code, tokens["access_token"], tokens["refresh_token"], "9121234567"):
        assert secret not in everything


async def test_nul_bytes_are_refused_before_reaching_the_database(
    client: httpx.AsyncClient,
) -> None:
    body = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": "asr_abc\u0000defghijkl"}
    )
    assert body.status_code == 422
    query = await client.get("/api/v1/products", params={"q": "tea\x00"})
    assert query.status_code == 422
    callback = await client.get(
        "/api/v1/payments/callback/zarinpal", params={"Authority": "A\x00", "Status": "OK"}
    )
    assert callback.status_code == 404


async def test_metrics_are_not_on_the_api_port_when_they_have_their_own(
    database_url: str, tmp_path: Any
) -> None:
    from asoud.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, tmp_path, metrics_port=9100))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        hidden = await http.get("/metrics")
    assert hidden.status_code == 404 and "asoud_http" not in hidden.text
