"""The operator against a strict test API server (TLS, tokens, RBAC from the chart, server-side
apply, garbage collection), run in-process or, for the end-to-end scenarios, as the chart's
own Deployment started by the local kubelet with every pod it writes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

# Read by asoud_operator.handlers at import: a short resync for the scenarios.
os.environ.setdefault("ASOUD_OPERATOR_RECONCILE_SECONDS", "1")

import httpx
import pytest

from tests.kube import admission, network
from tests.kube.apiserver import ApiServer, tls_server
from tests.kube.tls import make_pki

NAMESPACE = "shop"
OPERATOR_NAMESPACE = "asoud-system"
OPERATOR_ACCOUNT = "asoud-operator"
STORES = "asoud.io/v1alpha1/asoudstores"
STATUS_SCHEMA = admission.schema()["properties"]["status"]
BASE_SPEC: dict[str, Any] = {
    "version": "1.0.0",
    "publicBaseUrl": "https://acme.example.com",
    "database": {"secretRef": {"name": "acme-db"}},
    "redis": {"secretRef": {"name": "acme-redis"}},
}


def _path(key: str, namespace: str, name: str = "") -> str:
    group_version, _, plural = key.rpartition("/")
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


class Cluster:
    """The test API server as a platform engineer (kubectl) and the controllers see it."""

    def __init__(self, api: ApiServer, url: str, ca: Path, host: str, port: int) -> None:
        self.api = api
        self.url = url
        self.ca = ca
        self.host, self.port = host, port
        self.http = httpx.AsyncClient(
            base_url=url,
            verify=ssl.create_default_context(cafile=str(ca)),
            timeout=10,
            headers={"Authorization": f"Bearer {api.admin_token}", "User-Agent": "kubectl/1.33"},
        )

    def get(self, key: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
        return self.api.get(key, namespace, name)

    def names(self, key: str, namespace: str = NAMESPACE) -> set[str]:
        return {obj["metadata"]["name"] for obj in self.api.all(key, namespace)}

    def store(self, name: str = "acme") -> dict[str, Any]:
        found = self.get(STORES, name)
        assert found is not None
        return found

    def condition(self, kind: str, name: str = "acme") -> dict[str, Any] | None:
        conditions = (self.store(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == kind), None)

    async def create(self, body: dict[str, Any], namespace: str = NAMESPACE) -> dict[str, Any]:
        key = f"{body['apiVersion']}/{body['kind'].lower()}s"
        if body["kind"] == "AsoudStore":
            key = STORES
        response = await self.http.post(_path(key, namespace), json=body)
        assert response.status_code < 300, response.text
        return response.json()  # type: ignore[no-any-return]

    async def apply_store(self, name: str = "acme", **spec: Any) -> dict[str, Any]:
        body = {
            "apiVersion": "asoud.io/v1alpha1",
            "kind": "AsoudStore",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {**BASE_SPEC, **spec},
        }
        response = await self.http.post(_path(STORES, NAMESPACE), json=body)
        assert response.status_code < 300, response.text
        return response.json()  # type: ignore[no-any-return]

    async def patch(self, path: str, patch: dict[str, Any]) -> httpx.Response:
        response = await self.http.patch(
            path, json=patch, headers={"Content-Type": "application/merge-patch+json"}
        )
        assert response.status_code < 300, response.text
        return response

    async def patch_store(
        self, patch: dict[str, Any], name: str = "acme", namespace: str = NAMESPACE
    ) -> None:
        await self.patch(_path(STORES, namespace, name), patch)

    async def delete(self, key: str, name: str, namespace: str = NAMESPACE) -> None:
        response = await self.http.delete(_path(key, namespace, name))
        assert response.status_code < 300, response.text

    async def secret(self, name: str, namespace: str = NAMESPACE, **data: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        response = await self.http.post(_path("v1/secrets", namespace), json=body)
        assert response.status_code < 300, response.text

    async def finish_job(self, name: str, *, succeeded: bool) -> None:
        """What the Job controller writes when the pod ends (tests without the kubelet)."""
        kind = "Complete" if succeeded else "Failed"
        status = {"succeeded": 1} if succeeded else {"failed": 1}
        await self.patch(
            _path("batch/v1/jobs", NAMESPACE, name) + "/status",
            {"status": {**status, "conditions": [{"type": kind, "status": "True"}]}},
        )

    async def deployment_available(self, name: str, available: int | None = None) -> None:
        """What the Deployment controller writes once pods pass readiness (no kubelet)."""
        deployment = self.get("apps/v1/deployments", name)
        assert deployment is not None
        replicas = int(deployment["spec"].get("replicas", 1))
        ready = replicas if available is None else available
        await self.patch(
            _path("apps/v1/deployments", NAMESPACE, name) + "/status",
            {
                "status": {
                    "observedGeneration": deployment["metadata"]["generation"],
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                }
            },
        )

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        found = self.api.all("v1/events")
        return [e for e in found if reason is None or e.get("reason") == reason]


async def eventually(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """Poll until ``check()`` is truthy (the operator acts asynchronously); fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = check()
        except (AssertionError, KeyError, TypeError, IndexError):
            result = None
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.1)


