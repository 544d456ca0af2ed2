"""Worker replicas: the builtin backlog autoscaler, KEDA, or spec.workers.replicas (/scale).

Whoever the owner of ``replicas`` is, the operator never fights it silently: a Deployment
scaled by hand while the operator owns its replicas is set back, with an event saying so.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from asoud.background.broker import read_backlog
from asoud.platform.redis import KeySpace
from asoud_operator import autoscaling, children, conditions, metrics
from asoud_operator.reconcile import Pass, Step
from asoud_operator.spec import StoreSpec


def stream_key(store: str, spec: StoreSpec) -> str:
    return KeySpace(children.redis_prefix(store, spec))("tasks")


async def read_store_backlog(ctx: Pass) -> int | None:
    """The store's task backlog from its own Redis; None when it cannot be read."""
    try:
        url = await ctx.secret_value(ctx.spec.redis.name, ctx.spec.redis.key)
        if not url:
            return None
        redis = ctx.redis_clients.get(url)
        if redis is None:
            redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            ctx.redis_clients[url] = redis
        return await read_backlog(redis, stream_key(ctx.name, ctx.spec))
    except Exception:  # unreachable, refused, wrong password: fall back, never crash
        return None


def _replicas(deployment: dict[str, Any] | None) -> int | None:
    if deployment is None:
        return None
    value = (deployment.get("spec") or {}).get("replicas")
    return None if value is None else int(value)


async def run(ctx: Pass) -> Step:
    step = Step()
    spec, scaling = ctx.spec, ctx.spec.autoscaling
    observed = ctx.observed.get("Deployment", children.names(ctx.name)["worker"])
    observed_replicas = _replicas(observed)
    current = observed_replicas if observed_replicas is not None else spec.worker_replicas
    if (
        observed_replicas is not None
        and ctx.memory.last_workers is not None
        and observed_replicas != ctx.memory.last_workers
        and not (scaling.enabled and scaling.provider == "keda")
    ):
        step.event(
            "Warning",
            "ManualScaleOverridden",
            f"Workers were scaled to {observed_replicas} outside the operator; set back to "
            f"{ctx.memory.last_workers} (scale the AsoudStore: kubectl scale asoudstore/"
            f"{ctx.name} --replicas=N)",
        )
        current = ctx.memory.last_workers
    backlog: int | None = None
    scaler = "spec.workers.replicas"
    if scaling.enabled and scaling.provider == "builtin":
        backlog = await read_store_backlog(ctx)
        now = time.monotonic()
        if not ctx.memory.scale_history:  # after a restart: no scale-down before a full window
            ctx.memory.scale_history = ((now, current),)
        decision = autoscaling.decide(current, backlog, scaling, now, ctx.memory.scale_history)
        ctx.memory.scale_history = decision.recommendations
        replicas: int | None = decision.replicas
        metrics.AUTOSCALER_DECISIONS.labels(decision.reason).inc()
        if decision.replicas != current and observed is not None:
            step.event(
                "Normal",
                decision.reason,
                f"Workers {current} → {decision.replicas} (backlog {backlog})",
            )
            step.status["workers"] = {"lastScaleTime": conditions.now_iso(ctx.now)}
        if backlog is None:
            step.condition(
                "AutoscalingActive",
                False,
                "MetricUnavailable",
                f"Task backlog unreadable; holding {decision.replicas} workers",
            )
        else:
            step.condition(
                "AutoscalingActive",
                True,
                decision.reason,
                f"Backlog {backlog}, {decision.desired} workers wanted",
            )
        desired = decision.desired
        scaler = "builtin: ceil((lag + pending) / targetBacklogPerReplica)"
        step.requeue(5.0)  # the backlog moves without any Kubernetes event
    elif scaling.enabled:
        replicas = None  # KEDA's HPA owns replicas: never fight it
        step.condition("AutoscalingActive", True, "KEDA", "KEDA ScaledObject scales the workers")
        desired = current
        scaler = "keda: max(lag, pending) / targetBacklogPerReplica"
    else:
        replicas = spec.worker_replicas
        step.condition(
            "AutoscalingActive", False, "Disabled", "Workers follow spec.workers.replicas"
        )
        desired = spec.worker_replicas
        if observed is not None and observed_replicas != replicas:
            step.status["workers"] = {"lastScaleTime": conditions.now_iso(ctx.now)}
    ctx.worker_replicas, ctx.desired_workers = replicas, desired
    metrics.DESIRED_WORKERS.labels(ctx.namespace, ctx.name).set(desired)
    previous = ctx.status.get("workers") or {}
    step.status["workers"] = {
        **({"lastScaleTime": previous["lastScaleTime"]} if "lastScaleTime" in previous else {}),
        **step.status.get("workers", {}),
        "replicas": replicas if replicas is not None else current,
        "desiredReplicas": desired,
        "selector": children.selector_string(ctx.name, "worker"),
        "scaler": scaler,
        **({"backlog": backlog} if backlog is not None else {}),
    }
    return step
