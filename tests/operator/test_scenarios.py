"""Scenarios: the real kopf operator against the emulated API server over HTTP."""

from __future__ import annotations

from tests.operator.conftest import Cluster, eventually

DEPLOYMENTS = "apps/v1/deployments"
JOBS = "batch/v1/jobs"


async def test_create_migrates_first_then_deploys_with_conditions(operator: Cluster) -> None:
    cluster = operator
    await cluster.apply_store()
    job = await eventually(lambda: cluster.get(JOBS, "acme-migrate-1-0-0"), "the migration Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/asoud/asoud:1.0.0"
    owner = job["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "AsoudStore" and owner["uid"] == cluster.store()["metadata"]["uid"]
    # Every condition is there from the first visit; nothing is deployed before the schema.
    await eventually(lambda: cluster.condition("Migrated"), "conditions")
    kinds = {c["type"] for c in cluster.store()["status"]["conditions"]}
    assert kinds >= {
        "Ready",
        "Progressing",
        "Migrated",
        "SigningKeysReady",
        "AutoscalingActive",
        "ReconciliationPaused",
    }
    assert cluster.condition("Ready")["status"] == "False"
    assert cluster.condition("Progressing")["status"] == "True"
    assert cluster.names(DEPLOYMENTS) == set()
    assert cluster.get("v1/secrets", "acme-signing-keys") is not None

    await cluster.finish_job("acme-migrate-1-0-0", succeeded=True)
    await eventually(lambda: cluster.condition("Ready")["status"] == "True", "Ready")
    assert cluster.names(DEPLOYMENTS) == {"acme-api", "acme-worker", "acme-scheduler"}
    api = cluster.get(DEPLOYMENTS, "acme-api")
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/asoud/asoud:1.0.0"
    assert api["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "asoud-operator"
    status = cluster.store()["status"]
    assert status["currentVersion"] == "1.0.0" and status["observedGeneration"] == 1
    assert cluster.condition("Migrated")["status"] == "True"
    assert {"v1/services", "policy/v1/poddisruptionbudgets"} and cluster.get(
        "v1/services", "acme-api"
    )
    assert cluster.get("monitoring.coreos.com/v1/prometheusrules", "acme-slo") is not None
    assert "kopf" not in status  # kopf's bookkeeping lives in annotations
    await eventually(
        lambda: cluster.events("MigrationStarted") and cluster.events("Migrated"), "events"
    )