def operator_manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The operator chart as `helm install asoud-operator -n asoud-system` renders it."""
    import helm_python as helm
    import yaml

    chart = helm.Chart.load(Path(__file__).resolve().parents[2] / "charts" / "asoud-operator")
    rendered = chart.render(
        {"reconcileSeconds": 1, **(values or {})},
        name="asoud-operator",
        namespace=OPERATOR_NAMESPACE,
        is_install=True,
    )
    return [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def install_rbac(api: ApiServer, values: dict[str, Any] | None = None) -> None:
    """The chart's ServiceAccount, Roles and bindings: the operator gets exactly those."""
    for doc in operator_manifests(values):
        if doc["kind"] in (
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
        ):
            api.put(doc, OPERATOR_NAMESPACE)


@pytest.fixture
async def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """A strict API server on 127.0.0.1 (no pod network: controllers are played by tests).
    ``@pytest.mark.without_optional_crds``: a cluster with no Prometheus Operator and no KEDA;
    ``@pytest.mark.operator_chart({...})``: the operator's RBAC from these chart values."""
    pki = make_pki(tmp_path / "pki", ["127.0.0.1"])
    api = ApiServer(optional_kinds=request.node.get_closest_marker("without_optional_crds") is None)
    async with api, tls_server(api, pki.server_context(), "127.0.0.1") as server:
        cluster = Cluster(
            api, f"https://127.0.0.1:{server.port}", pki.ca_path, "127.0.0.1", server.port
        )
        chart = request.node.get_closest_marker("operator_chart")
        install_rbac(api, chart.args[0] if chart else None)
        await cluster.secret("acme-db", url="postgres://asoud@db.shop.svc/asoud")
        await cluster.secret("acme-redis", url="redis://127.0.0.1:6379/0")
        yield cluster
        await cluster.http.aclose()


def service_account_dir(cluster: Cluster, directory: Path) -> Path:
    """What a pod sees at /var/run/secrets/kubernetes.io/serviceaccount."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text(
        cluster.api.service_account_token(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT)
    )
    (directory / "ca.crt").write_bytes(cluster.ca.read_bytes())
    (directory / "namespace").write_text(OPERATOR_NAMESPACE)
    return directory


@contextlib.asynccontextmanager
async def running_operator(
    cluster: Cluster, directory: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> AsyncIterator[Cluster]:
    """`asoud-operator` in its own thread and event loop, reaching the API server the
    in-cluster way (service host and port, a token file, the CA) with the chart's RBAC."""
    account = service_account_dir(cluster, directory / "serviceaccount")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", cluster.host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(cluster.port))
    monkeypatch.setenv("ASOUD_OPERATOR_SERVICE_ACCOUNT_DIR", str(account))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    from asoud_operator import main

    options = main.parse_args(
        [
            "--metrics-port",
            "0",
            "--health-port",
            "0",
            "--lease-namespace",
            OPERATOR_NAMESPACE,
            *args,
        ]
    )
    stop = threading.Event()
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(main.run(options, stop)))
        except BaseException as exc:  # surfaced below
            outcome.append(exc)

    thread = threading.Thread(target=target, name="asoud-operator", daemon=True)
    thread.start()
    try:
        yield cluster
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 20)
        assert not thread.is_alive(), "the operator did not stop within 20 s"
        assert outcome == [0], outcome


@pytest.fixture
async def operator(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Cluster]:
    async with running_operator(cluster, tmp_path, monkeypatch) as running:
        yield running


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


def pods_unavailable() -> str | None:
    return network.missing()
