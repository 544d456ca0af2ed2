"""The operator's Kubernetes client: lightkube, over plain dicts, with server-side apply.

Why lightkube: it is async-native; it loads the in-cluster service account (CA, namespace,
and a token *file* it re-reads when the server answers 401, as client-go does, so the hourly
rotation of projected tokens never locks the operator out) or a kubeconfig; its generic
resources carry the plain dicts our pure desired-state functions build; and it speaks
server-side apply. kopf authenticates from the same configuration (``connection_info``), so
both clients always agree on the server, the CA and the credentials.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.types import CascadeType, PatchType

FIELD_MANAGER = "asoud-operator"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Tests and unusual pods may mount the service account elsewhere; everything else is the same.
SERVICE_ACCOUNT_VARIABLE = "ASOUD_OPERATOR_SERVICE_ACCOUNT_DIR"

# (apiVersion, kind) -> plural, for every kind the operator reads or writes.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "ServiceAccount"): "serviceaccounts",
    ("v1", "Event"): "events",
    ("apps/v1", "Deployment"): "deployments",
    ("batch/v1", "Job"): "jobs",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudgets",
    ("coordination.k8s.io/v1", "Lease"): "leases",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitors",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitors",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrules",
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobjects",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentications",
    ("asoud.io/v1alpha1", "AsoudStore"): "asoudstores",
}

# lightkube's generic resource classes (dicts with resource metadata); typed Any because
# lightkube types them as its model classes, which they only pretend to be.
_RESOURCES: dict[tuple[str, str], Any] = {}


def resource(api_version: str, kind: str) -> Any:
    """lightkube's generic resource class for a kind (made once, then reused)."""
    key = (api_version, kind)
    if key not in _RESOURCES:
        group, _, version = api_version.rpartition("/")
        _RESOURCES[key] = create_namespaced_resource(group, version, kind, KINDS[key])
    return _RESOURCES[key]


class KubeError(RuntimeError):
    """An API server refusal, classified so the pass can report it as a condition."""

    def __init__(self, status: int, reason: str, message: str, what: str = "") -> None:
        super().__init__(f"{what}: {status} {reason}: {message}" if what else message)
        self.status = status
        self.reason = reason
        self.message = message
        self.what = what

    @property
    def kind_missing(self) -> bool:
        """A 404 on apply can only mean the resource type is not served (its CRD is absent)."""
        return self.status == 404

    @property
    def forbidden(self) -> bool:
        return self.status == 403


def _error(exc: ApiError, what: str) -> KubeError:
    status = exc.status
    return KubeError(
        int(status.code or exc.response.status_code),
        str(status.reason or ""),
        str(status.message or ""),
        what,
    )


def load_config() -> KubeConfig:
    """The pod's service account (in a cluster), else the kubeconfig (``KUBECONFIG``)."""
    return KubeConfig.from_env(
        service_account=os.environ.get(SERVICE_ACCOUNT_VARIABLE, SERVICE_ACCOUNT_DIR)
    )


@dataclass(frozen=True)
class Connection:
    """What kopf needs to reach the same server as lightkube (see handlers.login)."""

    server: str
    ca_path: str | None
    token: str | None
    certificate_path: str | None
    private_key_path: str | None
    insecure: bool
    namespace: str | None


def _data_file(data: str | None, suffix: str) -> str | None:
    if not data:
        return None
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives for the process
        prefix="asoud-operator-", suffix=suffix, delete=False
    )
    with handle:
        handle.write(base64.b64decode(data))
    return handle.name


def connection() -> Connection:
    """Read now (a rotated token file is read again on each call)."""
    single = load_config().get()
    assert single is not None  # from_env always yields a context
    cluster, user = single.cluster, single.user
    token = user.token if user is not None else None
    if user is not None and user.token_file:
        token = Path(user.token_file).read_text().strip()
    return Connection(
        server=cluster.server,
        ca_path=cluster.certificate_auth or _data_file(cluster.certificate_auth_data, ".crt"),
        token=token,
        certificate_path=(
            (user.client_cert or _data_file(user.client_cert_data, ".crt")) if user else None
        ),
        private_key_path=(
            (user.client_key or _data_file(user.client_key_data, ".key")) if user else None
        ),
        insecure=bool(cluster.insecure),
        namespace=single.namespace,
    )


class Kube:
    """Plain-dict operations on namespaced objects; every refusal raises :class:`KubeError`."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.requests = 0  # API requests made (the benchmark reports them per pass)

    @classmethod
    def from_environment(cls) -> Kube:
        return cls(
            AsyncClient(
                load_config(),
                field_manager=FIELD_MANAGER,
                timeout=httpx2.Timeout(30.0),
                trust_env=False,
            )
        )

    async def close(self) -> None:
        await self.client.close()

    async def get(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        self.requests += 1
        try:
            found = await self.client.get(resource(api_version, kind), name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise _error(exc, f"get {kind}/{name}") from None
        return dict(found)

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as ``asoud-operator``, forcing the fields it declares: what the
        body leaves out (a removed config key, a dropped limit) is removed from the object."""
        meta = body["metadata"]
        cls = resource(body["apiVersion"], body["kind"])
        self.requests += 1
        try:
            applied = await self.client.apply(cls(body), force=True)
        except ApiError as exc:
            raise _error(exc, f"apply {body['kind']}/{meta['name']}") from None
        return dict(applied)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        cls = resource(body["apiVersion"], body["kind"])
        self.requests += 1
        try:
            return dict(await self.client.create(cls(body)))
        except ApiError as exc:
            raise _error(exc, f"create {body['kind']}/{meta['name']}") from None

    async def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        """PUT with the body's resourceVersion: fails with 409 if someone wrote in between."""
        meta = body["metadata"]
        cls = resource(body["apiVersion"], body["kind"])
        self.requests += 1
        try:
            return dict(await self.client.replace(cls(body)))
        except ApiError as exc:
            raise _error(exc, f"replace {body['kind']}/{meta['name']}") from None

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        propagation: CascadeType = CascadeType.BACKGROUND,
    ) -> bool:
        """Delete; False when it was already gone. Background propagation lets the garbage
        collector remove what the object owns (a Job's pods)."""
        self.requests += 1
        try:
            await self.client.delete(
                resource(api_version, kind),
                name,
                namespace=namespace,
                cascade=propagation,
            )
        except ApiError as exc:
            if exc.status.code == 404:
                return False
            raise _error(exc, f"delete {kind}/{name}") from None
        return True

    async def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """An RFC 7396 merge patch of the status subresource (null removes a field)."""
        cls = resource(api_version, kind)
        self.requests += 1
        try:
            await self.client.patch(
                cls.Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as exc:
            raise _error(exc, f"patch {kind}/{name} status") from None

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        secret = await self.get("v1", "Secret", namespace, name)
        data = (secret or {}).get("data") or {}
        if key in data:
            return base64.b64decode(data[key]).decode()
        return None
