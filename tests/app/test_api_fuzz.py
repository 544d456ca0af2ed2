"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis), as four
identities: anonymous, a customer, a market owner and staff, with every check schemathesis
has (server errors, status codes, content types, headers, response schemas, negative data
rejected, positive data accepted, authentication ignored, use after free ...), and a stateful
run that chains operations through the links schemathesis infers.

The app runs in a real uvicorn server on loopback against the test PostgreSQL and Redis.
The number of cases and operations is printed (the closing note of the hardening issue).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation.case import Case as GeneratedCase
from schemathesis.specs.openapi.checks import positive_data_acceptance

from asoud.app import create_app
from asoud.platform.keyring import read_keyring
from asoud.platform.settings import Settings
from tests.conftest import make_settings
from tests.support.fake_gateways import FakeCryptoProcessor, FakePayPal, FakeStripe, FakeZarinpal
from tests.support.servers import serve

# Bodies naming a phone number: any E.164-shaped string is schema-valid, but whether it is a
# real mobile number is phonenumbers' decision (a 422 for valid-looking data is right there).
PHONE_BODIES = {
    "POST /api/v1/auth/otp",
    "POST /api/v1/auth/token",
    "POST /api/v1/wallet/transfers",
    "POST /api/v1/markets/{market_id}/members",
    "POST /api/v1/markets/{market_id}/discounts",
    "GET /api/v1/admin/users",
}
# A category's parent, level and fee depend on the tree the deployment holds (a fee only on a
# third-level leaf, three levels at most, a parent that exists and is live): no JSON Schema
# states them, so a schema-valid body is rightly a 422 there (test_categories covers them).
TREE_BODIES = {
    "POST /api/v1/admin/categories",
    "PATCH /api/v1/admin/categories/{category_id}",
    "POST /api/v1/admin/categories/import",
}
# Webhooks authenticate their body with an HMAC signature header: no schema-valid request a
# generator invents carries a valid one, so 400 webhook_signature_invalid is the right answer.
SIGNED_BODIES = {
    "POST /api/v1/payments/webhooks/stripe",
    "POST /api/v1/payments/webhooks/crypto",
}
AnyCase = GeneratedCase[Any]
EXAMPLES = int(__import__("os").environ.get("ASOUD_FUZZ_EXAMPLES", "25"))


@dataclass
class Identity:
    name: str
    headers: dict[str, str]


