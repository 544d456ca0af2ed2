"""Operator benchmark (figures, not a test): 500 AsoudStores created at once in the kmock
emulator; prints the time until every store has its children and conditions, the time until
all are Ready once their migration Jobs complete, and the operator process's peak memory.

Usage: python loadtests/bench_operator.py [--stores 500]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from kmock import Server, resource

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.operator.emulator import AsoudEmulator

NAMESPACE = "bench"
CHILDREN = (
    ("batch/v1/jobs", "{}-migrate-1-0-0"),
    ("v1/configmaps", "{}-config"),
    ("v1/services", "{}-api"),
    ("v1/secrets", "{}-signing-keys"),
    ("monitoring.coreos.com/v1/prometheusrules", "{}-slo"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _has(emulator: AsoudEmulator, plural: str, name: str) -> bool:
    key = (resource(plural), NAMESPACE, name)
    return key in emulator.objects and not emulator.objects[key].deleted


def _store(emulator: AsoudEmulator, name: str) -> dict[str, Any]:
    return dict(emulator.objects[(resource("asoud.io/v1alpha1/asoudstores"), NAMESPACE, name)].raw)


def _condition(store: dict[str, Any], kind: str) -> str | None:
    for condition in (store.get("status") or {}).get("conditions") or []:
        if condition["type"] == kind:
            return str(condition["status"])
    return None


async def main(stores: int) -> None:
    async with AsoudEmulator(keep_requests=False) as emulator, Server(emulator) as server:
        url = str(server.url).rstrip("/")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for name, value in (
                ("db", "postgres://asoud@db/asoud"),
                ("redis", "redis://127.0.0.1:6379/0"),
            ):
                await http.post(
                    f"/api/v1/namespaces/{NAMESPACE}/secrets",
                    json={
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": name, "namespace": NAMESPACE},
                        "data": {"url": base64.b64encode(value.encode()).decode()},
                    },
                )
            process = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "asoud-operator"),
                f"--metrics-port={_free_port()}",
                f"--liveness=http://127.0.0.1:{_free_port()}/healthz",
                env={
                    **os.environ,
                    "ASOUD_OPERATOR_KUBE_SERVER": url,
                    "ASOUD_OPERATOR_RECONCILE_SECONDS": "30",
                },
                stdout=asyncio.subprocess.DEVNULL,
                stderr=open(os.environ.get("ASOUD_BENCH_OPERATOR_LOG", os.devnull), "w"),  # noqa: SIM115, ASYNC230
            )
            await asyncio.sleep(2)  # the operator lists and starts watching
            names = [f"store-{n:04d}" for n in range(stores)]
            started = time.perf_counter()
            for name in names:
                await http.post(
                    f"/apis/asoud.io/v1alpha1/namespaces/{NAMESPACE}/asoudstores",
                    json={
                        "apiVersion": "asoud.io/v1alpha1",
                        "kind": "AsoudStore",
                        "metadata": {"name": name, "namespace": NAMESPACE},
                        "spec": {
                            "version": "1.0.0",
                            "database": {"secretRef": {"name": "db"}},
                            "redis": {"secretRef": {"name": "redis"}},
                        },
                    },
                )
            created = time.perf_counter() - started
            pending = set(names)
            while pending:
                pending = {
                    n
                    for n in pending
                    if not (
                        all(_has(emulator, plural, child.format(n)) for plural, child in CHILDREN)
                        and _condition(_store(emulator, n), "Migrated") is not None
                    )
                }
                await asyncio.sleep(0.2)
            children_at = time.perf_counter() - started
            for name in names:  # the Job controller: every migration succeeds
                await http.patch(
                    f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}-migrate-1-0-0/status",
                    json={
                        "status": {
                            "succeeded": 1,
                            "conditions": [{"type": "Complete", "status": "True"}],
                        }
                    },
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            jobs_done = time.perf_counter()
            pending = set(names)
            deadline = time.perf_counter() + 600
            while pending:
                pending = {n for n in pending if _condition(_store(emulator, n), "Ready") != "True"}
                if time.perf_counter() > deadline or process.returncode is not None:
                    raise SystemExit(
                        f"gave up: {len(pending)} stores not Ready (operator exit {process.returncode})"
                    )
                await asyncio.sleep(0.2)
            ready_at = time.perf_counter() - jobs_done
            peak = _peak_rss_mib(process.pid)
            process.terminate()
            await process.wait()
    per_store = len(CHILDREN) + 2
    print(
        f"{stores} AsoudStores against the kmock emulator, one operator process, {os.cpu_count()} cores shared with the emulator"
    )
    print(
        f"  created in {created:.1f} s; all with children (>= {per_store} objects each) and conditions after {children_at:.1f} s"
        f" ({stores / children_at:.0f} stores/s)"
    )
    print(
        f"  all Ready {ready_at:.1f} s after their migration Jobs completed (API, worker, scheduler Deployments each)"
    )
    print(f"  operator peak memory (VmHWM): {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=500)
    asyncio.run(main(parser.parse_args().stores))
