"""A small asynchronous Kubernetes REST client for the objects the operator owns.

kopf watches and patches the AsoudStores; this client creates and corrects their children.
Connection settings come from the `kubernetes` package's loaders (in-cluster service account
or kubeconfig). Trade-off: the official client is synchronous (a thread per call) and its
typed models would be converted back and forth to the plain dicts the desired-state
functions produce; a ~100-line aiohttp client over plain JSON avoids both.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# (apiVersion, kind) -> (path prefix, plural, namespaced)
RESOURCES: dict[tuple[str, str], tuple[str, str]] = {
    ("v1", "ConfigMap"): ("/api/v1", "configmaps"),
    ("v1", "Secret"): ("/api/v1", "secrets"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts"),
    ("v1", "Event"): ("/api/v1", "events"),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments"),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs"),
    ("policy/v1", "PodDisruptionBudget"): ("/apis/policy/v1", "poddisruptionbudgets"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        "/apis/monitoring.coreos.com/v1",
        "servicemonitors",
    ),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("/apis/monitoring.coreos.com/v1", "podmonitors"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): (
        "/apis/monitoring.coreos.com/v1",
        "prometheusrules",
    ),
    ("keda.sh/v1alpha1", "ScaledObject"): ("/apis/keda.sh/v1alpha1", "scaledobjects"),
    ("asoud.io/v1alpha1", "AsoudStore"): ("/apis/asoud.io/v1alpha1", "asoudstores"),
}


class KubeError(RuntimeError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass
class Kube:
    server: str
    token: str | None = None
    ssl_context: ssl.SSLContext | bool = True
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, server: str | None = None) -> Kube:
        """In-cluster service account, else the kubeconfig; ``server`` overrides (tests)."""
        if server:
            return cls(server.rstrip("/"), ssl_context=False)
        from kubernetes import client, config

        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        configuration = client.Configuration.get_default_copy()
        context: ssl.SSLContext | bool = True
        if configuration.ssl_ca_cert:
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                context.load_cert_chain(configuration.cert_file, configuration.key_file)
        token = (configuration.api_key or {}).get("authorization", "").removeprefix("Bearer ")
        return cls(configuration.host.rstrip("/"), token or None, context)

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": "asoud-operator"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(ssl=self.ssl_context, limit=50),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = RESOURCES[(api_version, kind)]
        path = f"{prefix}/namespaces/{namespace}/{plural}"
        return f"{path}/{name}" if name else path

    async def _request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any] | None:
        session = await self._client()
        async with session.request(
            method,
            self.server + path,
            json=body,
            headers={"Content-Type": content_type} if body is not None else None,
        ) as response:
            if response.status == 404:
                return None
            payload = await response.json(content_type=None)
            if response.status >= 400:
                reason = payload.get("reason", "") if isinstance(payload, dict) else ""
                raise KubeError(response.status, str(reason))
            return payload if isinstance(payload, dict) else {}

    async def get(
        self, api_version: str, kind: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        return await self._request("GET", self.path(api_version, kind, namespace, name))

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        path = self.path(body["apiVersion"], body["kind"], meta["namespace"])
        created = await self._request("POST", path, body)
        return created or body

    async def patch(
        self, api_version: str, kind: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        return await self._request(
            "PATCH",
            self.path(api_version, kind, namespace, name),
            patch,
            "application/merge-patch+json",
        )

    async def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A merge patch of the status subresource (lists, like conditions, are replaced)."""
        return await self._request(
            "PATCH",
            self.path(api_version, kind, namespace, name) + "/status",
            {"status": status},
            "application/merge-patch+json",
        )

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        path = self.path(api_version, kind, namespace, name)
        deleted = await self._request(
            "DELETE",
            path,
            {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )
        return deleted is not None