async def _user(conn: asyncpg.Connection, settings: Settings, phone: str, staff: bool) -> str:
    """A user with a live session and an access token signed by the app's own keyring."""
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO identity_user (id, phone, display_name, is_staff, is_active, created_at,"
        " updated_at) VALUES ($1, $2, '', $3, true, now(), now())",
        user_id,
        phone,
        staff,
    )
    await conn.execute(
        "INSERT INTO identity_refresh_token (id, user_id, session_id, token_hash, created_at,"
        " expires_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 day')",
        uuid.uuid4(),
        user_id,
        session_id,
        secrets.token_hex(32),
    )
    now = int(datetime.now(UTC).timestamp())
    assert settings.jwt_keyring_file is not None
    return read_keyring(settings.jwt_keyring_file).sign(
        {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": secrets.token_hex(8),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
    )


async def _world(settings: Settings, url: str) -> tuple[list[Identity], int]:
    """Four identities, a market (in USD: prices with cents are valid there) with a product
    for the owner's operations, and a leaf category."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        tokens = {
            name: await _user(conn, settings, phone, name == "staff")
            for name, phone in (
                ("customer", "+989121110001"),
                ("owner", "+989121110002"),
                ("staff", "+989121110003"),
            )
        }
    finally:
        await conn.close()
    auth = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        categories = (await http.get("/api/v1/categories")).json()
        leaf = _first_leaf(categories)
        market = await http.post(
            "/api/v1/markets",
            headers=auth["owner"],
            json={
                "type": "shop",
                "business_id": "fuzz-market",
                "name": "Fuzz market",
                "category_id": leaf,
                "city": "Tehran",
                "address": "1 Fuzz St",
                "latitude": "35.7",
                "longitude": "51.4",
                "contact_phone": "+982188000000",
                "currency": "USD",
            },
        )
        assert market.status_code == 201, market.text
        market_id = market.json()["id"]
        product = await http.post(
            f"/api/v1/markets/{market_id}/products",
            headers=auth["owner"],
            json={"name": "Fuzz", "price": "1000", "stock": 1000},
        )
        assert product.status_code == 201, product.text
    identities = [Identity("anonymous", {})] + [Identity(n, h) for n, h in auth.items()]
    return identities, leaf


def _first_leaf(nodes: Any) -> int:
    for node in nodes if isinstance(nodes, list) else nodes.get("items", []):
        children = node.get("children") or []
        if not children:
            return int(node["id"])
        return _first_leaf(children)
    raise AssertionError("no category")


@pytest.fixture(scope="module")
def fuzzed(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[schemathesis.BaseSchema, list[Identity], int]]:
    zarinpal, stripe, paypal, crypto = (
        FakeZarinpal(),
        FakeStripe(),
        FakePayPal(),
        FakeCryptoProcessor(),
    )
    paypal_url: dict[str, str] = {}
    with (
        serve(zarinpal.app()) as zarinpal_url,
        serve(stripe.app()) as stripe_url,
        serve(paypal.app(paypal_url)) as paypal_api,
        serve(crypto.app()) as crypto_url,
    ):
        paypal_url["url"] = paypal_api
        app_settings = make_settings(
            database_url,
            tmp_path_factory.mktemp("fuzz"),
            # the fuzzer sends thousands of requests from one address
            rate_limit_anonymous="1000000/hour",
            rate_limit_user="1000000/hour",
            rate_limit_burst="1000000/minute",
            rate_limit_login_phone="1000000/minute",
            rate_limit_login_ip="1000000/minute",
            # every gateway, each a fake speaking its real HTTP API
            public_base_url="http://127.0.0.1",
            payment_gateways="zarinpal,stripe,paypal,crypto",
            zarinpal_api_url=zarinpal_url,
            zarinpal_startpay_url=f"{zarinpal_url}/pg/StartPay/",
            zarinpal_merchant_id=zarinpal.merchant_id,
            stripe_api_url=stripe_url,
            stripe_secret_key=stripe.secret_key,
            stripe_webhook_secret=stripe.webhook_secret,
            paypal_api_url=paypal_api,
            paypal_client_id=paypal.client_id,
            paypal_client_secret=paypal.client_secret,
            crypto_api_url=crypto_url,
            crypto_api_key=crypto.api_key,
            crypto_webhook_secret=crypto.webhook_secret,
        )
        asyncio.run(_truncate(app_settings))
        with serve(create_app(app_settings), lifespan=True) as url:
            identities, leaf = asyncio.run(_world(app_settings, url))
            yield schemathesis.openapi.from_url(url + "/api/v1/openapi.json"), identities, leaf


async def _truncate(settings: Settings) -> None:
    """This module's server shares the run's database: start from empty tables, a tree."""
    from asoud.demo import seed_taxonomy
    from asoud.platform import database

    conn = await asyncpg.connect(settings.database_url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'tortoise_migrations'"
        )
        await conn.execute(
            "TRUNCATE " + ", ".join(f'"{row["tablename"]}"' for row in tables) + " CASCADE"
        )
    finally:
        await conn.close()
    context = await database.init_database(settings)
    try:
        await seed_taxonomy()
    finally:
        await database.close_database(context)


def _repair_cross_field_rules(case: AnyCase, leaf_category: int) -> None:
    """Rules no JSON Schema states, made true in "valid" cases (each has its own tests): a
    market's category is a leaf of the taxonomy the deployment holds; a day's opening hours
    open before they close and do not overlap; quiet hours do not start when they end; a rate
    joins two different currencies."""
    if not (case.meta and case.meta.generation.mode.is_positive):
        return
    if isinstance(case.body, dict):
        if "category_id" in case.body and "/markets" in case.operation.path:
            case.body["category_id"] = leaf_category
        if case.body.get("quiet_start") and case.body.get("quiet_start") == case.body.get(
            "quiet_end"
        ):  # an empty span of quiet hours is refused (its own test)
            case.body["quiet_end"] = "23:59" if case.body["quiet_start"] != "23:59" else "00:00"
        hours = case.body.get("opening_hours")
        if isinstance(hours, dict):
            case.body["opening_hours"] = {
                day: _disjoint(spans)  # type: ignore[arg-type, misc]
                for day, spans in hours.items()
            }
    path = case.path_parameters or {}
    if path.get("base") is not None and path.get("base") == path.get("quote"):
        path["quote"] = "USD" if path["base"] != "USD" else "EUR"


def _disjoint(spans: list[list[str]]) -> list[list[str]]:
    kept: list[list[str]] = []
    for opening, closing in sorted(span for span in spans if span[0] < span[1]):
        if not kept or kept[-1][1] <= opening:
            kept.append([opening, closing])
    return kept


def _opaque_tokens(case: AnyCase) -> None:
    """A cursor is an opaque token from next_cursor: a random string is not a valid one, so
    "valid" cases leave it out (forged cursors have their own tests). An Idempotency-Key names
    one request: the generator reuses short keys for other bodies, which is rightly a 422
    (draft-ietf-httpapi-idempotency-key-header), so "valid" cases get a key of their own."""
    if not (case.meta and case.meta.generation.mode.is_positive):
        return
    if case.query:
        case.query.pop("cursor", None)
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())


def _checks_for(label: str) -> list[Any]:
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if not isinstance(check, type)]
    if label in PHONE_BODIES | SIGNED_BODIES | TREE_BODIES:
        checks = [c for c in checks if c is not positive_data_acceptance]
    return checks


def _fuzzer(operation: Any, identity: Identity, leaf: int, cases: list[int]) -> Callable[[], None]:
    """A hypothesis test of one operation as one identity, counting its cases in cases[0]."""
    checks = _checks_for(operation.label)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case: AnyCase) -> None:
        cases[0] += 1
        _opaque_tokens(case)
        _repair_cross_field_rules(case, leaf)
        case.call_and_validate(headers=identity.headers, checks=checks)

    return fuzz


def test_every_operation_as_every_identity_passes_every_check(
    fuzzed: tuple[schemathesis.BaseSchema, list[Identity], int],
) -> None:
    schema, identities, leaf = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 50, "the OpenAPI document lost its operations"
    # logging out ends the identity's session: it goes last, or everything after it is a 401
    operations.sort(key=lambda operation: operation.label == "POST /api/v1/auth/logout")
    cases = [0]
    failures: list[str] = []
    for identity in identities:
        for operation in operations:
            try:
                _fuzzer(operation, identity, leaf, cases)()
            except (Exception, BaseExceptionGroup) as exc:  # every failing operation, not one
                failures.append(f"{identity.name}: {operation.label}: {str(exc)[:1500]}")
    print(
        f"\nschemathesis: {cases[0]} cases over {len(operations)} operations "
        f"x {len(identities)} identities"
    )
    assert not failures, "\n\n".join(failures)


def test_chained_operations_as_the_owner_pass_every_check(
    fuzzed: tuple[schemathesis.BaseSchema, list[Identity], int],
) -> None:
    schema, identities, leaf = fuzzed
    owner = next(i for i in identities if i.name == "owner")
    machine = schema.as_state_machine()

    class OwnerSession(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: AnyCase) -> dict[str, Any]:
            _repair_cross_field_rules(case, leaf)
            _opaque_tokens(case)
            return {"headers": owner.headers}

        def validate_response(self, response: Any, case: AnyCase, **kwargs: Any) -> None:
            case.validate_response(response, checks=_checks_for(case.operation.label))

    OwnerSession.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
