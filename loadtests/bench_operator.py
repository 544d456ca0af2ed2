"""Operator benchmark (figures, not a test): N AsoudStores against the strict test API server.

The real `asoud-operator` runs as its own process, reaching the API server the in-cluster way
(TLS, a service-account token, the chart's RBAC). The Job and Deployment controllers are
played in the API server's process: a migration Job completes as soon as it is created, a
Deployment reports its replicas available as soon as its spec changes. For each N it prints:

- time until every store is Ready (phase Ready: migrated, rolled out, not degraded);
- steady state over a window: the operator's API requests per second and per pass, how the
  requests spread over the seconds (the busiest second against the mean: synchronized
  bursts would show as a large ratio), reconcile p99 from the operator's own histogram;
- the operator's peak memory (VmHWM).

Usage: python loadtests/bench_operator.py [--stores 100 500 1000] [--steady 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kube.apiserver import ApiServer, tls_server
from tests.kube.tls import make_pki
from tests.operator.conftest import OPERATOR_NAMESPACE, install_rbac

NAMESPACE = "bench"
OPERATOR = f"system:serviceaccount:{OPERATOR_NAMESPACE}:asoud-operator"
RESYNC_SECONDS = 30  # the chart's default reconcileSeconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _controllers(api: ApiServer) -> None:
    """Jobs complete and Deployments become available at once (no pods are run here)."""
    loop = asyncio.get_running_loop()

    def react(key: str, event: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if event == "DELETED":
            return
        if key == "batch/v1/jobs" and not (obj.get("status") or {}).get("conditions"):
            status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
            loop.call_soon(api.write_status, key, meta["namespace"], meta["name"], status)
        elif key == "apps/v1/deployments":
            replicas = int(obj["spec"].get("replicas", 1))
            status = {
                "observedGeneration": meta.get("generation", 1),
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
            }
            if obj.get("status") != status:
                loop.call_soon(api.write_status, key, meta["namespace"], meta["name"], status)

    api.listeners.append(react)


def _ready(api: ApiServer) -> int:
    return sum(
        1
        for store in api.all("asoud.io/v1alpha1/asoudstores", NAMESPACE)
        if (store.get("status") or {}).get("phase") == "Ready"
    )


def _scrape(url: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def _p99(before: dict[str, float], after: dict[str, float]) -> float:
    prefix = "asoud_operator_reconcile_duration_seconds_bucket{le="
    buckets = sorted(
        (
            float(k[len(prefix) + 1 : -2]) if "+Inf" not in k else math.inf,
            after[k] - before.get(k, 0),
        )
        for k in after
        if k.startswith(prefix)
    )
    total = buckets[-1][1] if buckets else 0
    for bound, count in buckets:
        if total and count >= 0.99 * total:
            return bound
    return math.nan


async def run(stores: int, steady: float, workdir: Path) -> dict[str, float]:
    pki = make_pki(workdir / f"pki-{stores}", ["127.0.0.1"])
    api = ApiServer()
    async with api, tls_server(api, pki.server_context(), "127.0.0.1") as server:
        install_rbac(api)
        _controllers(api)
        account = workdir / f"sa-{stores}"
        account.mkdir()
        (account / "token").write_text(
            api.service_account_token(OPERATOR_NAMESPACE, "asoud-operator")
        )
        (account / "ca.crt").write_bytes(pki.ca_path.read_bytes())
        (account / "namespace").write_text(OPERATOR_NAMESPACE)
        metrics_port, health_port = _free_port(), _free_port()
        env = {
            **os.environ,
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(server.port),
            "ASOUD_OPERATOR_SERVICE_ACCOUNT_DIR": str(account),
            "ASOUD_OPERATOR_RECONCILE_SECONDS": str(RESYNC_SECONDS),
            "POD_NAMESPACE": OPERATOR_NAMESPACE,
        }
        operator = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("asoud-operator")),
                f"--metrics-port={metrics_port}",
                f"--health-port={health_port}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{server.port}",
                verify=pki.client_context(),
                headers={"Authorization": f"Bearer {api.admin_token}"},
                timeout=30,
            ) as http:
                for _ in range(200):
                    try:
                        if (
                            await http.get(f"http://127.0.0.1:{health_port}/readyz")
                        ).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                for name, value in (
                    ("db", "postgres://asoud@db/asoud"),
                    ("redis", "redis://r:6379/0"),
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
                started = time.monotonic()
                semaphore = asyncio.Semaphore(20)

                async def create(index: int) -> None:
                    async with semaphore:
                        response = await http.post(
                            f"/apis/asoud.io/v1alpha1/namespaces/{NAMESPACE}/asoudstores",
                            json={
                                "apiVersion": "asoud.io/v1alpha1",
                                "kind": "AsoudStore",
                                "metadata": {"name": f"store-{index:04d}", "namespace": NAMESPACE},
                                "spec": {
                                    "version": "1.0.0",
                                    "publicBaseUrl": f"https://store-{index}.example.com",
                                    "database": {"secretRef": {"name": "db"}},
                                    "redis": {"secretRef": {"name": "redis"}},
                                },
                            },
                        )
                        response.raise_for_status()

                await asyncio.gather(*(create(i) for i in range(stores)))
                created = time.monotonic() - started
                while _ready(api) < stores:
                    await asyncio.sleep(0.5)
                    if time.monotonic() - started > 1800:
                        raise RuntimeError(f"only {_ready(api)} of {stores} Ready after 30 min")
                all_ready = time.monotonic() - started
            # Steady state: nothing changes; watches, resyncs and the Lease are all that run.
            await asyncio.sleep(RESYNC_SECONDS)  # let the creation burst's passes settle
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            before = _scrape(metrics_url)
            window_start = time.monotonic()
            await asyncio.sleep(steady)
            after = _scrape(metrics_url)
            window = [d for d in api.audit if d.user == OPERATOR and d.at >= window_start]
            passes = after.get('asoud_operator_reconciles_total{result="success"}', 0) - before.get(
                'asoud_operator_reconciles_total{result="success"}', 0
            )
            per_second = Counter(int(d.at - window_start) for d in window)
            counts = [per_second.get(s, 0) for s in range(int(steady))]
            mean = statistics.mean(counts) if counts else 0.0
            return {
                "stores": stores,
                "created_s": created,
                "ready_s": all_ready,
                "requests_per_s": len(window) / steady,
                "passes_per_s": passes / steady,
                "requests_per_pass": len(window) / passes if passes else math.nan,
                "busiest_second": max(counts) if counts else 0,
                "mean_per_second": mean,
                "reconcile_p99_s": _p99(before, after),
                "peak_rss_mib": _peak_rss_mib(operator.pid),
            }
        finally:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--steady", type=float, default=60.0, help="steady-state window, s")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for stores in args.stores:
            row = asyncio.run(run(stores, args.steady, Path(workdir)))
            rows.append(row)
            print(
                f"{stores:>5} stores: created in {row['created_s']:.1f} s, all Ready after "
                f"{row['ready_s']:.1f} s; steady state {row['requests_per_s']:.2f} API requests/s "
                f"({row['requests_per_pass']:.3f} per pass, {row['passes_per_s']:.1f} passes/s), "
                f"busiest second {row['busiest_second']} requests vs mean {row['mean_per_second']:.2f}; "
                f"reconcile p99 <= {row['reconcile_p99_s']} s; operator peak RSS "
                f"{row['peak_rss_mib']:.0f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
