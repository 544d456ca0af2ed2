"""kopf wiring: a daemon per store runs its passes; watches of its children wake it.

- Every kind the operator creates is watched (label ``app.kubernetes.io/managed-by``) and
  kept in a kopf index: passes read children from memory, and a change to a child (a
  deleted Deployment, a finished Job, pods becoming available) wakes its store at once.
- Each store has one daemon (``store_daemon``): passes are serialised per store, run when
  woken (a change to the store or a child) or when the pass asked to run again, and at the
  latest after the resync interval, jittered so a thousand stores do not fire together.
- kopf authenticates from the same configuration as our client (``kube.connection``) and
  re-reads it when the API server answers 401 (a rotated service-account token).
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import time
from typing import Any

import kopf

from asoud_operator import children, metrics
from asoud_operator.kube import Kube, KubeError, connection
from asoud_operator.reconcile import Observed, StoreMemory, merge_patch, reconcile
from asoud_operator.spec import API_VERSION, GROUP, KIND, PLURAL, VERSION

RESOURCE = (GROUP, VERSION, PLURAL)
INTERVAL = float(os.environ.get("ASOUD_OPERATOR_RECONCILE_SECONDS", "30"))  # read at import
JITTER = 0.2  # each store's resync lands within ±20 % of the interval
DEBOUNCE = 0.05  # a burst of watch events becomes one pass
ERROR_BACKOFF = 10.0
MANAGED = {"app.kubernetes.io/managed-by": children.MANAGED_BY}

# (group, version, plural, kind) of every child kind: watched, indexed, and waking its store.
CHILD_KINDS = [
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "secrets", "Secret"),
    ("", "v1", "services", "Service"),
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("apps", "v1", "deployments", "Deployment"),
    ("batch", "v1", "jobs", "Job"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor"),
    ("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor"),
    ("monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule"),
    ("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
    ("keda.sh", "v1alpha1", "triggerauthentications", "TriggerAuthentication"),
]
_META_KEPT = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "labels",
    "annotations",
    "ownerReferences",
    "deletionTimestamp",
)


def slim(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """What a pass reads of a child, kept in memory (not a 100 kB dashboard per store)."""
    meta = raw.get("metadata") or {}
    result: dict[str, Any] = {
        "apiVersion": raw.get("apiVersion"),
        "kind": kind,
        "metadata": {key: copy.deepcopy(meta[key]) for key in _META_KEPT if key in meta},
    }
    if kind == "Deployment":
        spec = raw.get("spec") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        result["spec"] = {
            **({"replicas": spec["replicas"]} if "replicas" in spec else {}),
            "paused": bool(spec.get("paused")),
            "template": {
                "spec": {
                    "containers": [
                        # the image (rollout) and env (which database login the pods use)
                        {"image": c.get("image"), "env": copy.deepcopy(c.get("env") or [])}
                        for c in containers
                    ]
                }
            },
        }
    if kind in ("Deployment", "Job"):
        result["status"] = copy.deepcopy(raw.get("status") or {})
    if kind == "Secret":
        result["data"] = dict(raw.get("data") or {})
    return result


def _store_of(labels: Any, namespace: str | None) -> tuple[str, str] | None:
    instance = (labels or {}).get(children.INSTANCE_LABEL)
    return (namespace or "", instance) if instance else None


def _register_child(group: str, version: str, plural: str, kind: str) -> None:
    def index(body: kopf.Body, labels: Any, namespace: str | None, **_: Any) -> Any:
        key = _store_of(labels, namespace)
        return {key: slim(kind, dict(body))} if key else None

    async def changed(labels: Any, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        key = _store_of(labels, namespace)
        if key is not None:
            wake(memo, *key)

    selector = (group, version, plural) if group else (version, plural)
    kopf.index(*selector, labels=MANAGED, id=f"{plural}_index")(index)
    kopf.on.event(*selector, labels=MANAGED, id=f"{plural}_changed")(changed)


for _child in CHILD_KINDS:
    _register_child(*_child)


def observed_for(indexes: dict[str, Any], namespace: str, store: str) -> Observed:
    observed = Observed()
    for _, _, plural, kind in CHILD_KINDS:
        index = indexes.get(f"{plural}_index")
        if index is None:
            continue
        for obj in index.get((namespace, store), ()):
            observed.objects.setdefault(kind, {})[obj["metadata"]["name"]] = obj
    return observed


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.asoud.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.asoud.io", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "asoud.io/finalizer"
    settings.posting.level = 20  # logging.INFO: Normal and Warning events reach the store
    settings.watching.server_timeout = 300
    settings.background.cancellation_polling = 1
    only_ours = ",".join(f"{k}={v}" for k, v in MANAGED.items())
    for group, version, plural, _kind in CHILD_KINDS:
        # Server-side filtering: the operator receives (and keeps) only its own children.
        selector = (group, version, plural) if group else (version, plural)
        settings.watching.label_selectors[selector] = only_ours
    memo.kube = Kube.from_environment()
    memo.stores = {}
    memo.wakeups = {}
    memo.redis = {}


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await memo.kube.close()
    for client in memo.redis.values():
        await client.aclose()


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """The same server, CA and credentials as our client; kopf calls this again on a 401."""
    found = connection()
    return kopf.ConnectionInfo(
        server=found.server,
        ca_path=found.ca_path,
        token=found.token,
        certificate_path=found.certificate_path,
        private_key_path=found.private_key_path,
        insecure=found.insecure,
        default_namespace=found.namespace,
    )


def wake(memo: kopf.Memo, namespace: str, name: str) -> None:
    event = getattr(memo, "wakeups", {}).get((namespace, name))
    if event is not None:
        event.set()


@kopf.on.event(*RESOURCE)
async def store_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A change to the store's spec or annotations wakes its daemon (our own status writes
    are filtered out: nothing to do for them)."""
    memory = getattr(memo, "stores", {}).get(body.metadata.uid)
    seen = (body.metadata.get("generation"), dict(body.metadata.annotations))
    if memory is None or memory.seen != seen:
        wake(memo, body.metadata.namespace or "", body.metadata.name or "")


