"""The README's first command on a clean directory: embedded default, demo data, login works."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_quickstart_serves_docs_and_a_newcomer_logs_in(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASOUD_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asoud",
        "quickstart",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(600):  # until the server answers (start-up includes migrations)
                try:
                    if (await http.get("/livez")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            ready = await http.get("/readyz")
            assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
            assert (await http.get("/docs")).status_code == 200

            assert (
                await http.post("/api/v1/auth/otp", json={"phone": "09121111111"})
            ).status_code == 202
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            match = re.search(rb"one-time code for \+989121111111: (\d{6})", line)
            assert match, line
            tokens = (
                await http.post(
                    "/api/v1/auth/token",
                    json={"phone": "09121111111", "code": match.group(1).decode()},
                )
            ).json()
            me = await http.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert me.status_code == 200
            assert me.json()["display_name"] == "Demo customer"  # seeded demo data

            # the demo catalogue works on SQLite too: browse, search, buy
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            products = (await http.get("/api/v1/products", params={"q": "زعفران"})).json()["items"]
            assert [p["name"] for p in products] == ["Saffron 4.6 g"]
            categories = (
                await http.get("/api/v1/categories", headers={"Accept-Language": "fa"})
            ).json()
            assert categories["items"][0]["name"] == "کالا"
            added = await http.post(
                "/api/v1/cart/items",
                json={"product_id": products[0]["id"], "quantity": 2},
                headers=auth,
            )
            assert added.status_code == 201, added.text
            order = await http.post(
                "/api/v1/checkout",
                json={"market_id": products[0]["market_id"]},
                headers=auth | {"Idempotency-Key": "quickstart-1"},
            )
            assert order.status_code == 201, order.text
            assert order.json()["total"] == {"amount": "2500000", "currency": "IRT"}
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert b"ASOUD is starting on" in stderr and b"/docs" in stderr
    assert (tmp_path / ".asoud" / "asoud.sqlite3").exists()
    assert (tmp_path / ".asoud" / "keyring.json").stat().st_mode & 0o777 == 0o600
