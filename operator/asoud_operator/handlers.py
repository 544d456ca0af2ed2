"""kopf wiring: thin handlers that call :func:`asoud_operator.reconcile.reconcile`.

Events (create, update, resume) and a periodic timer all run the same level-based pass, one
at a time per store. kopf's own bookkeeping lives in ``kopf.asoud.io/*`` annotations so the
status stays strictly typed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import kopf

from asoud_operator import metrics
from asoud_operator.kube import Kube, KubeError
from asoud_operator.reconcile import StoreMemory, merge_patch, reconcile
from asoud_operator.spec import API_VERSION, GROUP, KIND, PLURAL, VERSION

RESOURCE = (GROUP, VERSION, PLURAL)
INTERVAL = float(os.environ.get("ASOUD_OPERATOR_RECONCILE_SECONDS", "30"))  # read at import
SERVER_VARIABLE = "ASOUD_OPERATOR_KUBE_SERVER"  # tests and local runs: an explicit API URL


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.asoud.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kopf.asoud.io", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "asoud.io/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    # A timer caught mid-pass when its store is deleted is re-checked after this long before
    # the finalizer is released (kopf's default, 60 s, held deletions for up to a minute).
    settings.background.cancellation_polling = 1
    memo.kube = Kube.from_environment(os.environ.get(SERVER_VARIABLE))
    memo.stores = {}
    memo.locks = {}
    memo.redis = {}


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await memo.kube.close()
    for client in memo.redis.values():
        await client.aclose()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """An explicit API URL (tests, local runs), else the pod's service account or kubeconfig."""
    server = os.environ.get(SERVER_VARIABLE)
    if server:
        return kopf.ConnectionInfo(server=server, insecure=True, default_namespace="default")
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


async def _pass(body: kopf.Body, memo: kopf.Memo, logger: Any) -> None:
    """One reconcile pass under the store's lock. The store is re-read and the status written
    inside the lock, so a pass never works from an older pass's view (kopf's cached body and
    its deferred patches can lag behind)."""
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    lock = memo.locks.setdefault((namespace, name), asyncio.Lock())
    async with lock:
        memory = memo.stores.setdefault((namespace, name), StoreMemory())
        started = time.perf_counter()
        try:
            fresh = await memo.kube.get(API_VERSION, KIND, namespace, name)
            if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                return
            outcome = await reconcile(memo.kube, fresh, memory, memo.redis)
            change = merge_patch(fresh.get("status") or {}, outcome.status)
            if change:
                await memo.kube.patch_status(API_VERSION, KIND, namespace, name, change)
        except KubeError as exc:
            metrics.RECONCILES.labels("error").inc()
            raise kopf.TemporaryError(f"Kubernetes API: {exc}", delay=10) from None
        finally:
            metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
        metrics.RECONCILES.labels("success").inc()
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
        log = logger.warning if event.type == "Warning" else logger.info
        log("%s: %s", event.reason, event.message)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
async def on_change(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    await _pass(body, memo, logger)


@kopf.timer(*RESOURCE, interval=INTERVAL, initial_delay=INTERVAL)
async def periodically(body: kopf.Body, memo: kopf.Memo, logger: Any, **_: Any) -> None:
    """The level-based backstop: drift, Job progress, key schedules and the autoscaler."""
    await _pass(body, memo, logger)


@kopf.on.event("batch", "v1", "jobs", labels={"app.kubernetes.io/managed-by": "asoud-operator"})
async def on_job_event(body: kopf.Body, memo: kopf.Memo, logger: Any, **kwargs: Any) -> None:
    """A migration or credential Job changed: move its store on now, not at the next timer."""
    if kwargs.get("type") != "MODIFIED" or not body.status:
        return
    owner = next(
        (o for o in body.metadata.get("ownerReferences") or [] if o.get("kind") == KIND), None
    )
    if owner is None or not hasattr(memo, "kube"):
        return
    store = await memo.kube.get(API_VERSION, KIND, body.metadata.namespace or "", owner["name"])
    if store is not None:
        await _pass(kopf.Body(store), memo, logger)


@kopf.on.delete(*RESOURCE)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Children go with the store (owner references); only the operator's memory is ours."""
    key = (body.metadata.namespace, body.metadata.name)
    memo.stores.pop(key, None)
    memo.locks.pop(key, None)
    metrics.forget_store(body.metadata.name, body.metadata.namespace or "")
