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
    """A new list with one condition set; untouched ones keep their transition times."""
    value = "Unknown" if status is None else ("True" if status else "False")
    result = []
    found = False
    for condition in conditions:
        if condition.get("type") != kind:
            result.append(condition)
            continue
        found = True
        changed = condition.get("status") != value
        result.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "observedGeneration": generation,
                "lastTransitionTime": now_iso(at)
                if changed
                else condition.get("lastTransitionTime", now_iso(at)),
            }
        )
    if not found:
        result.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "observedGeneration": generation,
                "lastTransitionTime": now_iso(at),
            }
        )
    return result


def initial_conditions(generation: int, at: datetime | None = None) -> list[dict[str, Any]]:
    """Every condition present from the first visit, Unknown until known."""
    conditions: list[dict[str, Any]] = []
    for kind in CONDITION_TYPES:
        conditions = set_condition(
            conditions, kind, None, "Reconciling", "Not yet observed", generation, at
        )
    return conditions


def get_condition(conditions: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == kind), None)


def is_true(conditions: list[dict[str, Any]], kind: str) -> bool:
    found = get_condition(conditions, kind)
    return bool(found and found.get("status") == "True")
