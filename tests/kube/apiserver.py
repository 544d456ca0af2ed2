"""A Kubernetes API server for tests, as strict as a real one where our objects depend on it.

Built on kmock's scaffold (routing, request parsing, discovery) with our own object store,
because every behaviour below once let a broken operator pass:

- **authentication**: every request needs ``Authorization: Bearer <token>`` of a known,
  unrevoked token (401 otherwise), served over TLS with a CA the clients must trust;
- **authorization**: RBAC from the Roles, ClusterRoles and bindings stored in it (403 with the
  real message), and an audit of every decision (the RBAC audit reads it);
- **names and labels**: DNS-1123 names, 63 characters for Services, Jobs and label values;
- **writes**: resourceVersion and generation, optimistic concurrency on PUT, merge patches,
  server-side apply with field managers (``fields``), status and scale subresources, CRD
  pruning, defaulting and validation (``admission``), Deployment defaults;
- **deletion**: finalizers, and owner-reference garbage collection (background);
- **watches**: resourceVersion-based resumption (410 Gone when too old), label selectors.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import itertools
import json
import re
import secrets
import ssl
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp.test_utils
import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import yaml
from kmock import ResourceInfo, Server
from kmock._internal import parsing, rendering
from kmock._internal.k8s import KubernetesError, KubernetesScaffold

from tests.kube import admission, fields

ADMIN = "system:admin"
_kmock_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    """kmock reads /api/v1/namespaces[/NAME] as a namespace prefix (and crashes on the list);
    it is the namespaces resource itself, as kopf's namespace observer asks for it."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and (
        len(parts) <= 4 or (len(parts) == 5 and parts[4] in ("status", "finalize"))
    ):
        name = parts[3] if len(parts) > 3 else None
        sub = parts[4] if len(parts) > 4 else None
        return parsing.ParsedPath("", "v1", "namespaces", None, name, sub)
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has a status subresource
    scale: tuple[str, ...] | None = None  # where the scale subresource's replicas live
    crd: dict[str, Any] | None = None  # admission for custom resources
    optional: bool = False  # another project's CRD (Prometheus Operator, KEDA)
    generation: bool = False  # metadata.generation moves with the spec (not for ConfigMaps ...)

    @property
    def key(self) -> str:
        return f"{self.group}/{self.version}/{self.plural}" if self.group else f"v1/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _kinds() -> list[Kind]:
    store_crd = admission.crd()
    return [
        Kind("", "v1", "namespaces", "Namespace", namespaced=False),
        Kind("", "v1", "events", "Event"),
        Kind("", "v1", "secrets", "Secret"),
        Kind("", "v1", "configmaps", "ConfigMap"),
        Kind("", "v1", "services", "Service", status=True),
        Kind("", "v1", "serviceaccounts", "ServiceAccount"),
        Kind(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            status=True,
            scale=("spec", "replicas"),
            generation=True,
        ),
        Kind("batch", "v1", "jobs", "Job", status=True, generation=True),
        Kind(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            status=True,
            generation=True,
        ),
        Kind("coordination.k8s.io", "v1", "leases", "Lease"),
        Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
        Kind(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            namespaced=False,
        ),
        Kind("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        Kind(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            namespaced=False,
        ),
        Kind(
            "asoud.io",
            "v1alpha1",
            "asoudstores",
            "AsoudStore",
            status=True,
            scale=("spec", "workers", "replicas"),
            crd=store_crd,
            generation=True,
        ),
        Kind(
            "monitoring.coreos.com",
            "v1",
            "servicemonitors",
            "ServiceMonitor",
            optional=True,
            generation=True,
        ),
        Kind(
            "monitoring.coreos.com",
            "v1",
            "podmonitors",
            "PodMonitor",
            optional=True,
            generation=True,
        ),
        Kind(
            "monitoring.coreos.com",
            "v1",
            "prometheusrules",
            "PrometheusRule",
            optional=True,
            generation=True,
        ),
        Kind(
            "keda.sh",
            "v1alpha1",
            "scaledobjects",
            "ScaledObject",
            status=True,
            optional=True,
            generation=True,
        ),
        Kind(
            "keda.sh",
            "v1alpha1",
            "triggerauthentications",
            "TriggerAuthentication",
            optional=True,
            generation=True,
        ),
    ]


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...] = ()


