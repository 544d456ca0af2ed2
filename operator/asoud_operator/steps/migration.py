"""The migration gate: the Deployments run the last image whose migration Job succeeded.

At most one migration Job runs per store: a Job for an image the spec no longer asks for (a
version bumped again mid-migration, or reverted) is stopped and recorded before the next
one starts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asoud_operator import children, conditions, metrics, migrations
from asoud_operator.reconcile import Pass, Step

SUPERSEDED_KEPT = 5


def _current(status: dict[str, Any], repository: str) -> tuple[str | None, str | None]:
    """(version, image) serving now; stores made before images were recorded have only the
    version."""
    version = status.get("currentVersion")
    image = status.get("currentImage") or (f"{repository}:{version}" if version else None)
    return version, image


async def run(ctx: Pass) -> Step:
    step = Step()
    spec, store = ctx.spec, ctx.name
    current_version, current_image = _current(ctx.status, spec.image_repository)
    target = migrations.job_name(store, spec)
    jobs = [
        job
        for job in ctx.observed.of_kind("Job")
        if (job["metadata"].get("labels") or {}).get(children.COMPONENT_LABEL) == "migration"
    ]
    migration = dict(ctx.status.get("migration") or {})
    superseded = list(migration.get("superseded") or [])
    others = migrations.active_others(jobs, target)
    for name in others:
        # Stop it (its pod goes with it): the schema it was heading for is no longer wanted.
        await ctx.kube.delete("batch/v1", "Job", ctx.namespace, name)
        ctx.observed.forget("Job", name)
        superseded.append({"job": name, "time": conditions.now_iso(ctx.now)})
        metrics.MIGRATIONS.labels("superseded").inc()
        step.event(
            "Warning", "MigrationSuperseded", f"Job {name} stopped: {spec.version} is wanted now"
        )
    observed_job = ctx.observed.get("Job", target)
    # The backoff counts from the failure recorded in status, so an operator restart neither
    # resets it nor reports the same failure twice.
    failure: dict[str, str] = {}
    if migrations.job_state(observed_job) == "failed" and observed_job is not None:
        uid = str(observed_job["metadata"].get("uid"))
        if migration.get("failedJobUid") == uid:
            failure = {"failedJobUid": uid, "lastFailureTime": migration["lastFailureTime"]}
        else:
            failure = {"failedJobUid": uid, "lastFailureTime": conditions.now_iso(ctx.now)}
            metrics.MIGRATIONS.labels("failed").inc()
            step.event(
                "Warning",
                "MigrationFailed",
                f"Job {target} failed; {current_version or 'nothing'} keeps serving",
            )
    since_failure = (
        (ctx.now - datetime.fromisoformat(failure["lastFailureTime"])).total_seconds()
        if failure
        else None
    )
    attempts = int(migration.get("attempts") or 0) if migration.get("job") == target else 0
    approved = ctx.annotations.get(migrations.APPROVE_ANNOTATION)
    decision = migrations.gate(
        store, spec, current_image, observed_job, attempts, since_failure, approved
    )
    if decision.create_job and spec.credential_rotation and ctx.database_secret is None:
        # The first login is being made: migrate as it, so the schema belongs to its group.
        decision = migrations.Gate(
            current_image,
            False,
            False,
            None,
            "WaitingForCredentials",
            "Migrating once the first rotated database login exists",
            attempts,
            requeue_after=5,
        )
    if decision.delete_failed_job:
        await ctx.kube.delete("batch/v1", "Job", ctx.namespace, target)
        ctx.observed.forget("Job", target)
        failure = {}
        decision = migrations.gate(
            store, spec, current_image, None, decision.attempts, None, spec.version
        )
    if decision.create_job and others:
        # Never two at once: the superseded Job must be gone first.
        decision = migrations.Gate(
            current_image,
            False,
            False,
            None,
            "MigrationSuperseded",
            f"Waiting for {', '.join(others)} to stop",
            attempts,
            requeue_after=1,
        )
    if decision.create_job:
        job = migrations.job(store, ctx.namespace, spec, ctx.database_secret)
        job["metadata"]["ownerReferences"] = [ctx.owner]
        ctx.observed.put(await ctx.kube.create(job))
        step.event("Normal", "MigrationStarted", f"Job {target} migrates to {spec.version}")
    if decision.migrated and current_image != decision.serving_image:
        metrics.MIGRATIONS.labels("succeeded").inc()
        step.event("Normal", "Migrated", f"Schema migrated to {spec.version}; rolling out")
    step.condition("Migrated", decision.migrated, decision.reason, decision.message)
    step.status["migration"] = {
        "job": target,
        "version": spec.version,
        "attempts": decision.attempts,
        **failure,
        **({"superseded": superseded[-SUPERSEDED_KEPT:]} if superseded else {}),
    }
    step.status["targetVersion"] = spec.version
    step.status["targetImage"] = spec.image
    if decision.serving_image == spec.image:
        ctx.serving_version, ctx.serving_image = spec.version, spec.image
    else:
        ctx.serving_version, ctx.serving_image = current_version, decision.serving_image
    if ctx.serving_image:
        step.status["currentVersion"] = ctx.serving_version
        step.status["currentImage"] = ctx.serving_image
        step.status["schemaVersion"] = ctx.serving_version
    ctx.migration_reason, ctx.migration_message = decision.reason, decision.message
    if decision.requeue_after is not None:
        step.requeue(decision.requeue_after)
    return step
