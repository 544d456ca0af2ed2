"""Benchmark: background tasks and payments.

1. tasks/s of one `asoud worker` process draining 2,000 light tasks from the Redis stream;
2. enqueue-to-acknowledged latency of single tasks on an idle queue (an upper bound of
   enqueue-to-start), 200 samples;
3. payments/s through the Zarinpal adapter against the fake Zarinpal server (the same fake the
   tests use): top-up → the gateway's pay page → callback → verify → wallet credited.

Figures only; nothing is asserted. Usage: python loadtests/bench_background.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live with the tests

from benchlib import (
    REDIS_URL,
    bench_environment,
    drive_python,
    print_header,
    print_row,
    running_server,
)
from tests.support.fake_gateways import FakeZarinpal
from tests.support.servers import serve

from asoud.background.broker import create_broker
from asoud.identity.models import User
from asoud.identity.tokens import start_session
from asoud.platform import database
from asoud.platform.settings import load_settings
from asoud.runtime import Platform

TASKS, SAMPLES, PAYERS = 2000, 200, 16


async def _drained(redis: Redis, stream: str) -> bool:
    groups = await redis.xinfo_groups(stream)
    return all(g["pending"] == 0 and (g.get("lag") or 0) == 0 for g in groups)


async def bench_tasks(env: dict[str, str]) -> None:
    settings = load_settings(environ=env)
    broker = create_broker(settings)
    await broker.startup()
    redis = Redis.from_url(REDIS_URL)
    stream = settings.redis_key_prefix + "tasks"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asoud",
        "worker",
        "--concurrency",
        "50",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    task = broker.find_task("notifications.deliver")
    assert task is not None
    try:
        await task.kiq(delivery_id=-1)  # let the worker start and join the group
        for _ in range(600):
            groups = await redis.xinfo_groups(stream)
            if groups and groups[0]["consumers"] and await _drained(redis, stream):
                break
            await asyncio.sleep(0.05)
        began = time.perf_counter()
        for _ in range(TASKS):
            await task.kiq(delivery_id=-1)
        while not await _drained(redis, stream):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - began
        print(
            f"tasks: {TASKS} light tasks (one SQL query each) in {elapsed:.2f} s = "
            f"{TASKS / elapsed:.0f} tasks/s, one worker process, 50 at a time",
            flush=True,
        )

        latencies = []
        for _ in range(SAMPLES):
            started = time.perf_counter()
            await task.kiq(delivery_id=-1)
            while not await _drained(redis, stream):
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - started)
        q = statistics.quantiles(latencies, n=100)
        print(
            f"enqueue → acknowledged on an idle queue: p50 {q[49] * 1000:.1f} ms, "
            f"p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms ({SAMPLES} samples)",
            flush=True,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()
        await broker.shutdown()
        await redis.aclose()


async def payers(env: dict[str, str]) -> list[str]:
    settings = load_settings(environ=env)
    orm = await database.init_database(settings)
    platform = Platform.create(settings)
    try:
        tokens = []
        for n in range(PAYERS):
            user = await User.create(phone=f"+98912555{n:04d}")
            tokens.append((await start_session(platform, user)).access_token)
        return tokens
    finally:
        await platform.close()
        await database.close_database(orm)


async def bench_payments(env: dict[str, str], seconds: float) -> None:
    fake = FakeZarinpal()
    with serve(fake.app()) as zarinpal_url:
        port_env = {
            "ASOUD_ZARINPAL_API_URL": zarinpal_url,
            "ASOUD_ZARINPAL_STARTPAY_URL": f"{zarinpal_url}/pg/StartPay/",
            "ASOUD_ZARINPAL_MERCHANT_ID": fake.merchant_id,
        }
        tokens = await payers({**env, **port_env})
        async with (
            running_server({**env, **port_env}, ASOUD_PUBLIC_BASE_URL="http://placeholder") as base,
            httpx.AsyncClient() as browser,
        ):

            async def pay(http: httpx.AsyncClient, index: int) -> bool:
                auth = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
                started = await http.post(
                    "/api/v1/wallet/topups",
                    headers=auth,
                    json={"amount": {"amount": "10000", "currency": "IRT"}, "gateway": "zarinpal"},
                )
                if started.status_code != 201:
                    return False
                back = await browser.get(started.json()["redirect_url"], params={"pay": "1"})
                callback = urlsplit(back.headers["location"])
                settled = await http.get(f"{callback.path}?{callback.query}")
                return settled.status_code == 303 and "succeeded" in settled.headers["location"]

            await drive_python(pay, base, min(2.0, seconds), 8)
            result = await drive_python(pay, base, seconds, 8)
        print_header("payments through the Zarinpal adapter (fake Zarinpal on loopback), 8 payers")
        print_row("top-up → pay → callback → verify", result)
        print(
            f"(payments/s = {result['rps']:.0f}; verify calls at the gateway: {fake.verify_calls})"
        )


async def main(seconds: float) -> int:
    async with bench_environment() as env:
        await bench_tasks(env)
        await bench_payments(env, seconds)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    sys.exit(asyncio.run(main(parser.parse_args().seconds)))
