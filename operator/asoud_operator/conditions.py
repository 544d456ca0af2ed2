"""Status conditions after Kubernetes conventions (type, status, reason, message,
observedGeneration, lastTransitionTime); the transition time moves only when status does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

CONDITION_TYPES = (
    "Ready",
    "Progressing",
    "Migrated",
    "SigningKeysReady",
    "CredentialsReady",
    "AutoscalingActive",
    "SLOMet",
    "MonitoringReady",
    "ReconciliationPaused",
    "Degraded",
)


def now_iso(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """A new list with one condition set; its transition time moves only when status does."""
    value = "Unknown" if status is None else ("True" if status else "False")
    previous = next((c for c in conditions if c.get("type") == kind), None)
    unchanged = previous is not None and previous.get("status") == value
    updated = {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": previous.get("lastTransitionTime", now_iso(at))
        if unchanged and previous is not None
        else now_iso(at),
    }
    if previous is None:
        return [*conditions, updated]
    return [updated if c is previous else c for c in conditions]


def initial_conditions(generation: int, at: datetime | None = None) -> list[dict[str, Any]]:
    """Every condition present from the first visit, Unknown until known."""
    conditions: list[dict[str, Any]] = []
    for kind in CONDITION_TYPES:
        conditions = set_condition(
            conditions, kind, None, "Reconciling", "Not yet observed", generation, at
        )
    return conditions
