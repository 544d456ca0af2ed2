"""The real kopf operator, in-process, against the kmock emulator over HTTP and a real Redis."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

# Read by asoud_operator.handlers at import: a fast periodic pass for the scenarios.
os.environ.setdefault("ASOUD_OPERATOR_RECONCILE_SECONDS", "0.5")

import httpx
import kopf
import pytest
import yaml
from kmock import Server, resource

from tests.operator.emulator import AsoudEmulator

NAMESPACE = "shop"
CRD = yaml.safe_load(
    (
        Path(__file__).resolve().parents[2] / "manifests" / "crd" / "asoud.io_asoudstores.yaml"
    ).read_text()
)
STATUS_SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
STORES = resource("asoud.io", "v1alpha1", "asoudstores")


class Cluster:
    """The emulated API server as a platform engineer and the built-in controllers see it."""

    def __init__(self, emulator: AsoudEmulator, url: str) -> None:
        self.emulator = emulator
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    def get(
        self, group_version_plural: str, name: str, namespace: str = NAMESPACE
    ) -> dict[str, Any] | None:
        key = (resource(group_version_plural), namespace, name)
        if key not in self.emulator.objects or self.emulator.objects[key].deleted:
            return None
        return dict(self.emulator.objects[key].raw)

    def names(self, group_version_plural: str, namespace: str = NAMESPACE) -> set[str]:
        wanted = resource(group_version_plural)
        return {
            name
            for (res, ns, name), obj in self.emulator.objects.items()
            if res == wanted and ns == namespace and not obj.deleted
        }

    def store(self, name: str = "acme") -> dict[str, Any]:
        found = self.get("asoud.io/v1alpha1/asoudstores", name)
        assert found is not None
        return found

    def condition(self, kind: str, name: str = "acme") -> dict[str, Any] | None:
        conditions = (self.store(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), None)

    async def apply_store(self, name: str = "acme", **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": "asoud.io/v1alpha1",
            "kind": "AsoudStore",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "version": "1.0.0",
                "database": {"secretRef": {"name": "acme-db"}},
                "redis": {"secretRef": {"name": "acme-redis"}},
                **spec,
            },
        }
        response = await self.http.post(
            f"/apis/asoud.io/v1alpha1/namespaces/{NAMESPACE}/asoudstores", json=body
        )
        assert response.status_code < 300, response.text
        return response.json()  # type: ignore[no-any-return]

    async def patch(self, path: str, patch: dict[str, Any]) -> None:
        response = await self.http.patch(
            path, json=patch, headers={"Content-Type": "application/merge-patch+json"}
        )
        assert response.status_code < 300, response.text

    async def patch_store(self, patch: dict[str, Any], name: str = "acme") -> None:
        await self.patch(
            f"/apis/asoud.io/v1alpha1/namespaces/{NAMESPACE}/asoudstores/{name}", patch
        )

    async def secret(self, name: str, **data: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        response = await self.http.post(f"/api/v1/namespaces/{NAMESPACE}/secrets", json=body)
        assert response.status_code < 300, response.text

    async def finish_job(self, name: str, *, succeeded: bool) -> None:
        """What the Job controller would write when the migration pod ends."""
        kind = "Complete" if succeeded else "Failed"
        status = {"succeeded": 1} if succeeded else {"failed": 1}
        await self.patch(
            f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}/status",
            {"status": {**status, "conditions": [{"type": kind, "status": "True"}]}},
        )

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        found = [
            dict(obj.raw)
            for (res, _, _), obj in self.emulator.objects.items()
            if res == resource("v1/events") and not obj.deleted
        ]
        return [e for e in found if reason is None or e.get("reason") == reason]


async def eventually(check: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    """Poll until ``check()`` is truthy (the operator acts asynchronously); fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = check()
        except (AssertionError, KeyError, TypeError):
            result = None
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with AsoudEmulator() as emulator, Server(emulator) as server:
        cluster = Cluster(emulator, str(server.url).rstrip("/"))
        await cluster.secret("acme-db", url="postgres://asoud@db.shop.svc/asoud")
        await cluster.secret("acme-redis", url="redis://127.0.0.1:6379/0")
        yield cluster
        await cluster.http.aclose()


@pytest.fixture
async def operator(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    """kopf.operator() in its own thread and event loop (as kopf's KopfRunner does: kopf
    cancels every task of its loop when it stops), talking HTTP to the emulator."""
    monkeypatch.setenv("ASOUD_OPERATOR_KUBE_SERVER", cluster.url)
    import asoud_operator.handlers  # noqa: F401  - registers the handlers

    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(
            kopf.operator(standalone=True, clusterwide=True, ready_flag=ready, stop_flag=stop)
        ),
        name="kopf",
        daemon=True,
    )
    thread.start()
    await asyncio.to_thread(ready.wait, 15)
    assert ready.is_set(), "the operator did not start within 15 s"
    try:
        yield cluster
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 15)
        assert not thread.is_alive(), "the operator did not stop within 15 s"
    # A real API server prunes status fields its CRD does not declare: nothing may rely on one.
    for name in cluster.names("asoud.io/v1alpha1/asoudstores"):
        status = cluster.store(name).get("status") or {}
        assert undeclared(STATUS_SCHEMA, status, "status") == []


def undeclared(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """Paths in ``value`` that the structural schema would prune."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict) and schema.get("type") == "object":
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        found = []
        for key, item in value.items():
            if key in properties:
                found += undeclared(properties[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                found += undeclared(extra, item, f"{path}.{key}")
            else:
                found.append(f"{path}.{key}")
        return found
    if isinstance(value, list) and "items" in schema:
        return [
            p
            for i, item in enumerate(value)
            for p in undeclared(schema["items"], item, f"{path}[{i}]")
        ]
    return []
