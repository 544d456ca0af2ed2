"""Migrations gate rollouts: a Job with the new image runs `asoud migrate` before any
Deployment moves to the new version.

``gate`` is pure: from the spec, the status and the observed migration Job it decides which
version the Deployments run, whether a Job must be (re)created, and what to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asoud_operator import children
from asoud_operator.spec import StoreSpec

APPROVE_ANNOTATION = "asoud.io/approve-migration"
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 900
IMAGE_ANNOTATION = "asoud.io/image"


def job_name(store: str, spec: StoreSpec) -> str:
    """Unique per target image (a hash, never a truncated tag): two images, two Jobs."""
    return f"{store}-migrate-{spec.image_digest}"


def active_others(jobs: list[dict[str, Any]], target: str) -> list[str]:
    """Migration Jobs of the store, other than ``target``, that have not finished: a
    superseded version bump, or an abandoned one after a revert. At most one may run."""
    return sorted(
        job["metadata"]["name"]
        for job in jobs
        if job["metadata"]["name"] != target and job_state(job) == "running"
    )


def backoff_seconds(attempts: int) -> int:
    """30 s, 60 s, 120 s ... capped at 15 minutes."""
    return int(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def job(
    store: str, namespace: str, spec: StoreSpec, database_secret: str | None = None
) -> dict[str, Any]:
    pod = children.deployment(store, namespace, spec, "api", None, database_secret=database_secret)[
        "spec"
    ]["template"]["spec"]
    container = pod["containers"][0]
    container.update(name="migrate", args=["migrate"])
    for probe in ("readinessProbe", "livenessProbe", "ports", "lifecycle"):
        container.pop(probe, None)
    pod["restartPolicy"] = "Never"
    pod.pop("topologySpreadConstraints", None)
    meta = children.metadata(store, namespace, job_name(store, spec), "migration", spec.version)
    meta["annotations"][IMAGE_ANNOTATION] = spec.image
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,  # the operator retries with its own backoff and records it
            "activeDeadlineSeconds": spec.migration_timeout_seconds,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": meta["labels"]}, "spec": pod},
        },
    }


def job_state(observed: dict[str, Any] | None) -> str:
    """absent, running, succeeded or failed, from a Job's status."""
    if observed is None:
        return "absent"
    status = observed.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") == "Complete":
            return "succeeded"
        if condition.get("status") == "True" and condition.get("type") == "Failed":
            return "failed"
    if status.get("succeeded"):
        return "succeeded"
    if status.get("failed"):
        return "failed"
    return "running"


@dataclass(frozen=True)
class Gate:
    serving_image: str | None  # the image Deployments run (None: nothing migrated yet)
    create_job: bool
    delete_failed_job: bool
    migrated: bool | None  # the Migrated condition
    reason: str
    message: str
    attempts: int
    requeue_after: float | None = None


def gate(
    store: str,
    spec: StoreSpec,
    current_image: str | None,
    observed_job: dict[str, Any] | None,
    attempts: int,
    seconds_since_failure: float | None,
    approved_version: str | None,
) -> Gate:
    target = spec.version
    if current_image == spec.image:
        return Gate(spec.image, False, False, True, "Migrated", f"Schema is at {target}", 0)
    name = job_name(store, spec)
    if spec.migration_policy == "Manual" and approved_version != target:
        return Gate(
            current_image,
            False,
            False,
            False,
            "MigrationAwaitingApproval",
            f"Annotate {APPROVE_ANNOTATION}={target} to migrate; "
            f"{current_image or 'nothing'} keeps serving",
            attempts,
        )
    state = job_state(observed_job)
    if state == "absent":
        return Gate(
            current_image,
            True,
            False,
            None,
            "MigrationRunning",
            f"Job {name} migrates to {target}",
            attempts + 1,
            requeue_after=5,
        )
    if state == "running":
        return Gate(
            current_image,
            False,
            False,
            None,
            "MigrationRunning",
            f"Job {name} migrates to {target}",
            attempts,
            requeue_after=5,
        )
    if state == "succeeded":
        return Gate(
            spec.image, False, False, True, "Migrated", f"Job {name} migrated to {target}", 0
        )
    wait = backoff_seconds(attempts)
    if seconds_since_failure is not None and seconds_since_failure >= wait:
        return Gate(
            current_image,
            False,
            True,
            False,
            "MigrationFailed",
            f"Job {name} failed; retrying (attempt {attempts + 1})",
            attempts,
            requeue_after=1,
        )
    remaining = wait - (seconds_since_failure or 0)
    return Gate(
        current_image,
        False,
        False,
        False,
        "MigrationFailed",
        f"Job {name} failed; {current_image or 'nothing'} keeps serving; "
        f"retry in {int(remaining)} s",
        attempts,
        requeue_after=max(1.0, remaining),
    )
