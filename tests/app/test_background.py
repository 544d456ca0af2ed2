"""Background work: retries that really wait, dead letters, real workers on the Redis stream,
and a worker killed in the middle of a task."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY as METRICS

from asoud.background import broker as background
from asoud.background.models import DeadLetter
from asoud.orders.models import Order
from asoud.payments.models import PaymentSession
from asoud.platform.settings import Settings
from tests.conftest import make_settings
from tests.support.fake_gateways import FakeZarinpal
from tests.support.market import GENEROUS_LIMITS, Actor, published_market, published_product
from tests.support.servers import serve


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [background.retry_delay(n, 5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert background.retry_delay(30, 5) == 600


@pytest.fixture
def flaky_task() -> Iterator[list[float]]:
    """A task that fails twice and then succeeds, recording when each attempt started."""
    attempts: list[float] = []

    async def flaky() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("downstream hiccup")
        return "done"

    async def hopeless() -> None:
        attempts.append(time.monotonic())
        raise ValueError("always")

    background.task("test.flaky", max_attempts=5)(flaky)
    background.task("test.hopeless", max_attempts=3)(hopeless)
    yield attempts
    del background.REGISTRY["test.flaky"], background.REGISTRY["test.hopeless"]


async def test_retries_wait_then_succeed(
    app: Any, database_url: str, tmp_path: Path, flaky_task: list[float]
) -> None:
    settings = make_settings(
        database_url, tmp_path, redis_url="memory://", task_retry_base_seconds=0.2
    )
    broker = background.create_broker(settings)
    await broker.startup()
    try:
        await background.enqueue(broker, "test.flaky")
        for _ in range(200):
            await broker.wait_all()  # type: ignore[attr-defined]
            if len(flaky_task) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await broker.shutdown()
    assert len(flaky_task) == 3
    gaps = [b - a for a, b in itertools.pairwise(flaky_task)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # the backoff really waited, and doubled
    assert await DeadLetter.all().count() == 0


async def test_exhausted_retries_land_in_the_dead_letter_store(
    app: Any,
    client: httpx.AsyncClient,
    database_url: str,
    tmp_path: Path,
    flaky_task: list[float],
    staff: Actor,
) -> None:
    settings = make_settings(
        database_url, tmp_path, redis_url="memory://", task_retry_base_seconds=0.01
    )
    broker = background.create_broker(settings)
    before = (
        METRICS.get_sample_value("asoud_task_dead_letters_total", {"task": "test.hopeless"}) or 0
    )
    await broker.startup()
    try:
        await background.enqueue(broker, "test.hopeless")
        for _ in range(200):
            await broker.wait_all()  # type: ignore[attr-defined]
            if await DeadLetter.exists(task_name="test.hopeless"):
                break
            await asyncio.sleep(0.02)
    finally:
        await broker.shutdown()
    [letter] = await DeadLetter.all()
    assert (letter.task_name, letter.attempts, letter.error_type) == (
        "test.hopeless",
        3,
        "ValueError",
    )
    assert len(flaky_task) == 3
    assert (
        METRICS.get_sample_value("asoud_task_dead_letters_total", {"task": "test.hopeless"})
        == before + 1
    )
    listed = await client.get("/api/v1/admin/dead-letters", headers=staff.headers)
    assert [item["task_name"] for item in listed.json()["items"]] == ["test.hopeless"]


# -- real workers on the Redis stream ---------------------------------------------------------


@pytest.fixture
def blocking_zarinpal() -> Iterator[tuple[FakeZarinpal, str, threading.Event, threading.Event]]:
    """Zarinpal whose first verification hangs until released, to kill a worker inside it."""
    fake = FakeZarinpal()
    entered, release = threading.Event(), threading.Event()
    original = fake.app()
    first = [True]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("verify.json") and first[0]:
            first[0] = False
            entered.set()
            await asyncio.to_thread(release.wait, 30)
        await original(scope, receive, send)

    with serve(app) as url:
        yield fake, url, entered, release
        release.set()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        **GENEROUS_LIMITS,
        "public_base_url": "http://testserver",
        "task_redelivery_after_ms": 1500,
    }
    if "blocking_zarinpal" in request.fixturenames:
        fake, url, _, _ = request.getfixturevalue("blocking_zarinpal")
        overrides.update(
            zarinpal_api_url=url,
            zarinpal_startpay_url=f"{url}/pg/StartPay/",
            zarinpal_merchant_id=fake.merchant_id,
        )
    return overrides


def _worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASOUD_")}
    for name in (
        "environment",
        "database_url",
        "redis_url",
        "redis_key_prefix",
        "secret_key",
        "jwt_keyring_file",
        "zarinpal_api_url",
        "zarinpal_startpay_url",
        "zarinpal_merchant_id",
        "task_redelivery_after_ms",
        "public_base_url",
    ):
        env["ASOUD_" + name.upper()] = str(getattr(settings, name))
    env["ASOUD_PAYMENT_RECONCILE_AFTER_SECONDS"] = "60"
    env["ASOUD_METRICS_PORT"] = "0"
    return env


@pytest.fixture
async def stream(settings: Settings) -> AsyncIterator[Any]:
    """A client of the same stream the workers read."""
    broker = background.create_broker(settings)
    await broker.startup()
    yield broker
    await broker.shutdown()


async def _start_worker(
    settings: Settings, metrics_port: int = 0, *, log: Any = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asoud",
        "worker",
        "--concurrency",
        "4",
        env={**_worker_env(settings), "ASOUD_METRICS_PORT": str(metrics_port)},
        stdout=log,
        stderr=log,
    )


async def _eventually(check: Any, what: str, attempts: int = 600) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_worker_runs_a_task_from_the_stream(
    free_tcp_port_factory: Any,
    tmp_path: Path,
    client: httpx.AsyncClient,
    settings: Settings,
    stream: Any,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
) -> None:
    market = await published_market(client, owner, staff, "task-shop")
    product = await published_product(client, owner, staff, market["id"], stock=4)
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 4},
        headers=buyer.headers,
    )
    order = (
        await client.post(
            "/api/v1/checkout", json={"market_id": market["id"]}, headers=buyer.headers
        )
    ).json()
    await Order.filter(id=order["id"]).update(
        reserved_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    metrics_port = free_tcp_port_factory()
    worker_log = tmp_path / "worker.log"
    worker = await _start_worker(settings, metrics_port, log=worker_log.open("wb"))
    try:
        await background.enqueue(stream, "orders.release_expired_holds")

        async def released() -> bool:
            return (await Order.get(id=order["id"])).status.value == "cancelled"

        await _eventually(released, "the worker released the expired hold")

        async def counted() -> bool:  # the worker's own /metrics, as the PodMonitor scrapes it
            try:
                async with httpx.AsyncClient() as http:
                    text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
            except httpx.TransportError:
                return False
            return (
                'asoud_tasks_total{result="success",task="orders.release_expired_holds"} 1.0'
                in text
                and "asoud_task_duration_seconds_bucket" in text
            )

        await _eventually(counted, "the worker exported its task metrics")
    finally:
        worker.send_signal(signal.SIGTERM)  # graceful: finishes in-flight work, then exits
        assert await asyncio.wait_for(worker.wait(), 60) == 0
    # a graceful stop is quiet: no error, no traceback (the ORM closes in its own context)
    logged = worker_log.read_text()
    assert "Traceback" not in logged and '"level": "error"' not in logged, logged[-2000:]
    assert "Context" not in logged, logged[-2000:]


async def test_killed_worker_task_is_redelivered_and_takes_effect_once(
    client: httpx.AsyncClient,
    settings: Settings,
    stream: Any,
    owner: Actor,
    staff: Actor,
    buyer: Actor,
    blocking_zarinpal: tuple[FakeZarinpal, str, threading.Event, threading.Event],
) -> None:
    fake, _, entered, release = blocking_zarinpal
    market = await published_market(client, owner, staff, "crash-shop")
    product = await published_product(client, owner, staff, market["id"], price="500000", stock=5)
    await client.post(
        "/api/v1/cart/items",
        json={"product_id": product["id"], "quantity": 1},
        headers=buyer.headers,
    )
    order = (
        await client.post(
            "/api/v1/checkout",
            json={"market_id": market["id"], "payment_method": "online"},
            headers=buyer.headers,
        )
    ).json()
    session = (
        await client.post(
            "/api/v1/payments",
            json={"target": "order", "target_id": order["id"], "gateway": "zarinpal"},
            headers=buyer.headers,
        )
    ).json()
    async with httpx.AsyncClient() as browser:  # the buyer pays but never comes back
        await browser.get(session["redirect_url"], params={"pay": "1"})
    await PaymentSession.filter(id=session["id"]).update(
        created_at=datetime.now(UTC) - timedelta(hours=1)
    )

    first = await _start_worker(settings)
    await background.enqueue(stream, "payments.reconcile")
    assert await asyncio.to_thread(entered.wait, 60), "the worker never reached the gateway"
    first.kill()  # SIGKILL in the middle of the task: nothing acknowledged
    await first.wait()
    release.set()
    assert (await Order.get(id=order["id"])).status.value == "processing"

    second = await _start_worker(settings)
    try:

        async def paid() -> bool:
            return (await Order.get(id=order["id"])).status.value == "paid"

        await _eventually(paid, "the second worker reclaimed and finished the task")
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 60)
    stock = await __import__("asoud.catalog.models", fromlist=["Product"]).Product.get(
        id=product["id"]
    )
    assert (stock.stock, stock.reserved, stock.sales_count) == (4, 0, 1)  # taken exactly once
    assert fake.payments[next(iter(fake.payments))]["verified"] is True


async def test_staff_requeue_a_dead_letter_once(
    client: httpx.AsyncClient, platform: Any, staff: Actor, buyer: Actor
) -> None:
    letter = await DeadLetter.create(
        task_id="t1",
        task_name="orders.release_expired_holds",
        attempts=5,
        error_type="TimeoutError",
    )
    stream_key = platform.keys("tasks")
    before = await platform.redis.xlen(stream_key)
    assert (
        await client.post(f"/api/v1/admin/dead-letters/{letter.id}/requeue", headers=buyer.headers)
    ).status_code == 403
    first = await client.post(
        f"/api/v1/admin/dead-letters/{letter.id}/requeue", headers=staff.headers
    )
    assert first.status_code == 200 and first.json()["requeued_at"]
    assert await platform.redis.xlen(stream_key) == before + 1  # on the stream for the workers
    again = await client.post(
        f"/api/v1/admin/dead-letters/{letter.id}/requeue", headers=staff.headers
    )
    assert again.status_code == 409 and await platform.redis.xlen(stream_key) == before + 1
    assert (await client.get("/api/v1/admin/dead-letters", headers=staff.headers)).json()[
        "items"
    ] == []


def test_the_quick_start_schedule_fires_each_task_on_its_minute() -> None:
    from asoud.background.scheduler import due_tasks

    at_five = due_tasks(datetime(2026, 11, 24, 12, 5, tzinfo=UTC))
    assert {
        "payments.reconcile",
        "orders.release_expired_holds",
        "catalog.warm_cache",
        "notifications.deliver_due",
    } <= set(at_five)
    at_six = due_tasks(datetime(2026, 11, 24, 12, 6, tzinfo=UTC))
    assert "catalog.warm_cache" not in at_six and "payments.reconcile" in at_six
    assert "notifications.cleanup" in due_tasks(datetime(2026, 11, 24, 3, 17, tzinfo=UTC))
    assert "currencies.refresh_rates" in due_tasks(datetime(2026, 11, 24, 9, 7, tzinfo=UTC))
