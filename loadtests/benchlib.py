"""Shared pieces of the benchmarks: a throwaway database, `asoud serve`, and load drivers.

Benchmarks print figures; they assert nothing. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from asoud.platform.database import migrate
from asoud.platform.keyring import new_keyring, write_keyring
from asoud.platform.settings import load_settings

ADMIN_URL = os.environ.get(
    "ASOUD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ASOUD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
UNLIMITED = {
    # Limits stay on (their Redis round trip is part of the cost) but never trigger.
    "ASOUD_RATE_LIMIT_USER": "100000000/hour",
    "ASOUD_RATE_LIMIT_ANONYMOUS": "100000000/hour",
    "ASOUD_RATE_LIMIT_BURST": "100000000/minute",
    "ASOUD_RATE_LIMIT_LOGIN_PHONE": "100000000/minute",
    "ASOUD_RATE_LIMIT_LOGIN_IP": "100000000/minute",
    # the checkout benchmark's buyers keep many unpaid orders open
    "ASOUD_MAX_OPEN_ORDERS_PER_MARKET": "1000",
    "ASOUD_MAX_HELD_UNITS_PER_MARKET": "100000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def bench_environment() -> AsyncIterator[dict[str, str]]:
    """A fresh, migrated PostgreSQL database, a Redis prefix and a keyring, removed afterwards."""
    name = f"asoud_bench_{secrets.token_hex(4)}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    keyring = Path(tempfile.mkdtemp(prefix="asoud-bench-")) / "keyring.json"
    write_keyring(keyring, new_keyring())
    env = {
        "ASOUD_ENVIRONMENT": "test",
        "ASOUD_DATABASE_URL": database_url,
        "ASOUD_DATABASE_POOL_MAX": "20",
        "ASOUD_REDIS_URL": REDIS_URL,
        "ASOUD_REDIS_KEY_PREFIX": f"asoud-bench:{name}:",
        "ASOUD_JWT_KEYRING_FILE": str(keyring),
        "ASOUD_SECRET_KEY": secrets.token_urlsafe(48),
        "ASOUD_METRICS_PORT": "0",  # several workers may run; slo_check sets its own
        **UNLIMITED,
    }
    try:
        await migrate(load_settings(environ=env), report=lambda _: None)
        yield env
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        async for key in redis.scan_iter(match=f"asoud-bench:{name}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()


@contextlib.asynccontextmanager
async def running_server(env: dict[str, str], **extra: str) -> AsyncIterator[str]:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asoud",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env={**os.environ, **env, **extra},
        stdout=asyncio.subprocess.DEVNULL,
        # BENCH_SERVER_LOG=<file> keeps the server's JSON log for looking into errors
        stderr=open(os.environ["BENCH_SERVER_LOG"], "w")  # noqa: SIM115, ASYNC230
        if os.environ.get("BENCH_SERVER_LOG")
        else asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(300):
                try:
                    if (await http.get("/livez")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        await server.wait()


WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %.3f %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("WRKERRORS status=%d connect=%d read=%d write=%d timeout=%d\\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
"""


WRK_PATHS = """
paths = {%s}
counter = 0
request = function()
  counter = counter %% #paths + 1
  return wrk.format(nil, paths[counter])
end
"""


async def drive_wrk(
    url: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    paths: list[str] | None = None,
) -> dict[str, float]:
    """wrk (C, event loop) as the load generator: it costs far less CPU than a Python client.
    With ``paths``, requests go to those paths of ``url``'s host in turn (one wrk thread)."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    sequence = WRK_PATHS % ",".join(f'"{p}"' for p in paths) if paths else ""
    script.write_text(sequence + WRK_REPORT)
    args = ["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{seconds:.0f}s", "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    script.unlink()
    return _wrk_figures(out.decode())


def _wrk_figures(out: str) -> dict[str, float]:
    report = [line for line in out.splitlines() if line.startswith("WRK ")]
    if not report:
        raise RuntimeError(f"wrk printed no figures:\n{out[-2000:]}")
    fields = report[0].split()[1:]
    requests, errors, duration, p50, p95, p99 = map(float, fields)
    kinds = next(
        (line.split()[1:] for line in out.splitlines() if line.startswith("WRKERRORS")), []
    )
    return {
        "error_kinds": " ".join(k for k in kinds if not k.endswith("=0")),  # type: ignore[dict-item]
        "requests": requests,
        "errors": errors,
        "rps": requests / duration,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
    }


async def drive_wrk_threads(
    url: str, script: str, connections: int, seconds: float
) -> dict[str, float]:
    """wrk with one thread per connection, so the Lua ``script``'s per-thread state is per
    connection: a request goes only after the previous one's response, and a journey (add to
    cart, then check out) keeps its order at wrk's cost per request, not a Python client's.
    ``setup`` in the script may number the threads; WRK_REPORT is appended."""
    path = Path(tempfile.mkstemp(suffix=".lua")[1])
    path.write_text(script + WRK_REPORT)
    n = str(connections)
    args = ["wrk", "-t", n, "-c", n, "-d", f"{seconds:.0f}s", "-s", str(path), url]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    path.unlink()
    if os.environ.get("BENCH_WRK_OUT"):
        Path(os.environ["BENCH_WRK_OUT"]).write_bytes(out)
    return _wrk_figures(out.decode())


async def drive_python(
    action: Callable[[httpx.AsyncClient, int], Awaitable[bool]],
    base: str,
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    """Concurrent workers repeating ``action`` (True = success); times each action."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker(index: int) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                ok = await action(http, index)
                latencies.append(time.perf_counter() - started)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }


def print_header(title: str) -> None:
    print(title)
    print(
        f"{'scenario':40} {'requests':>9} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )


def print_row(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label:40} {r['requests']:>9.0f} {r['errors']:>6.0f} {r['rps']:>8.0f} "
        f"{r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} {r['p99_ms']:>7.1f}",
        flush=True,
    )