@kopf.daemon(*RESOURCE, cancellation_timeout=10)
async def store_daemon(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, logger: Any, **kwargs: Any
) -> None:
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    uid = body.metadata.uid
    woken = memo.wakeups.setdefault((namespace, name), asyncio.Event())
    memory = memo.stores.setdefault(uid, StoreMemory())

    async def until_stopped() -> None:
        await stopped.wait()

    stop = asyncio.ensure_future(until_stopped())
    delay = 0.0
    try:
        while not stopped:
            waiting = asyncio.ensure_future(woken.wait())
            await asyncio.wait({waiting, stop}, timeout=delay, return_when="FIRST_COMPLETED")
            waiting.cancel()
            if stopped:
                break
            await asyncio.sleep(DEBOUNCE)
            woken.clear()
            delay = await run_pass(body, memory, memo, logger, kwargs)
    finally:
        stop.cancel()
        memo.wakeups.pop((namespace, name), None)
        if stopped.reason and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED:
            memo.stores.pop(uid, None)
            metrics.forget_store(name, namespace)


async def run_pass(
    body: kopf.Body, memory: StoreMemory, memo: kopf.Memo, logger: Any, indexes: dict[str, Any]
) -> float:
    """One pass; returns the seconds until the next one (unless woken sooner)."""
    store: dict[str, Any] = copy.deepcopy(dict(body))
    meta = store["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if meta.get("deletionTimestamp"):
        return INTERVAL
    if memory.status is not None:
        store["status"] = memory.status  # the watch may not have brought our last write yet
    memory.seen = (meta.get("generation"), dict(meta.get("annotations") or {}))
    observed = observed_for(indexes, namespace, name)
    started = time.perf_counter()
    kube: Kube = memo.kube
    try:
        outcome = await reconcile(kube, store, memory, observed, memo.redis)
        change = merge_patch(store.get("status") or {}, outcome.status)
        if change:
            await kube.patch_status(API_VERSION, KIND, namespace, name, change)
        memory.status = outcome.status
    except KubeError as exc:
        metrics.RECONCILES.labels("error").inc()
        message = f"Kubernetes API refused a call: {exc}"
        logger.warning(message)
        kopf.event(body, type="Warning", reason="APIError", message=message[:1024])
        return ERROR_BACKOFF
    except Exception:  # a bug: logged with its traceback, retried, never kills the daemon
        metrics.RECONCILES.labels("error").inc()
        logger.exception("reconcile pass failed")
        return ERROR_BACKOFF
    finally:
        metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
    metrics.RECONCILES.labels("success").inc()
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])
        log = logger.warning if event.type == "Warning" else logger.info
        log("%s: %s", event.reason, event.message)
    resync = INTERVAL * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not crypto
    return min(resync, outcome.requeue_after) if outcome.requeue_after is not None else resync
