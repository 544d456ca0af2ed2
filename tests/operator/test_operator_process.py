"""`asoud-operator` as a real process: it reconciles, serves /metrics and answers liveness."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx

from tests.operator.conftest import Cluster, eventually


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_console_script_reconciles_and_serves_metrics_and_liveness(cluster: Cluster) -> None:
    metrics_port, health_port = _free_port(), _free_port()
    script = Path(sys.executable).parent / "asoud-operator"
    process = await asyncio.create_subprocess_exec(
        str(script),
        f"--metrics-port={metrics_port}",
        f"--liveness=http://127.0.0.1:{health_port}/healthz",
        env={
            **os.environ,
            "ASOUD_OPERATOR_KUBE_SERVER": cluster.url,
            "ASOUD_OPERATOR_RECONCILE_SECONDS": "1",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await cluster.apply_store()
        await eventually(
            lambda: cluster.get("batch/v1/jobs", "acme-migrate-1-0-0"), "the Job", timeout=30
        )
        async with httpx.AsyncClient(timeout=5) as http:
            metrics = await eventually_text(
                http, f"http://127.0.0.1:{metrics_port}/metrics", 'type="SigningKeysReady"} 1.0'
            )
            health = await http.get(f"http://127.0.0.1:{health_port}/healthz")
        assert health.status_code == 200
        assert 'asoud_operator_reconciles_total{result="success"}' in metrics
        assert (
            'asoud_operator_store_condition{namespace="shop",status="True",store="acme",type="SigningKeysReady"} 1.0'
            in metrics
        )
        assert "asoud_operator_signing_key_age_seconds" in metrics
    finally:
        process.terminate()
        _, errors = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    assert b"Traceback" not in errors, errors.decode()[-2000:]


async def eventually_text(http: httpx.AsyncClient, url: str, needle: str) -> str:
    for _ in range(100):
        try:
            response = await http.get(url)
            if needle in response.text:
                return response.text
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never showed {needle}")
