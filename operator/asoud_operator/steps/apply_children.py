"""Children: server-side apply of what the spec wants, pruning of what it no longer wants.

Applied as field manager ``asoud-operator`` with force, so a field removed from the desired
object (a ``spec.config`` key, a resource limit) is removed from the cluster too. A child is
applied only when its desired form changed or the watched object moved since our last apply
(someone edited it: drift, corrected and counted); otherwise the pass sends nothing.
"""

from __future__ import annotations

from typing import Any

from asoud_operator import children, metrics, slo
from asoud_operator.kube import KubeError
from asoud_operator.reconcile import Pass, Step
from asoud_operator.steps.workers import stream_key

MONITORING_KINDS = frozenset({"ServiceMonitor", "PodMonitor", "PrometheusRule"})
KEDA_KINDS = frozenset({"ScaledObject", "TriggerAuthentication"})


def candidates(store: str) -> set[tuple[str, str, str]]:
    """(apiVersion, kind, name) of every child this step may ever make for a store: what the
    spec no longer wants among these is deleted (never a Secret or Job of another step)."""
    n = children.names(store)
    return {
        ("v1", "ServiceAccount", n["service_account"]),
        ("v1", "ConfigMap", n["config"]),
        ("v1", "ConfigMap", n["dashboards"]),
        ("v1", "Service", n["api"]),
        ("v1", "Secret", n["keda_secret"]),
        ("policy/v1", "PodDisruptionBudget", n["api"]),
        ("policy/v1", "PodDisruptionBudget", n["worker"]),
        ("apps/v1", "Deployment", n["api"]),
        ("apps/v1", "Deployment", n["worker"]),
        ("apps/v1", "Deployment", n["scheduler"]),
        ("monitoring.coreos.com/v1", "ServiceMonitor", n["monitor"]),
        ("monitoring.coreos.com/v1", "PodMonitor", n["worker_monitor"]),
        ("monitoring.coreos.com/v1", "PrometheusRule", n["rules"]),
        ("keda.sh/v1alpha1", "ScaledObject", n["scaled_object"]),
        ("keda.sh/v1alpha1", "TriggerAuthentication", n["keda_auth"]),
    }


async def desired(ctx: Pass) -> list[dict[str, Any]]:
    spec, store, namespace = ctx.spec, ctx.name, ctx.namespace
    objects = [
        children.service_account(store, namespace),
        children.config_map(store, namespace, spec),
        children.service(store, namespace),
        children.pod_disruption_budget(store, namespace, "api"),
        children.pod_disruption_budget(store, namespace, "worker"),
    ]
    if ctx.serving_image and ctx.serving_version:
        serving = spec.serving(ctx.serving_version, ctx.serving_image)
        checksum = children.config_hash(spec.config, spec.env_from_secrets, ctx.serving_image)
        roles: list[tuple[str, int | None]] = [
            ("api", spec.api_replicas),
            ("worker", ctx.worker_replicas),
        ]
        if spec.scheduler_enabled:
            roles.append(("scheduler", 1))
        for role, replicas in roles:
            deployment = children.deployment(
                store,
                namespace,
                serving,
                role,
                replicas,
                database_secret=ctx.database_secret,
                checksum=checksum,
            )
            # Deployment.spec.paused stops a rollout where it is; false resumes it.
            deployment["spec"]["paused"] = bool(ctx.halted_version)
            objects.append(deployment)
    if spec.service_monitor:
        objects += [
            children.service_monitor(store, namespace),
            children.pod_monitor(store, namespace),
        ]
    if spec.prometheus_rule:
        objects.append(children.slo_rule(store, namespace, slo.store_slos(spec)))
    if spec.dashboards:
        objects.append(children.dashboards_config_map(store, namespace))
    if spec.autoscaling.enabled and spec.autoscaling.provider == "keda":
        url = await ctx.secret_value(spec.redis.name, spec.redis.key) or "redis://127.0.0.1:6379/0"
        secret = children.keda_redis_secret(store, namespace, url)
        objects += [
            secret,
            children.trigger_authentication(store, namespace, list(secret["data"])),
            children.scaled_object(store, namespace, spec, stream_key(store, spec), url),
        ]
    return objects


