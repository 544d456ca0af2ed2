"""One level-based pass over an AsoudStore: observe, decide (pure functions), apply, report.

Called by the kopf handlers on every event and by a periodic timer, so a missed event or a
hand-edited child is corrected on the next pass. Returns the status to write; never raises
for expected states (a running or failed migration, Redis down), only for API errors.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from asoud.background.broker import read_backlog
from asoud.platform.redis import KeySpace
from asoud_operator import (
    autoscaling,
    children,
    conditions,
    credentials,
    metrics,
    migrations,
    signing_keys,
    slo,
)
from asoud_operator.kube import Kube
from asoud_operator.spec import API_VERSION, KIND, StoreSpec, parse_spec

PAUSE_ANNOTATION = "asoud.io/paused"
RESUME_ANNOTATION = "asoud.io/resume-rollout"


@dataclass
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class StoreMemory:
    """What one store's passes remember between each other (in the operator process)."""

    scale_history: tuple[tuple[float, int], ...] = ()


@dataclass
class Outcome:
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_subset(desired: Any, observed: Any) -> bool:
    """Does the observed object already say everything the desired one says? Fields the API
    server adds (defaults, status, inside list items too) do not count as drift."""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(
            key in observed and is_subset(value, observed[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(observed, list)
            and len(desired) == len(observed)
            and all(is_subset(d, o) for d, o in zip(desired, observed, strict=True))
        )
    return bool(desired == observed)


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7396) turning ``old`` into ``new``: removed keys become null."""
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        previous = old.get(key)
        if isinstance(value, dict) and isinstance(previous, dict):
            nested = merge_patch(previous, value)
            if nested:
                patch[key] = nested
        elif value != previous:
            patch[key] = value
    return patch


async def apply(kube: Kube, body: dict[str, Any], owner: dict[str, Any]) -> str:
    """Create the child or correct its drift: 'created', 'corrected' or 'unchanged'."""
    body["metadata"]["ownerReferences"] = [owner]
    meta = body["metadata"]
    observed = await kube.get(body["apiVersion"], body["kind"], meta["namespace"], meta["name"])
    if observed is None:
        await kube.create(body)
        return "created"
    if is_subset(body, observed):
        return "unchanged"
    patch = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
    await kube.patch(body["apiVersion"], body["kind"], meta["namespace"], meta["name"], patch)
    metrics.DRIFT_CORRECTIONS.labels(body["kind"]).inc()
    return "corrected"


async def _secret_value(kube: Kube, namespace: str, name: str, key: str) -> str | None:
    secret = await kube.get("v1", "Secret", namespace, name)
    data = (secret or {}).get("data") or {}
    if key in data:
        return base64.b64decode(data[key]).decode()
    string_data = (secret or {}).get("stringData") or {}
    value = string_data.get(key)
    return str(value) if value is not None else None


async def read_store_backlog(
    kube: Kube, namespace: str, store: str, spec: StoreSpec, redis_clients: dict[str, Redis]
) -> int | None:
    """The store's task backlog from its own Redis; None when it cannot be read."""
    try:
        url = await _secret_value(kube, namespace, spec.redis.name, spec.redis.key)
        if not url:
            return None
        redis = redis_clients.get(url)
        if redis is None:
            redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            redis_clients[url] = redis
        return await read_backlog(redis, stream_key(store, spec))
    except Exception:  # unreachable, refused, wrong password: fall back, never crash
        return None


def stream_key(store: str, spec: StoreSpec) -> str:
    return KeySpace(spec.redis_key_prefix or f"{store}:")("tasks")


async def reconcile(
    kube: Kube,
    body: dict[str, Any],
    memory: StoreMemory,
    redis_clients: dict[str, Redis],
    now: datetime | None = None,
) -> Outcome:
    now = now or datetime.now(UTC)
    meta = body["metadata"]
    store, namespace = meta["name"], meta["namespace"]
    generation = int(meta.get("generation") or 1)
    status: dict[str, Any] = dict(body.get("status") or {})
    conds = status.get("conditions") or conditions.initial_conditions(generation, now)
    spec = parse_spec(body.get("spec") or {})
    events: list[Event] = []
    annotations = meta.get("annotations") or {}

    def condition(kind: str, value: bool | None, reason: str, message: str) -> None:
        nonlocal conds
        conds = conditions.set_condition(conds, kind, value, reason, message, generation, now)

    if spec.paused or annotations.get(PAUSE_ANNOTATION) == "true":
        condition("ReconciliationPaused", True, "Paused", "Changes are not applied while paused")
        condition("Progressing", False, "Paused", "Reconciliation is paused")
        return Outcome({**status, "conditions": conds, "observedGeneration": generation}, events)
    condition("ReconciliationPaused", False, "Active", "Reconciling")
    owner = owner_reference(body)

    # Signing keys: the keyset Secret the app mounts, rotated on schedule or on demand.
    keyset_name = children.names(store)["keyset"]
    keyset = await kube.get("v1", "Secret", namespace, keyset_name)
    rotation_request = annotations.get(signing_keys.ROTATE_ANNOTATION, "")
    previous_keys = status.get("signingKeys") or {}
    if keyset is None or children.KEYSET_KEY not in (keyset.get("data") or {}):
        ring = signing_keys.initial(spec.key_algorithm)
        events.append(
            Event("Normal", "SigningKeysCreated", f"Keyset with active key {ring.active.kid}")
        )
        changed = True
    else:
        ring = signing_keys.decode(keyset["data"][children.KEYSET_KEY])
        on_demand = bool(rotation_request) and rotation_request != previous_keys.get(
            "rotationRequest", ""
        )
        if on_demand or signing_keys.due(ring, spec.key_rotation_interval, now):
            ring = signing_keys.advance(ring, spec.key_algorithm, spec.key_grace_period, now)
            trigger = "on-demand" if on_demand else "scheduled"
            metrics.KEY_ROTATIONS.labels(trigger).inc()
            events.append(
                Event(
                    "Normal",
                    "SigningKeysRotated",
                    f"{trigger} rotation: {ring.active.kid} signs now",
                )
            )
            changed = True
        else:
            pruned = signing_keys.prune(ring, spec.key_grace_period, now)
            changed = pruned is not None
            ring = pruned or ring
    if changed:
        secret = children.keyset_secret(store, namespace, signing_keys.encode(ring))
        secret["metadata"]["ownerReferences"] = [owner]
        if keyset is None:
            await kube.create(secret)
        else:
            await kube.patch("v1", "Secret", namespace, keyset_name, {"data": secret["data"]})
    status["signingKeys"] = {
        **signing_keys.status(ring, spec.key_rotation_interval),
        "rotationRequest": rotation_request,
    }
    metrics.observe_key_ages(store, namespace, ring, now)
    condition("SigningKeysReady", True, "KeysetCurrent", f"Active key {ring.active.kid}")

    # Database credentials: the active login's Secret, rotated by Jobs of the app's CLI.
    creds_state = dict(status.get("credentials") or {})
    job_names = [
        credentials.job_name(store, action, creds_state[stamp_key])
        for action, stamp_key in (("rotate", "pendingStamp"), ("retire", "retireStamp"))
        if creds_state.get(stamp_key)
    ]
    observed_jobs = {
        name: migrations.job_state(await kube.get("batch/v1", "Job", namespace, name))
        for name in job_names
    }
    base_url = (
        await _secret_value(kube, namespace, spec.database.name, spec.database.key)
        if spec.credential_rotation
        else None
    )
    creds = credentials.plan(
        store,
        namespace,
        spec,
        creds_state,
        observed_jobs,
        base_url,
        annotations.get(credentials.ROTATE_ANNOTATION, ""),
        now,
    )
    for api_version, kind, name in creds.delete:
        await kube.delete(api_version, kind, namespace, name)
    for obj in creds.create:
        obj["metadata"]["ownerReferences"] = [owner]
        await kube.create(obj)
    events += [Event(kind, reason, message) for kind, reason, message in creds.events]
    if any(reason == "CredentialsRotated" for _, reason, _ in creds.events):
        metrics.CREDENTIAL_ROTATIONS.inc()
    if spec.credential_rotation:
        status["credentials"] = creds.status
    condition("CredentialsReady", creds.ready, creds.reason, creds.message)
    database_secret = creds.database_secret

    # Migrations gate the rollout: Deployments run the last migrated version.
    current_version = status.get("currentVersion")
    job_name = migrations.job_name(store, spec.version)
    observed_job = await kube.get("batch/v1", "Job", namespace, job_name)
    migration = status.get("migration") or {}
    # The backoff counts from the failure recorded in status, so an operator restart neither
    # resets it nor reports the same failure twice.
    failure: dict[str, str] = {}
    if migrations.job_state(observed_job) == "failed" and observed_job is not None:
        uid = str(observed_job["metadata"].get("uid"))
        if migration.get("failedJobUid") == uid:
            failure = {"failedJobUid": uid, "lastFailureTime": migration["lastFailureTime"]}
        else:  # a new failure: record it once
            failure = {"failedJobUid": uid, "lastFailureTime": conditions.now_iso(now)}
            metrics.MIGRATIONS.labels("failed").inc()
            events.append(
                Event(
                    "Warning",
                    "MigrationFailed",
                    f"Job {job_name} failed; {current_version or 'nothing'} keeps serving",
                )
            )
    since_failure = (
        (now - datetime.fromisoformat(failure["lastFailureTime"])).total_seconds()
        if failure
        else None
    )
    attempts = (
        int(migration.get("attempts") or 0) if migration.get("version") == spec.version else 0
    )
    decision = migrations.gate(
        store,
        spec,
        current_version,
        observed_job,
        attempts,
        since_failure,
        annotations.get(migrations.APPROVE_ANNOTATION),
    )
    if decision.create_job and spec.credential_rotation and database_secret is None:
        # The first login is being made: migrate as it, so the schema belongs to its group.
        decision = migrations.Gate(
            current_version,
            False,
            False,
            None,
            "WaitingForCredentials",
            "Migrating once the first rotated database login exists",
            attempts,
            requeue_after=5,
        )
    if decision.delete_failed_job:
        await kube.delete("batch/v1", "Job", namespace, job_name)
        failure = {}
        decision = migrations.gate(
            store, spec, current_version, None, decision.attempts, None, spec.version
        )
    if decision.create_job:
        job = migrations.job(store, namespace, spec, database_secret)
        job["metadata"]["ownerReferences"] = [owner]
        await kube.create(job)
        events.append(
            Event("Normal", "MigrationStarted", f"Job {job_name} migrates to {spec.version}")
        )
    if decision.migrated and current_version != decision.serving_version:
        metrics.MIGRATIONS.labels("succeeded").inc()
        events.append(
            Event("Normal", "Migrated", f"Schema migrated to {spec.version}; rolling out")
        )
    condition("Migrated", decision.migrated, decision.reason, decision.message)
    status["migration"] = {
        "job": job_name,
        "version": spec.version,
        "attempts": decision.attempts,
        **failure,
    }
    status["targetVersion"] = spec.version
    if decision.serving_version:
        status["currentVersion"] = decision.serving_version
        status["schemaVersion"] = decision.serving_version

    # Workers: autoscaled from the backlog, KEDA, or spec.workers.replicas (/scale).
    scaling = spec.autoscaling
    worker_replicas: int | None
    observed_workers = await kube.get(
        "apps/v1", "Deployment", namespace, children.names(store)["worker"]
    )
    current_workers = int(
        ((observed_workers or {}).get("spec") or {}).get("replicas") or spec.worker_replicas
    )
    backlog: int | None = None
    if scaling.enabled and scaling.provider == "builtin":
        backlog = await read_store_backlog(kube, namespace, store, spec, redis_clients)
        if not memory.scale_history:  # after a restart: no scale-down before a full window
            memory.scale_history = ((time.monotonic(), current_workers),)
        scale = autoscaling.decide(
            current_workers, backlog, scaling, time.monotonic(), memory.scale_history
        )
        memory.scale_history = scale.recommendations
        worker_replicas = scale.replicas
        metrics.AUTOSCALER_DECISIONS.labels(scale.reason).inc()
        if scale.replicas != current_workers and observed_workers is not None:
            events.append(
                Event(
                    "Normal",
                    scale.reason,
                    f"Workers {current_workers} → {scale.replicas} (backlog {backlog})",
                )
            )
            status.setdefault("workers", {})["lastScaleTime"] = conditions.now_iso(now)
        if backlog is None:
            condition(
                "AutoscalingActive",
                False,
                "MetricUnavailable",
                f"Task backlog unreadable; holding {scale.replicas} workers",
            )
        else:
            condition(
                "AutoscalingActive",
                True,
                scale.reason,
                f"Backlog {backlog}, {scale.desired} workers wanted",
            )
        desired_workers = scale.desired
    elif scaling.enabled:
        worker_replicas = None  # KEDA's HPA owns replicas: never fight it
        condition("AutoscalingActive", True, "KEDA", "KEDA ScaledObject scales the workers")
        desired_workers = current_workers
    else:
        worker_replicas = spec.worker_replicas
        condition("AutoscalingActive", False, "Disabled", "Workers follow spec.workers.replicas")
        desired_workers = spec.worker_replicas
    metrics.DESIRED_WORKERS.labels(namespace, store).set(desired_workers)

    # SLOs read back from Prometheus; a rollout that burns the budget fast is halted.
    store_slos = slo.store_slos(spec)
    halted = (status.get("rollout") or {}).get("haltedVersion")
    if halted and (
        halted != spec.version or annotations.get(RESUME_ANNOTATION) == halted
    ):  # rolled back, or resumed by hand
        events.append(Event("Normal", "RolloutResumed", f"Rollout of {halted} resumed"))
        halted = None
    if spec.prometheus_url:
        rates = await slo.read_burn_rates(
            spec.prometheus_url,
            store,
            children.metrics_selector(store, namespace),
            store_slos,
            str(spec.slo.get("window", "30d")),
        )
        if rates is None:
            condition("SLOMet", None, "PrometheusUnavailable", "Burn rates could not be read")
        else:
            status["slo"] = {
                "errorBudgetRemaining": rates.budget_remaining,
                "burnRate1h": round(rates.burn_1h, 3),
                "burnRate6h": round(rates.burn_6h, 3),
            }
            condition(
                "SLOMet",
                not rates.fast,
                "FastBurn" if rates.fast else "WithinBudget",
                f"Burn rate {rates.burn_1h:.1f}x over 1h, {rates.burn_6h:.1f}x over 6h",
            )
            observed_api = await kube.get(
                "apps/v1", "Deployment", namespace, children.names(store)["api"]
            )
            if rates.fast and not halted and _rolling_out(observed_api, spec.image):
                halted = spec.version
                events.append(
                    Event(
                        "Warning",
                        "RolloutHalted",
                        f"Rollout of {spec.version} paused: error budget burning "
                        f"{rates.burn_1h:.1f}x; annotate {RESUME_ANNOTATION}={spec.version} "
                        "to resume or set the previous version to roll back",
                    )
                )
    else:
        condition(
            "SLOMet", None, "NoPrometheus", "Set spec.monitoring.prometheusUrl to read burn rates"
        )
    status["rollout"] = {"haltedVersion": halted} if halted else {}

    # Children. Deployments exist only once a version has been migrated.
    serving = decision.serving_version
    objects: list[dict[str, Any]] = [
        children.service_account(store, namespace),
        children.config_map(store, namespace, spec),
        children.service(store, namespace),
        children.pod_disruption_budget(store, namespace, "api"),
        children.pod_disruption_budget(store, namespace, "worker"),
    ]
    if serving:
        serving_spec = spec if serving == spec.version else _with_version(spec, serving)
        checksum = children.config_hash(spec.config, serving)
        objects += [
            children.deployment(
                store,
                namespace,
                serving_spec,
                "api",
                spec.api_replicas,
                database_secret=database_secret,
                checksum=checksum,
            ),
            children.deployment(
                store,
                namespace,
                serving_spec,
                "worker",
                worker_replicas,
                database_secret=database_secret,
                checksum=checksum,
            ),
        ]
        if spec.scheduler_enabled:
            objects.append(
                children.deployment(
                    store,
                    namespace,
                    serving_spec,
                    "scheduler",
                    1,
                    database_secret=database_secret,
                    checksum=checksum,
                )
            )
    if spec.service_monitor:
        objects += [
            children.service_monitor(store, namespace),
            children.pod_monitor(store, namespace),
        ]
    if spec.prometheus_rule:
        objects.append(children.slo_rule(store, namespace, store_slos))
    if spec.dashboards:
        objects.append(children.dashboards_config_map(store, namespace))
    if scaling.enabled and scaling.provider == "keda":
        objects.append(children.scaled_object(store, namespace, spec, stream_key(store, spec)))
    for obj in objects:
        if obj["kind"] == "Deployment":
            # Deployment.spec.paused stops a rollout where it is; false resumes it.
            obj["spec"]["paused"] = bool(halted)
        await apply(kube, obj, owner)

    status["workers"] = {
        **(status.get("workers") or {}),
        "replicas": worker_replicas if worker_replicas is not None else current_workers,
        "desiredReplicas": desired_workers,
        "selector": children.selector_string(store, "worker"),
        **({"backlog": backlog} if backlog is not None else {}),
    }
    rolled_out = bool(serving) and serving == spec.version
    if rolled_out:
        condition("Progressing", False, "RolloutComplete", f"Version {spec.version} is serving")
        condition("Ready", True, "Reconciled", f"Version {spec.version} serving")
        condition("Degraded", False, "AsExpected", "No failures")
        status["phase"] = "Ready"
    elif decision.reason == "MigrationFailed":
        condition("Progressing", False, "MigrationFailed", decision.message)
        condition("Ready", bool(serving), "MigrationFailed", decision.message)
        condition("Degraded", True, "MigrationFailed", decision.message)
        status["phase"] = "Migration failed"
    else:
        condition("Progressing", True, decision.reason, decision.message)
        condition("Ready", bool(serving), decision.reason, decision.message)
        status["phase"] = "Upgrading" if serving else "Migrating"
    if halted:
        condition("Degraded", True, "RolloutHalted", f"Rollout of {halted} paused: fast burn")
        status["phase"] = "Rollout halted"
    status["conditions"] = conds
    status["observedGeneration"] = generation
    metrics.observe_conditions(store, namespace, conds)
    return Outcome(status, events, decision.requeue_after)


def _rolling_out(deployment: dict[str, Any] | None, image: str) -> bool:
    """Is this Deployment moving to ``image`` and not done yet?"""
    if deployment is None:
        return False
    spec, observed = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = spec.get("template", {}).get("spec", {}).get("containers") or [{}]
    if containers[0].get("image") != image:
        return False
    replicas = int(spec.get("replicas") or 0)
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    return (
        int(observed.get("observedGeneration") or 0) < generation
        or int(observed.get("updatedReplicas") or 0) < replicas
    )


def _with_version(spec: StoreSpec, version: str) -> StoreSpec:
    from dataclasses import replace

    return replace(spec, version=version)
