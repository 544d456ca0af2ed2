"""Benchmark: requests/s and latency of /livez and GET /api/v1/me over loopback.

Starts `asoud serve` (one uvicorn process, as in production) against a throwaway PostgreSQL
database and a Redis key prefix, logs a user in through the real OTP flow, then drives each
endpoint with wrk for a fixed time and prints the figures. Usage:

    python loadtests/bench_identity.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import httpx
from benchlib import (
    REDIS_URL,
    bench_environment,
    drive_wrk,
    print_header,
    print_row,
    running_server,
)
from redis.asyncio import Redis


async def main(seconds: float, concurrency: int) -> int:
    async with bench_environment() as env, running_server(env) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            sent = await http.post("/api/v1/auth/otp", json={"phone": "09121234567"})
            assert sent.status_code == 202, sent.text
            redis = Redis.from_url(REDIS_URL)  # the test environment's outbox provider
            outbox = json.loads(
                (await redis.lrange(env["ASOUD_REDIS_KEY_PREFIX"] + "sms-outbox", 0, 0))[0]
            )
            await redis.aclose()
            tokens = (
                await http.post(
                    "/api/v1/auth/token", json={"phone": "09121234567", "code": outbox["code"]}
                )
            ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        print_header(
            f"ASOUD identity benchmark: {seconds:.0f} s per scenario, {concurrency} keep-alive "
            f"connections (wrk), one uvicorn process, PostgreSQL + Redis on loopback, "
            f"{os.cpu_count()} cores shared with the load generator"
        )
        for label, path, headers in [
            ("GET /livez", "/livez", {}),
            ("GET /api/v1/me", "/api/v1/me", auth),
        ]:
            await drive_wrk(base + path, headers, min(2.0, seconds), concurrency)  # warm-up
            print_row(label, await drive_wrk(base + path, headers, seconds, concurrency))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.seconds, arguments.concurrency)))
