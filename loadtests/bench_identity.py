"""Benchmark: requests/s and latency of /livez and GET /api/v1/me over loopback.

Starts `asoud serve` (one uvicorn process, as in production) against a throwaway PostgreSQL
database and a Redis key prefix, logs a user in through the real OTP flow, then drives each
endpoint with concurrent keep-alive clients for a fixed time and prints the figures.
It reports numbers; it asserts nothing. Usage:

    python loadtests/bench_identity.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from asoud.platform.database import migrate
from asoud.platform.keyring import new_keyring, write_keyring
from asoud.platform.settings import load_settings

ADMIN_URL = os.environ.get(
    "ASOUD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ASOUD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drive(
    base: str, path: str, headers: dict[str, str], seconds: float, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as http:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }


WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %.3f %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


async def _drive_wrk(
    base: str, path: str, headers: dict[str, str], seconds: float, concurrency: int
) -> dict[str, float]:
    """wrk (C, event loop) as the load generator: it costs far less CPU than a Python client."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_REPORT)
    args = ["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{seconds:.0f}s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(
        *args, base + path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    script.unlink()
    fields = next(line for line in out.decode().splitlines() if line.startswith("WRK ")).split()[1:]
    requests, errors, duration, p50, p95, p99 = map(float, fields)
    return {
        "requests": requests,
        "errors": errors,
        "rps": requests / duration,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }


async def main(seconds: float, concurrency: int) -> int:
    name = f"asoud_bench_{secrets.token_hex(4)}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    workdir = Path(tempfile.mkdtemp(prefix="asoud-bench-"))
    keyring = workdir / "keyring.json"
    write_keyring(keyring, new_keyring())
    port = _free_port()
    env = {
        **os.environ,
        "ASOUD_ENVIRONMENT": "test",
        "ASOUD_DATABASE_URL": database_url,
        "ASOUD_REDIS_URL": REDIS_URL,
        "ASOUD_REDIS_KEY_PREFIX": f"asoud-bench:{name}:",
        "ASOUD_JWT_KEYRING_FILE": str(keyring),
        "ASOUD_SECRET_KEY": secrets.token_urlsafe(48),
        # Limits stay on (their Redis round trip is part of the cost) but never trigger.
        "ASOUD_RATE_LIMIT_USER": "100000000/hour",
        "ASOUD_RATE_LIMIT_ANONYMOUS": "100000000/hour",
        "ASOUD_RATE_LIMIT_BURST": "100000000/minute",
    }
    server = None
    try:
        await migrate(load_settings(environ={}, database_url=database_url), report=lambda _: None)
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "asoud",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert server.stdout is not None
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(300):
                try:
                    if (await http.get("/livez")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            sent = await http.post("/api/v1/auth/otp", json={"phone": "09121234567"})
            assert sent.status_code == 202, sent.text
        # The test environment uses the outbox provider: read the code from Redis.
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        outbox = json.loads((await redis.lrange(f"asoud-bench:{name}:sms-outbox", 0, 0))[0])
        async with httpx.AsyncClient(base_url=base) as http:
            tokens = (
                await http.post(
                    "/api/v1/auth/token", json={"phone": "09121234567", "code": outbox["code"]}
                )
            ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}

        drive = _drive_wrk if shutil.which("wrk") else _drive
        print(
            f"ASOUD identity benchmark: {seconds:.0f} s per scenario, {concurrency} concurrent "
            f"keep-alive clients ({'wrk' if drive is _drive_wrk else 'httpx'}), one uvicorn process, "
            f"PostgreSQL + Redis on loopback, {os.cpu_count()} cores shared with the load generator"
        )
        print(
            f"{'scenario':24} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        )
        for label, path, headers in [
            ("GET /livez", "/livez", {}),
            ("GET /api/v1/me", "/api/v1/me", auth),
        ]:
            await drive(base, path, headers, min(2.0, seconds), concurrency)  # warm-up
            r = await drive(base, path, headers, seconds, concurrency)
            print(
                f"{label:24} {r['requests']:>9.0f} {r['errors']:>6.0f} {r['rps']:>8.0f} "
                f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f}"
            )
        async for key in redis.scan_iter(match=f"asoud-bench:{name}:*"):
            await redis.delete(key)
        await redis.aclose()
        return 0
    finally:
        if server is not None and server.returncode is None:
            server.send_signal(signal.SIGINT)
            await server.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.seconds, arguments.concurrency)))