def _marker(obj: dict[str, Any] | None) -> str:
    """What moves when someone changes the object: its generation where the kind has one
    (status updates do not move it), else its resourceVersion."""
    meta = (obj or {}).get("metadata") or {}
    generation = meta.get("generation")
    return f"g{generation}" if generation else f"r{meta.get('resourceVersion', '')}"


async def run(ctx: Pass) -> Step:
    step = Step()
    wanted = await desired(ctx)
    missing_kinds: set[str] = set()
    for obj in wanted:
        obj["metadata"]["ownerReferences"] = [ctx.owner]
        kind, name = obj["kind"], obj["metadata"]["name"]
        digest = children.config_hash(obj)
        seen = ctx.observed.get(kind, name)
        record = ctx.memory.applied.get((kind, name))
        if seen is not None and record == (digest, _marker(seen)):
            continue  # as we left it
        drifted = seen is not None and record is not None and record[0] == digest
        try:
            result = await ctx.kube.apply(obj)
        except KubeError as exc:
            if exc.kind_missing and kind in MONITORING_KINDS | KEDA_KINDS:
                missing_kinds.add(kind)
            else:
                ctx.apply_failures.append(exc)
            continue
        ctx.observed.put(result)
        ctx.memory.applied[(kind, name)] = (digest, _marker(result))
        if kind == "Deployment" and name == children.names(ctx.name)["worker"]:
            ctx.memory.last_workers = ctx.worker_replicas
        if drifted:
            metrics.DRIFT_CORRECTIONS.labels(kind).inc()
            step.event("Normal", "DriftCorrected", f"{kind} {name} set back to its desired state")
    keep = {(obj["kind"], obj["metadata"]["name"]) for obj in wanted}
    uid = ctx.body["metadata"]["uid"]
    for api_version, kind, name in sorted(candidates(ctx.name)):
        seen = ctx.observed.get(kind, name)
        if seen is None or (kind, name) in keep or not _owned_by(seen, uid):
            continue
        try:
            await ctx.kube.delete(api_version, kind, ctx.namespace, name)
        except KubeError as exc:
            ctx.apply_failures.append(exc)
            continue
        ctx.observed.forget(kind, name)
        ctx.memory.applied.pop((kind, name), None)
        step.event("Normal", "ChildRemoved", f"{kind} {name} is no longer wanted by the spec")
    _report(ctx, step, missing_kinds)
    return step


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _report(ctx: Pass, step: Step, missing_kinds: set[str]) -> None:
    spec = ctx.spec
    monitoring_wanted = spec.service_monitor or spec.prometheus_rule
    missing_monitoring = sorted(missing_kinds & MONITORING_KINDS)
    if missing_monitoring:
        message = (
            f"{', '.join(missing_monitoring)} not served by this cluster: install the "
            "Prometheus Operator CRDs or switch spec.monitoring off"
        )
        step.condition("MonitoringReady", False, "PrometheusOperatorMissing", message)
        ctx.warn(step, "PrometheusOperatorMissing", message)
        step.requeue(60.0)
    elif monitoring_wanted:
        step.condition("MonitoringReady", True, "Applied", "Monitors and rules are in place")
    else:
        step.condition("MonitoringReady", True, "Disabled", "spec.monitoring switches them off")
    if missing_kinds & KEDA_KINDS:
        message = "KEDA is not installed (no ScaledObject kind): workers are not autoscaled"
        step.condition("AutoscalingActive", False, "KEDANotInstalled", message)
        ctx.warn(step, "KEDANotInstalled", message)
        step.requeue(60.0)
    for failure in ctx.apply_failures:
        reason = "Forbidden" if failure.forbidden else "ApplyFailed"
        ctx.warn(step, reason, str(failure))
    if ctx.apply_failures:
        step.requeue(30.0)