@dataclass
class Stored:
    obj: dict[str, Any]
    managers: dict[str, set[fields.Path]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    user: str
    verb: str
    group: str
    resource: str  # plural[/subresource]
    namespace: str
    allowed: bool
    at: float = field(default_factory=time.monotonic)


_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
EVENTS_KEPT = 20_000
_identity: ContextVar[Identity] = ContextVar("apiserver_identity")


class Refused(KubernetesError):
    pass


def _status_error(code: int, reason: str, message: str) -> Refused:
    return Refused(status=code, reason=reason, message=message, details={})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define(kw_only=True)
class ApiServer(KubernetesScaffold):
    optional_kinds: bool = True  # are the Prometheus Operator and KEDA CRDs installed?
    keep_audit: bool = True
    admin_token: str = attrs.field(default="", init=False)
    kinds: dict[str, Kind] = attrs.field(factory=dict, init=False)
    objects: dict[tuple[str, str, str], Stored] = attrs.field(factory=dict, init=False)
    tokens: dict[str, Identity] = attrs.field(factory=dict, init=False)
    audit: list[Decision] = attrs.field(factory=list, init=False)
    faults: list[Callable[[rendering.Request], KubernetesError | None]] = attrs.field(
        factory=list, init=False
    )
    # In-process informers (the local kubelet): called with (resource key, event type, object).
    listeners: list[Callable[[str, str, dict[str, Any]], None]] = attrs.field(
        factory=list, init=False
    )
    _rv: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _last_rv: int = attrs.field(default=0, init=False)
    _log: dict[str, collections.deque[tuple[int, str, dict[str, Any]]]] = attrs.field(
        factory=dict, init=False
    )
    _gone_before: dict[str, int] = attrs.field(factory=dict, init=False)
    _watchers: dict[str, set[asyncio.Queue[tuple[int, str, dict[str, Any]]]]] = attrs.field(
        factory=dict, init=False
    )
    # Indexes, so a thousand stores' objects do not make every request scan them all.
    _uids: set[str] = attrs.field(factory=set, init=False)
    _dependents: dict[str, set[tuple[str, str, str]]] = attrs.field(factory=dict, init=False)
    _rbac_cache: dict[tuple[Identity, str], list[list[dict[str, Any]]]] = attrs.field(
        factory=dict, init=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for kind in _kinds():
            if kind.optional and not self.optional_kinds:
                continue
            self.kinds[kind.key] = kind
            verbs = {"get", "list", "watch", "create", "update", "patch", "delete"}
            subresources = ({"status"} if kind.status else set()) | (
                {"scale"} if kind.scale else set()
            )
            self.resources[kind.key] = ResourceInfo(
                kind=kind.kind,
                singular=kind.kind.lower(),
                namespaced=kind.namespaced,
                verbs=verbs,
                subresources=subresources,
            )
        self.admin_token = self.issue_token(Identity(ADMIN, ("system:masters",)))
        store_crd = admission.crd()
        self._put_now("apiextensions.k8s.io/v1/customresourcedefinitions", "", store_crd)

    # -- identities ---------------------------------------------------------------------

    def issue_token(self, identity: Identity) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = identity
        return token

    def service_account_token(self, namespace: str, name: str) -> str:
        return self.issue_token(
            Identity(
                f"system:serviceaccount:{namespace}:{name}",
                ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
            )
        )

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    # -- state for tests ------------------------------------------------------------------

    def get(self, key: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((key, namespace, name))
        return copy.deepcopy(found.obj) if found else None

    def all(self, key: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(stored.obj)
            for (res, ns, _), stored in sorted(self.objects.items())
            if res == key and (namespace is None or ns == namespace)
        ]

    def _put_now(self, key: str, namespace: str, obj: dict[str, Any]) -> None:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = str(self._next_rv())
        meta["generation"] = 1
        self._store(key, namespace, meta["name"], Stored(obj))

    def _store(self, key: str, namespace: str, name: str, stored: Stored) -> None:
        self.objects[(key, namespace, name)] = stored
        meta = stored.obj["metadata"]
        self._uids.add(meta["uid"])
        for ref in meta.get("ownerReferences") or []:
            self._dependents.setdefault(ref.get("uid", ""), set()).add((key, namespace, name))
        if key.startswith("rbac.authorization.k8s.io/"):
            self._rbac_cache.clear()

    def _unstore(self, key: str, namespace: str, name: str) -> Stored:
        stored = self.objects.pop((key, namespace, name))
        self._uids.discard(stored.obj["metadata"]["uid"])
        if key.startswith("rbac.authorization.k8s.io/"):
            self._rbac_cache.clear()
        return stored

    def _next_rv(self) -> int:
        self._last_rv = next(self._rv)
        return self._last_rv

    # -- the request pipeline -------------------------------------------------------------

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, KubernetesError):
            code, reason, message = exc.status, exc.reason or "", exc.message or ""
        else:  # a bug in this emulator: visible to the test as a 500 with its type
            code, reason, message = 500, "InternalError", repr(exc)
        body = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
        return _json(body, code)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        identity = self._authenticate(request)
        _identity.set(identity)
        resource = request.resource
        if resource is None or resource.plural is None:
            return await super()._handle(request)  # discovery: any authenticated client
        key = (
            f"{resource.group}/{resource.version}/{resource.plural}"
            if resource.group
            else f"v1/{resource.plural}"
        )
        kind = self.kinds.get(key)
        if kind is None:
            raise _status_error(404, "NotFound", "the server could not find the requested resource")
        verb = self._verb(request)
        self._authorize(identity, verb, kind, request)
        for fault in self.faults:
            injected = fault(request)
            if injected is not None:
                raise injected
        return await self._serve(kind, verb, request)

    def _authenticate(self, request: rendering.Request) -> Identity:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        identity = self.tokens.get(token) if token else None
        if identity is None:
            raise _status_error(401, "Unauthorized", "Unauthorized")
        return identity

    @staticmethod
    def _verb(request: rendering.Request) -> str:
        method = str(request.method.value if hasattr(request.method, "value") else request.method)
        if method == "GET":
            if request.params.get("watch") in ("true", "1"):
                return "watch"
            return "get" if request.name else "list"
        return {
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if request.name else "deletecollection",
        }[method]

    def _authorize(
        self, identity: Identity, verb: str, kind: Kind, request: rendering.Request
    ) -> None:
        resource = kind.plural + (f"/{request.subresource}" if request.subresource else "")
        namespace = request.namespace or ""
        allowed = self.allowed(identity, verb, kind.group, resource, namespace, request.name)
        if self.keep_audit:
            self.audit.append(
                Decision(identity.user, verb, kind.group, resource, namespace, allowed)
            )
        if not allowed:
            scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            what = (
                f'{kind.plural}.{kind.group or ""} "{request.name}"'
                if request.name
                else kind.plural
            )
            raise _status_error(
                403,
                "Forbidden",
                f'{what} is forbidden: User "{identity.user}" cannot {verb} resource '
                f'"{resource}" in API group "{kind.group}"{scope}',
            )

    def allowed(
        self,
        identity: Identity,
        verb: str,
        group: str,
        resource: str,
        namespace: str,
        name: str | None,
    ) -> bool:
        if "system:masters" in identity.groups:
            return True
        for rules in self._rules_for(identity, namespace):
            for rule in rules:
                if (
                    _matches(rule.get("apiGroups"), group)
                    and _matches(rule.get("resources"), resource)
                    and _matches(rule.get("verbs"), verb)
                    and (not rule.get("resourceNames") or name in rule["resourceNames"])
                ):
                    return True
        return False

    def _rules_for(self, identity: Identity, namespace: str) -> list[list[dict[str, Any]]]:
        cached = self._rbac_cache.get((identity, namespace))
        if cached is None:
            cached = self._rbac_cache[(identity, namespace)] = self._find_rules(identity, namespace)
        return cached

    def _find_rules(self, identity: Identity, namespace: str) -> list[list[dict[str, Any]]]:
        found = []
        bindings = [
            (b.obj, "") for b in self._of("rbac.authorization.k8s.io/v1/clusterrolebindings")
        ]
        if namespace:
            bindings += [
                (b.obj, namespace)
                for b in self._of("rbac.authorization.k8s.io/v1/rolebindings", namespace)
            ]
        for binding, scope in bindings:
            if not any(_subject(s, identity, scope) for s in binding.get("subjects") or []):
                continue
            ref = binding["roleRef"]
            if ref["kind"] == "ClusterRole":
                role = self.objects.get(
                    ("rbac.authorization.k8s.io/v1/clusterroles", "", ref["name"])
                )
            else:
                role = self.objects.get(("rbac.authorization.k8s.io/v1/roles", scope, ref["name"]))
            if role is not None:
                found.append(role.obj.get("rules") or [])
        return found

    def _of(self, key: str, namespace: str | None = None) -> list[Stored]:
        return [
            stored
            for (res, ns, _), stored in self.objects.items()
            if res == key and (namespace is None or ns == namespace)
        ]

    async def _serve(
        self, kind: Kind, verb: str, request: rendering.Request
    ) -> aiohttp.web.StreamResponse:
        if verb == "watch":
            return await self._watch(kind, request)
        if verb == "list":
            return _json(self._list(kind, request))
        namespace = request.namespace or ""
        if verb == "create":
            return _json(await self._create(kind, namespace, _body(request), request), 201)
        name = request.name or ""
        stored = self.objects.get((kind.key, namespace, name))
        if verb == "get":
            if stored is None:
                raise _not_found(kind, name)
            if request.subresource == "scale":
                return _json(self._scale_view(kind, stored.obj))
            return _json(stored.obj)
        if verb == "delete":
            if stored is None:
                raise _not_found(kind, name)
            return _json(await self._delete(kind, namespace, name, request))
        if verb in ("patch", "update"):
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if stored is None and content_type == "application/apply-patch+yaml":
                # An apply that creates needs the create permission too, as in a real server.
                self._authorize(_identity.get(), "create", kind, request)
                return _json(await self._create(kind, namespace, _body(request), request), 201)
            if stored is None:
                raise _not_found(kind, name)
            return _json(await self._write(kind, stored, verb, content_type, request))
        raise _status_error(405, "MethodNotAllowed", f"{verb} is not supported here")

    # -- reads ---------------------------------------------------------------------------

    def _matching(self, kind: Kind, request: rendering.Request) -> list[dict[str, Any]]:
        selector = _selector(request.params.get("labelSelector", ""))
        field_name = _field_name(request.params.get("fieldSelector", ""))
        return [
            stored.obj
            for (res, ns, name), stored in sorted(self.objects.items())
            if res == kind.key
            and (request.namespace is None or ns == request.namespace)
            and (field_name is None or name == field_name)
            and selector((stored.obj.get("metadata") or {}).get("labels") or {})
        ]

    def _list(self, kind: Kind, request: rendering.Request) -> dict[str, Any]:
        return {
            "apiVersion": kind.api_version,
            "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": str(self._last_rv)},
            "items": [copy.deepcopy(obj) for obj in self._matching(kind, request)],
        }

    async def _watch(self, kind: Kind, request: rendering.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        selector = _selector(request.params.get("labelSelector", ""))
        field_name = _field_name(request.params.get("fieldSelector", ""))
        timeout = float(request.params.get("timeoutSeconds") or 1800)
        since = request.params.get("resourceVersion") or ""

        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata") or {}
            return (
                (request.namespace is None or meta.get("namespace", "") == request.namespace)
                and (field_name is None or meta.get("name") == field_name)
                and selector(meta.get("labels") or {})
            )

        queue: asyncio.Queue[tuple[int, str, dict[str, Any]]] = asyncio.Queue()
        self._watchers.setdefault(kind.key, set()).add(queue)
        try:
            if since in ("", "0"):
                backlog = [(0, "ADDED", obj) for obj in self._matching(kind, request)]
            elif int(since) < self._gone_before.get(kind.key, 0):
                gone = {
                    "type": "ERROR",
                    "object": {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "code": 410,
                        "reason": "Expired",
                        "message": f"too old resource version: {since}",
                    },
                }
                await response.write(json.dumps(gone).encode() + b"\n")
                return response
            else:
                backlog = [e for e in self._log.get(kind.key, ()) if e[0] > int(since)]
            for _, event_type, obj in backlog:
                if wanted(obj):
                    await response.write(_line(event_type, obj))
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    _, event_type, obj = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if wanted(obj):
                    await response.write(_line(event_type, obj))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers[kind.key].discard(queue)
        return response

    def _publish(self, kind: Kind, event_type: str, obj: dict[str, Any]) -> None:
        snapshot = copy.deepcopy(obj)
        rv = int(snapshot["metadata"].get("resourceVersion") or self._last_rv)
        log = self._log.setdefault(kind.key, collections.deque())
        log.append((rv, event_type, snapshot))
        while len(log) > EVENTS_KEPT:
            dropped = log.popleft()
            self._gone_before[kind.key] = dropped[0]
        for queue in self._watchers.get(kind.key, ()):
            queue.put_nowait((rv, event_type, snapshot))
        for listener in self.listeners:
            listener(kind.key, event_type, snapshot)

    # -- writes --------------------------------------------------------------------------

    async def _create(
        self, kind: Kind, namespace: str, body: dict[str, Any], request: rendering.Request
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _status_error(400, "BadRequest", "the body is not an object")
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name") or request.name or ""
        if kind.namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise _invalid(kind, name, "the namespace of the object does not match the URL")
            meta["namespace"] = namespace
        meta["name"] = name
        manager = self._manager(request)
        apply = request.headers.get("Content-Type", "").startswith("application/apply-patch")
        if (kind.key, namespace, name) in self.objects:
            raise _status_error(
                409, "AlreadyExists", f'{kind.plural}.{kind.group} "{name}" already exists'
            )
        managers: dict[str, set[fields.Path]] = {}
        if apply:
            obj = fields.server_side_apply(None, body, managers, manager, True)
            obj["metadata"] = {**obj.get("metadata", {}), "name": name}
            if kind.namespaced:
                obj["metadata"]["namespace"] = namespace
        else:
            obj = copy.deepcopy(body)
            fields.record_update(None, obj, managers, manager)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        if kind.status:
            obj.pop("status", None)
        obj = self._admit(kind, obj)
        meta = obj["metadata"]
        meta.update(
            uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion=str(self._next_rv())
        )
        if kind.generation:
            meta["generation"] = 1
        for key in ("deletionTimestamp", "managedFields"):
            meta.pop(key, None)
        stored = Stored(obj, managers)
        self._render_managers(stored)
        self._store(kind.key, namespace, name, stored)
        self._publish(kind, "ADDED", obj)
        owners = meta.get("ownerReferences") or []
        if owners and not any(self._uid_exists(ref.get("uid")) for ref in owners):
            await self._collect(kind, namespace, name)  # a dangling owner: the GC removes it
        return copy.deepcopy(obj)

    def _manager(self, request: rendering.Request) -> str:
        return (
            request.params.get("fieldManager")
            or (request.headers.get("User-Agent", "unknown").split("/")[0].split(" ")[0])
        )

    async def _write(
        self,
        kind: Kind,
        stored: Stored,
        verb: str,
        content_type: str,
        request: rendering.Request,
    ) -> dict[str, Any]:
        before = copy.deepcopy(stored.obj)
        body = _body(request)
        manager = self._manager(request)
        sub = request.subresource
        if sub == "scale":
            replicas = ((body or {}).get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise _invalid(kind, stored.obj["metadata"]["name"], "spec.replicas is invalid")
            after = copy.deepcopy(before)
            node = after
            assert kind.scale is not None
            for part in kind.scale[:-1]:
                node = node.setdefault(part, {})
            node[kind.scale[-1]] = replicas
            fields.record_update(before, after, stored.managers, manager)
            return self._scale_view(kind, self._commit(kind, stored, before, after))
        if verb == "update" and body.get("metadata", {}).get("resourceVersion") not in (
            None,
            before["metadata"]["resourceVersion"],
        ):
            raise _status_error(
                409,
                "Conflict",
                f"Operation cannot be fulfilled on {kind.plural}.{kind.group} "
                f'"{before["metadata"]["name"]}": the object has been modified; please apply '
                "your changes to the latest version and try again",
            )
        if sub == "status":
            after = copy.deepcopy(before)
            if verb == "update":
                after["status"] = copy.deepcopy(body.get("status") or {})
            elif content_type in ("application/merge-patch+json", "application/json"):
                after["status"] = _merge_patch(before.get("status") or {}, body.get("status"))
            elif content_type == "application/json-patch+json":
                after["status"] = _json_patch(kind, before, body).get("status") or {}
            else:
                raise _status_error(415, "UnsupportedMediaType", f"{content_type} on status")
            after = self._admit(kind, after)
            return self._commit(kind, stored, before, after)
        if content_type == "application/apply-patch+yaml":
            force = request.params.get("force") == "true"
            if not request.params.get("fieldManager"):
                raise _status_error(400, "BadRequest", "fieldManager is required for apply")
            try:
                after = fields.server_side_apply(before, body, stored.managers, manager, force)
            except fields.ApplyConflict as exc:
                raise _status_error(
                    409, "Conflict", f"Apply failed with conflicts: {exc}"
                ) from None
        elif verb == "update":
            after = copy.deepcopy(body)
            fields.record_update(before, after, stored.managers, manager)
        elif content_type in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/json",
        ):
            after = _merge_patch(before, body)
            fields.record_update(before, after, stored.managers, manager)
        elif content_type == "application/json-patch+json":
            after = _json_patch(kind, before, body)
            fields.record_update(before, after, stored.managers, manager)
        else:
            raise _status_error(415, "UnsupportedMediaType", f"{content_type} is not supported")
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
            if key in before["metadata"]:
                after.setdefault("metadata", {})[key] = before["metadata"][key]
        after["apiVersion"], after["kind"] = kind.api_version, kind.kind
        if kind.status:  # the main resource cannot change status
            if "status" in before:
                after["status"] = before["status"]
            else:
                after.pop("status", None)
        after = self._admit(kind, after)
        result = self._commit(kind, stored, before, after)
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            await self._remove(kind, meta.get("namespace", ""), meta["name"])
        return result

    def _admit(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        name = meta.get("name", "")
        long_names = kind.plural in ("services", "namespaces") or kind.plural == "jobs"
        if kind.plural in ("services", "namespaces") and not _DNS1035.match(name):
            raise _invalid(kind, name, "a DNS-1035 label must consist of lower case letters")
        if not _SUBDOMAIN.match(name) or len(name) > 253:
            raise _invalid(kind, name, "a lowercase RFC 1123 subdomain is required")
        if long_names and len(name) > 63:
            raise _invalid(kind, name, "must be no more than 63 characters")
        for key, value in (meta.get("labels") or {}).items():
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                raise _invalid(kind, name, f"metadata.labels: Invalid value: {value!r}")
            prefix, _, label = key.rpartition("/")
            if len(label) > 63 or not _LABEL_NAME.match(label) or len(prefix) > 253:
                raise _invalid(kind, name, f"metadata.labels: Invalid key: {key!r}")
        if kind.plural == "secrets" and "stringData" in obj:
            # write-only: merged into data (base64) and never stored
            data = dict(obj.get("data") or {})
            for key, value in (obj.pop("stringData") or {}).items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        if kind.crd is not None:
            try:
                obj = admission.admit(obj, kind.crd)
            except ValueError as exc:
                raise _invalid(kind, name, str(exc)) from None
        if kind.plural == "deployments":
            spec = obj.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            template_labels = ((spec.get("template") or {}).get("metadata") or {}).get(
                "labels"
            ) or {}
            if not selector or any(template_labels.get(k) != v for k, v in selector.items()):
                raise _invalid(kind, name, "spec.template.metadata.labels must match the selector")
        return obj

    def _commit(
        self, kind: Kind, stored: Stored, before: dict[str, Any], after: dict[str, Any]
    ) -> dict[str, Any]:
        if _content(before) == _content(after) and before.get("status") == after.get("status"):
            return copy.deepcopy(before)  # nothing changed: no new resourceVersion, no event
        meta = after["metadata"]
        if kind.generation:
            generation = int(before["metadata"].get("generation") or 1)
            changed = _spec_part(before) != _spec_part(after)
            meta["generation"] = generation + 1 if changed else generation
        meta["resourceVersion"] = str(self._next_rv())
        stored.obj = after
        self._store(kind.key, meta.get("namespace", ""), meta["name"], stored)
        self._render_managers(stored)
        self._publish(kind, "MODIFIED", after)
        return copy.deepcopy(after)

    @staticmethod
    def _render_managers(stored: Stored) -> None:
        stored.obj["metadata"]["managedFields"] = [
            {"manager": name, "fieldsType": "FieldsV1", "fields": len(paths)}
            for name, paths in sorted(stored.managers.items())
            if paths
        ]

    def _scale_view(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        node: Any = obj
        assert kind.scale is not None
        for part in kind.scale:
            node = (node or {}).get(part) if isinstance(node, dict) else None
        meta = obj["metadata"]
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion")},
            "spec": {"replicas": node or 0},
            "status": {"replicas": int((obj.get("status") or {}).get("replicas") or 0)},
        }

    # -- deletion and garbage collection ---------------------------------------------------

    async def _delete(
        self, kind: Kind, namespace: str, name: str, request: rendering.Request
    ) -> dict[str, Any]:
        stored = self.objects[(kind.key, namespace, name)]
        meta = stored.obj["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                before = copy.deepcopy(stored.obj)
                after = copy.deepcopy(before)
                after["metadata"]["deletionTimestamp"] = _now()
                return self._commit(kind, stored, before, after)
            return copy.deepcopy(stored.obj)
        return await self._remove(kind, namespace, name)

    async def _remove(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        stored = self._unstore(kind.key, namespace, name)
        stored.obj["metadata"]["resourceVersion"] = str(self._next_rv())
        self._publish(kind, "DELETED", stored.obj)
        await self._collect_dependents(stored.obj["metadata"]["uid"])
        return copy.deepcopy(stored.obj)

    def _uid_exists(self, uid: str | None) -> bool:
        return uid in self._uids

    async def _collect_dependents(self, uid: str) -> None:
        """Background cascading deletion: dependents whose every owner is gone are deleted."""
        for key, namespace, name in sorted(self._dependents.pop(uid, set())):
            stored = self.objects.get((key, namespace, name))
            if stored is None:
                continue
            refs = stored.obj["metadata"].get("ownerReferences") or []
            if not any(self._uid_exists(ref.get("uid")) for ref in refs):
                await self._collect(self.kinds[key], namespace, name)

    async def _collect(self, kind: Kind, namespace: str, name: str) -> None:
        stored = self.objects.get((kind.key, namespace, name))
        if stored is None:
            return
        if stored.obj["metadata"].get("finalizers"):
            before = copy.deepcopy(stored.obj)
            after = copy.deepcopy(before)
            after["metadata"].setdefault("deletionTimestamp", _now())
            self._commit(kind, stored, before, after)
            return
        await self._remove(kind, namespace, name)

    # -- conveniences for tests -----------------------------------------------------------

    def write_status(self, key: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """What a built-in controller writes (the benchmark's Job and Deployment controllers)."""
        stored = self.objects.get((key, namespace, name))
        if stored is None:
            return
        before = copy.deepcopy(stored.obj)
        after = copy.deepcopy(before)
        after["status"] = status
        self._commit(self.kinds[key], stored, before, after)

    def load_yaml(self, text: str, namespace: str) -> list[dict[str, Any]]:
        """Store manifests directly (as an administrator's kubectl apply would)."""
        created = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            created.append(self.put(doc, namespace))
        return created

    def put(self, doc: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        version = doc["apiVersion"].rpartition("/")[2]
        kind = next(
            (k for k in self.kinds.values() if k.kind == doc["kind"] and k.version == version),
            None,
        )
        assert kind is not None, doc["kind"]
        ns = (doc["metadata"].get("namespace") or namespace) if kind.namespaced else ""
        if kind.namespaced:
            doc["metadata"]["namespace"] = ns
        obj = self._admit(kind, copy.deepcopy(doc))
        self._put_now(kind.key, ns, obj)
        stored = self.objects[(kind.key, ns, obj["metadata"]["name"])]
        fields.record_update(None, stored.obj, stored.managers, "kubectl")
        self._publish(kind, "ADDED", stored.obj)
        return copy.deepcopy(stored.obj)


def _matches(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _subject(subject: dict[str, Any], identity: Identity, scope: str) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or scope
        return identity.user == f"system:serviceaccount:{namespace}:{subject.get('name')}"
    if kind == "User":
        return identity.user == subject.get("name")
    if kind == "Group":
        return subject.get("name") in identity.groups
    return False


def _selector(text: str) -> Callable[[dict[str, str]], bool]:
    """Equality- and set-based label selectors."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    for part in re.split(r",(?![^()]*\))", text) if text else []:
        part = part.strip()
        if not part:
            continue
        match = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", part)
        if match:
            key, op, values = match[1], match[2], {v.strip() for v in match[3].split(",")}
            if op == "in":
                checks.append(lambda labels, k=key, v=values: labels.get(k) in v)
            else:
                checks.append(lambda labels, k=key, v=values: labels.get(k) not in v)
        elif "!=" in part:
            key, value = part.split("!=", 1)
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif part.startswith("!"):
            checks.append(lambda labels, k=part[1:]: k not in labels)
        else:
            checks.append(lambda labels, k=part: k in labels)
    return lambda labels: all(check(labels) for check in checks)


def _field_name(text: str) -> str | None:
    for part in text.split(","):
        if part.startswith("metadata.name="):
            return part.split("=", 1)[1]
    return None


def _body(request: rendering.Request) -> Any:
    if isinstance(request.data, (dict, list)):
        return copy.deepcopy(request.data)
    try:
        parsed = yaml.safe_load(request.text or "")
    except yaml.YAMLError:
        raise _status_error(400, "BadRequest", "the body is not valid JSON or YAML") from None
    if not isinstance(parsed, (dict, list)):
        raise _status_error(400, "BadRequest", "the body is not an object")
    return parsed


def _json_patch(kind: Kind, before: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902; a failed ``test`` (kopf tests resourceVersion) answers 422 as the server does."""
    try:
        return jsonpatch.JsonPatch(operations).apply(before)  # type: ignore[no-any-return]
    except jsonpatch.JsonPatchTestFailed:
        raise _invalid(kind, before["metadata"]["name"], "the test operation failed") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise _invalid(kind, before["metadata"]["name"], f"invalid JSON patch: {exc}") from None


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**{k: v for k, v in obj.items() if k not in ("metadata", "status")}, "metadata": meta}


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


def _json(payload: dict[str, Any], status: int = 200) -> aiohttp.web.Response:
    # Exactly "application/json", as kube-apiserver sends it (clients compare it whole).
    response = aiohttp.web.Response(body=json.dumps(payload).encode(), status=status)
    response.headers["Content-Type"] = "application/json"
    return response


def _not_found(kind: Kind, name: str) -> Refused:
    return _status_error(404, "NotFound", f'{kind.plural}.{kind.group} "{name}" not found')


def _invalid(kind: Kind, name: str, message: str) -> Refused:
    return _status_error(422, "Invalid", f'{kind.kind}.{kind.group} "{name}" is invalid: {message}')


class _TlsTestServer(aiohttp.test_utils.RawTestServer):
    context: ssl.SSLContext | None = None

    async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
        await super().start_server(loop=loop, ssl=self.context, **kwargs)


def tls_server(api: ApiServer, context: ssl.SSLContext, host: str) -> Server:
    """kmock's Server on HTTPS (a real API server never speaks plain HTTP)."""

    class Bound(_TlsTestServer):
        pass

    Bound.context = context
    return Server(api, server_cls=Bound, host=host)
