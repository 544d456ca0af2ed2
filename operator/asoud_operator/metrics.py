"""The operator's own Prometheus metrics, served on /metrics by ``main``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from asoud.platform.keyring import Keyring

REGISTRY = CollectorRegistry()

RECONCILES = Counter(
    "asoud_operator_reconciles", "Reconcile passes by result", ["result"], registry=REGISTRY
)
RECONCILE_DURATION = Histogram(
    "asoud_operator_reconcile_duration_seconds",
    "Duration of one reconcile pass",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
DRIFT_CORRECTIONS = Counter(
    "asoud_operator_drift_corrections",
    "Children patched back to their desired state",
    ["kind"],
    registry=REGISTRY,
)
MIGRATIONS = Counter(
    "asoud_operator_migrations", "Migration Jobs by outcome", ["result"], registry=REGISTRY
)
KEY_ROTATIONS = Counter(
    "asoud_operator_signing_key_rotations", "Signing-key rotations", ["trigger"], registry=REGISTRY
)
KEY_AGE = Gauge(
    "asoud_operator_signing_key_age_seconds",
    "Age of each store's signing keys by state",
    ["namespace", "store", "state"],
    registry=REGISTRY,
)
CREDENTIAL_ROTATIONS = Counter(
    "asoud_operator_credential_rotations", "Database logins rotated", registry=REGISTRY
)
AUTOSCALER_DECISIONS = Counter(
    "asoud_operator_autoscaler_decisions",
    "Worker autoscaler decisions",
    ["reason"],
    registry=REGISTRY,
)
DESIRED_WORKERS = Gauge(
    "asoud_operator_desired_workers",
    "Workers each store's backlog asks for",
    ["namespace", "store"],
    registry=REGISTRY,
)
CONDITION = Gauge(
    "asoud_operator_store_condition",
    "1 for each store condition's current status",
    ["namespace", "store", "type", "status"],
    registry=REGISTRY,
)


def observe_key_ages(store: str, namespace: str, ring: Keyring, now: datetime) -> None:
    for state in ("next", "active", "retiring"):
        ages = [(now - k.created_at).total_seconds() for k in ring.keys if k.state.value == state]
        KEY_AGE.labels(namespace, store, state).set(max(ages) if ages else 0)


def observe_conditions(store: str, namespace: str, conditions: list[dict[str, Any]]) -> None:
    for condition in conditions:
        for value in ("True", "False", "Unknown"):
            CONDITION.labels(namespace, store, condition["type"], value).set(
                1 if condition["status"] == value else 0
            )


def forget_store(store: str, namespace: str) -> None:
    """A deleted store's series disappear instead of lingering at their last value."""
    for gauge in (KEY_AGE, DESIRED_WORKERS, CONDITION):
        for labels in list(gauge._metrics):
            if labels[0] == namespace and labels[1] == store:
                gauge.remove(*labels)
