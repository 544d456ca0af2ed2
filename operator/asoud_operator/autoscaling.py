"""Worker autoscaling from the task backlog (Redis stream lag + pending of the workers' group).

``decide`` is pure: desired = clamp(ceil(backlog / target), min, max); scaling up is
immediate, scaling down waits until every recommendation in the stabilisation window allows
it (the HPA's algorithm); when the backlog cannot be read, hold (or use fallbackReplicas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from asoud_operator.spec import Autoscaling


@dataclass(frozen=True)
class Decision:
    replicas: int
    desired: int  # what the backlog alone asks for
    reason: str  # ScaledUp, ScaledDown, Stable, StabilizingDown, MetricUnavailable
    recommendations: tuple[tuple[float, int], ...] = field(default=())


def desired_replicas(backlog: int, scaling: Autoscaling) -> int:
    wanted = math.ceil(backlog / scaling.target_backlog_per_replica) if backlog > 0 else 0
    return max(scaling.min_replicas, min(scaling.max_replicas, wanted))


def decide(
    current: int,
    backlog: int | None,
    scaling: Autoscaling,
    now: float,
    history: tuple[tuple[float, int], ...] = (),
) -> Decision:
    """The worker replica count to apply now, with the recommendations to remember."""
    if backlog is None:
        fallback = scaling.fallback_replicas
        replicas = current if fallback is None else fallback
        replicas = max(scaling.min_replicas, min(scaling.max_replicas, replicas))
        return Decision(replicas, replicas, "MetricUnavailable", history)
    desired = desired_replicas(backlog, scaling)
    window = scaling.scale_down_stabilization_seconds
    kept = (*((at, n) for at, n in history if now - at < window), (now, desired))
    if desired >= current:
        return Decision(desired, desired, "ScaledUp" if desired > current else "Stable", kept)
    # Scale down only to the highest recommendation within the window.
    allowed = max(n for _, n in kept)
    if allowed >= current:
        return Decision(current, desired, "StabilizingDown", kept)
    return Decision(allowed, desired, "ScaledDown", kept)
