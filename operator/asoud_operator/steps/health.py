"""Honest status: Ready, Progressing and Degraded from the workload, not from intentions.

Ready means the API serves: a migrated image and at least one available API pod (the
Deployment controller's ``availableReplicas``, i.e. pods passing their readiness probe).
Progressing means a migration or a rollout is under way. Degraded names what is wrong: a
failed migration, a halted rollout, refused API calls, no API or worker pod available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asoud_operator import children
from asoud_operator.reconcile import Pass, Step

WAITING_REASONS = {"MigrationAwaitingApproval", "WaitingForCredentials"}


@dataclass(frozen=True)
class Rollout:
    replicas: int
    available: int
    updated: int
    total: int  # pods of every revision (old ones still running while a rollout goes on)
    current: bool  # the controller has seen the latest spec
    image: str

    @property
    def complete(self) -> bool:
        """As `kubectl rollout status` decides: the new revision has every replica, all of
        them available, and no pod of an older revision is left."""
        return (
            self.current
            and self.updated >= self.replicas
            and self.available >= self.replicas
            and self.total <= self.updated
        )


def rollout(deployment: dict[str, Any] | None) -> Rollout | None:
    if deployment is None:
        return None
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = int(deployment["metadata"].get("generation") or 0)
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return Rollout(
        replicas=int(spec.get("replicas", 1)),
        available=int(status.get("availableReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        total=int(status.get("replicas") or 0),
        current=int(status.get("observedGeneration") or 0) >= generation,
        image=str(containers[0].get("image", "")),
    )


async def run(ctx: Pass) -> Step:
    step = Step()
    names = children.names(ctx.name)
    api = rollout(ctx.observed.get("Deployment", names["api"]))
    workers = rollout(ctx.observed.get("Deployment", names["worker"]))
    scheduler = rollout(ctx.observed.get("Deployment", names["scheduler"]))
    migrating = ctx.serving_image != ctx.spec.image
    failed_migration = ctx.migration_reason == "MigrationFailed"
    problems: list[tuple[str, str]] = []
    if failed_migration:
        problems.append(("MigrationFailed", ctx.migration_message))
    if ctx.halted_version:
        problems.append(("RolloutHalted", f"Rollout of {ctx.halted_version} paused: fast burn"))
    for failure in ctx.apply_failures:
        problems.append(("Forbidden" if failure.forbidden else "ApplyFailed", str(failure)))

    if ctx.serving_image is None:
        ready, reason, message = False, ctx.migration_reason, ctx.migration_message
    elif api is None:
        ready, reason, message = False, "Deploying", "The API Deployment does not exist yet"
    elif api.available == 0:
        ready, reason = False, "APIUnavailable"
        message = f"0 of {api.replicas} API pods available"
        if api.replicas > 0:
            problems.append((reason, message))
    else:
        ready, reason = True, "Serving"
        message = (
            f"{ctx.serving_version} serving: {api.available}/{api.replicas} API pods available"
        )
    if ctx.serving_image and workers is not None and workers.replicas > 0 and not workers.available:
        problems.append(("WorkersUnavailable", f"0 of {workers.replicas} worker pods available"))

    rolling = [
        role
        for role, state in (("api", api), ("worker", workers), ("scheduler", scheduler))
        if state is not None and (state.image != ctx.serving_image or not state.complete)
    ]
    if migrating and ctx.migration_reason not in WAITING_REASONS and not failed_migration:
        progressing = (True, ctx.migration_reason, ctx.migration_message)
    elif rolling and not ctx.halted_version:
        progressing = (True, "RollingOut", f"Rolling out {', '.join(rolling)}")
    elif ctx.serving_image is None:
        progressing = (False, ctx.migration_reason, ctx.migration_message)
    else:
        progressing = (False, "RolloutComplete", f"{ctx.serving_version} is rolled out")
        if migrating:
            progressing = (False, ctx.migration_reason, ctx.migration_message)

    step.condition("Ready", ready, reason, message)
    step.condition("Progressing", *progressing)
    if problems:
        step.condition("Degraded", True, problems[0][0], "; ".join(m for _, m in problems))
    else:
        step.condition("Degraded", False, "AsExpected", "No failures")
    if problems:
        phase = "Degraded" if ready else "Failing"
    elif progressing[0]:
        phase = "Upgrading" if ready else ("Migrating" if migrating else "Deploying")
    else:
        phase = "Ready" if ready else "Pending"
    step.status["phase"] = phase
    if not ready or progressing[0]:
        step.requeue(10.0)
    return step
