"""The operator's control loop against the strict API server, with tests playing the Job and
Deployment controllers: create, migrate, deploy, report honestly, prune, correct drift."""

from __future__ import annotations

from tests.operator.conftest import Cluster, eventually

DEPLOYMENTS = "apps/v1/deployments"
JOBS = "batch/v1/jobs"


def migration_job(cluster: Cluster) -> str:
    jobs = cluster.names(JOBS)
    assert len(jobs) == 1, jobs
    return next(iter(jobs))


async def test_create_migrates_first_then_deploys(operator: Cluster) -> None:
    cluster = operator
    await cluster.apply_store()
    job_name = await eventually(lambda: migration_job(cluster), "the migration Job")
    job = cluster.get(JOBS, job_name)
    assert job is not None
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert cluster.names(DEPLOYMENTS) == set()
    await cluster.finish_job(job_name, succeeded=True)
    await eventually(lambda: cluster.names(DEPLOYMENTS) == {"acme-api", "acme-worker", "acme-scheduler"}, "deployments")
    assert cluster.condition("Ready")["status"] == "False"
    await cluster.deployment_available("acme-api")
    await cluster.deployment_available("acme-worker")
    await cluster.deployment_available("acme-scheduler")
    await eventually(lambda: cluster.condition("Ready")["status"] == "True", "Ready")
