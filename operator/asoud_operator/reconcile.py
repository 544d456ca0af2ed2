"""One level-based pass over an AsoudStore: observe, decide (pure functions), apply, report.

A pass runs its steps in order (as CloudNativePG splits create, upgrade, scale and status):
signing keys, the app's secret key, database credentials, the migration gate, workers, SLOs,
children, health. Each step returns its conditions, events, a status fragment and when it
wants to run again; the pass writes the status once and asks to be woken at the earliest
requeue. Observed children come from the watch-fed cache (``Observed``), so a pass in steady
state makes no API request at all.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from asoud_operator import conditions, metrics
from asoud_operator.kube import Kube, KubeError
from asoud_operator.spec import API_VERSION, KIND, InvalidSpec, StoreSpec, parse_spec

PAUSE_ANNOTATION = "asoud.io/paused"
RESUME_ANNOTATION = "asoud.io/resume-rollout"
SECRET_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class StoreMemory:
    """What one store's passes remember between each other (in the operator process)."""

    scale_history: tuple[tuple[float, int], ...] = ()
    # (kind, name) -> (desired hash, resourceVersion or generation seen after our apply)
    applied: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    status: dict[str, Any] | None = None  # the status as last written
    posted: set[str] = field(default_factory=set)  # Warnings posted for problems still present
    last_workers: int | None = None  # worker replicas the operator last applied
    secrets: dict[tuple[str, str], tuple[str | None, float]] = field(default_factory=dict)
    seen: tuple[Any, dict[str, str]] | None = None  # generation and annotations last handled


@dataclass
class Observed:
    """A store's children as the watches last saw them: kind -> name -> object."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(kind, {}).get(name)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return list(self.objects.get(kind, {}).values())

    def put(self, obj: dict[str, Any]) -> None:
        """Record what a write returned, before its watch event arrives."""
        self.objects.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj

    def forget(self, kind: str, name: str) -> None:
        self.objects.get(kind, {}).pop(name, None)


@dataclass
class Step:
    """What one step decided: conditions (type, status, reason, message), events, status."""

    conditions: list[tuple[str, bool | None, str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None

    def condition(self, kind: str, value: bool | None, reason: str, message: str) -> None:
        self.conditions.append((kind, value, reason, message))

    def event(self, kind: str, reason: str, message: str) -> None:
        self.events.append(Event(kind, reason, message))

    def requeue(self, seconds: float) -> None:
        self.requeue_after = (
            seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        )


@dataclass
class Pass:
    """Everything one pass works with; steps read it and add what later steps need."""

    kube: Kube
    body: dict[str, Any]
    spec: StoreSpec
    observed: Observed
    memory: StoreMemory
    redis_clients: dict[str, Redis]
    now: datetime
    status: dict[str, Any]  # the status as the pass began
    # filled by steps for later ones:
    database_secret: str | None = None
    serving_image: str | None = None
    serving_version: str | None = None
    migration_reason: str = ""
    migration_message: str = ""
    worker_replicas: int | None = None
    desired_workers: int = 0
    halted_version: str | None = None
    apply_failures: list[KubeError] = field(default_factory=list)
    active_warnings: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.body["metadata"].get("annotations") or {})

    @property
    def owner(self) -> dict[str, Any]:
        meta = self.body["metadata"]
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def warn(self, step: Step, reason: str, message: str) -> None:
        """A Warning event once per distinct problem, not once per pass while it lasts (and
        again if it comes back after going away)."""
        key = f"{reason}: {message}"
        if key not in self.memory.posted:
            step.event("Warning", reason, message)
        self.active_warnings.add(key)

    async def secret_value(self, name: str, key: str) -> str | None:
        """A value of a Secret the platform engineer owns, read at most once a minute."""
        cached = self.memory.secrets.get((name, key))
        now = time.monotonic()
        if cached is not None and now - cached[1] < SECRET_CACHE_SECONDS:
            return cached[0]
        value = await self.kube.secret_value(self.namespace, name, key)
        self.memory.secrets[(name, key)] = (value, now)
        return value


@dataclass
class Outcome:
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


StepFunction = Callable[[Pass], Awaitable[Step]]


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


def _steps() -> list[StepFunction]:
    from asoud_operator.steps import (
        apply_children,
        database_credentials,
        health,
        keyset,
        migration,
        secret_key,
        slo,
        workers,
    )

    return [
        keyset.run,
        secret_key.run,
        database_credentials.run,
        migration.run,
        workers.run,
        slo.run,
        apply_children.run,
        health.run,
    ]


async def reconcile(
    kube: Kube,
    body: dict[str, Any],
    memory: StoreMemory,
    observed: Observed,
    redis_clients: dict[str, Redis],
    now: datetime | None = None,
) -> Outcome:
    """One pass; returns the status to write, the events to post and when to run again."""
    now = now or datetime.now(UTC)
    meta = body["metadata"]
    generation = int(meta.get("generation") or 1)
    status: dict[str, Any] = dict(body.get("status") or {})
    conds = status.get("conditions") or conditions.initial_conditions(generation, now)

    def set_conditions(items: list[tuple[str, bool | None, str, str]]) -> None:
        nonlocal conds
        for kind, value, reason, message in items:
            conds = conditions.set_condition(conds, kind, value, reason, message, generation, now)

    def finish(events: list[Event], requeue: float | None) -> Outcome:
        status["conditions"] = conds
        status["observedGeneration"] = generation
        metrics.observe_conditions(meta["name"], meta["namespace"], conds)
        return Outcome(status, events, requeue)

    annotations = meta.get("annotations") or {}
    try:
        spec = parse_spec(body.get("spec") or {}, meta["name"])
    except InvalidSpec as exc:
        # A spec the CRD should have refused: say so, change nothing.
        message = f"Invalid spec: {exc}"
        set_conditions(
            [
                ("Ready", False, "InvalidSpec", message),
                ("Progressing", False, "InvalidSpec", message),
                ("Degraded", True, "InvalidSpec", message),
            ]
        )
        status["phase"] = "Invalid"
        return finish([Event("Warning", "InvalidSpec", message)], None)
    if spec.paused or annotations.get(PAUSE_ANNOTATION) == "true":
        set_conditions(
            [
                ("ReconciliationPaused", True, "Paused", "Changes are not applied while paused"),
                ("Progressing", False, "Paused", "Reconciliation is paused"),
            ]
        )
        return finish([], None)
    set_conditions([("ReconciliationPaused", False, "Active", "Reconciling")])

    ctx = Pass(kube, body, spec, observed, memory, redis_clients, now, status)
    events: list[Event] = []
    requeue: float | None = None
    for step in _steps():
        result = await step(ctx)
        set_conditions(result.conditions)
        events += result.events
        for key, value in result.status.items():
            if value is None:
                status.pop(key, None)  # the step no longer reports it
            else:
                status[key] = value
        if result.requeue_after is not None:
            requeue = (
                result.requeue_after if requeue is None else min(requeue, result.requeue_after)
            )
    memory.posted = ctx.active_warnings
    return finish(events, requeue)
