"""kmock's KubernetesEmulator with the fixes OPERATOR.md lists, so real kopf can run on it.

- discovery for every resource the operator and kopf touch (kopf waits for CRDs and
  namespaces), with the AsoudStore's status and scale subresources;
- the core group's ``groupVersion`` is ``v1`` (kmock answers ``/v1``);
- objects get ``uid``, ``resourceVersion``, ``generation`` (bumped on spec changes) and
  ``creationTimestamp``, which kopf and owner references need.
"""

from __future__ import annotations

import datetime
import itertools
import uuid
from typing import Any

import attrs
from kmock import KubernetesEmulator, ResourceInfo, action
from kmock._internal import rendering

RESOURCES: dict[str, ResourceInfo] = {
    "asoud.io/v1alpha1/asoudstores": ResourceInfo(
        kind="AsoudStore",
        singular="asoudstore",
        namespaced=True,
        verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
        subresources={"status", "scale"},
    ),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs={"get", "list", "watch"}
    ),
    "v1/namespaces": ResourceInfo(
        kind="Namespace", namespaced=False, verbs={"get", "list", "watch"}
    ),
    "v1/events": ResourceInfo(kind="Event", namespaced=True, verbs={"create", "get", "list"}),
    "v1/secrets": ResourceInfo(
        kind="Secret", namespaced=True, verbs={"get", "create", "patch", "delete"}
    ),
    "v1/configmaps": ResourceInfo(
        kind="ConfigMap", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "v1/services": ResourceInfo(kind="Service", namespaced=True, verbs={"get", "create", "patch"}),
    "v1/serviceaccounts": ResourceInfo(
        kind="ServiceAccount", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "apps/v1/deployments": ResourceInfo(
        kind="Deployment", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "batch/v1/jobs": ResourceInfo(
        kind="Job", namespaced=True, verbs={"get", "list", "watch", "create", "patch", "delete"}
    ),
    "policy/v1/poddisruptionbudgets": ResourceInfo(
        kind="PodDisruptionBudget", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "monitoring.coreos.com/v1/servicemonitors": ResourceInfo(
        kind="ServiceMonitor", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "monitoring.coreos.com/v1/podmonitors": ResourceInfo(
        kind="PodMonitor", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "monitoring.coreos.com/v1/prometheusrules": ResourceInfo(
        kind="PrometheusRule", namespaced=True, verbs={"get", "create", "patch"}
    ),
    "keda.sh/v1alpha1/scaledobjects": ResourceInfo(
        kind="ScaledObject", namespaced=True, verbs={"get", "create", "patch"}
    ),
}


@attrs.define(kw_only=True)
class AsoudEmulator(KubernetesEmulator):
    # kmock matches each request by scanning the request history, so a long run (the
    # 500-store benchmark) turns quadratic; it can keep only the request being served.
    keep_requests: bool = True
    _versions: Any = attrs.field(factory=lambda: itertools.count(1), init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, info in RESOURCES.items():
            self.resources[key] = info

    def _KubernetesEmulator__get_objs(self, request: rendering.Request, strict: bool) -> list[Any]:
        # kmock scans every stored object per request; a named object is one dict lookup.
        if request.name is not None and (strict or request.namespace is not None):
            found = self.objects._objects.get((request.resource, request.namespace, request.name))
            return [found] if found is not None else []
        return super()._KubernetesEmulator__get_objs(request, strict)  # type: ignore[misc, no-any-return]

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and payload.get("groupVersion", "").startswith("/"):
            payload["groupVersion"] = payload["groupVersion"][1:]  # "/v1" -> "v1"
        return payload

    async def _handle(self, request: rendering.Request) -> Any:
        if not self.keep_requests:
            del self._requests[:-1]
        if request.resource is not None and isinstance(request.data, dict):
            if request.action == action.CREATE:
                meta = request.data.setdefault("metadata", {})
                now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if not meta.get("name") and meta.get("generateName"):  # kopf's Events
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:10]
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now)
                meta["generation"] = 1
                meta["resourceVersion"] = str(next(self._versions))
                if request.namespace and "namespace" not in meta:
                    meta["namespace"] = request.namespace
            elif request.action == action.UPDATE and request.name is not None:
                meta = request.data.setdefault("metadata", {})
                meta["resourceVersion"] = str(next(self._versions))
                if "spec" in request.data and request.subresource is None:
                    key = (request.resource, request.namespace, request.name)
                    if key in self.objects and not self.objects[key].deleted:
                        current = self.objects[key].get("metadata", {}).get("generation", 1)
                        meta["generation"] = int(current) + 1
        return await super()._handle(request)
