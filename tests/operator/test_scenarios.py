"""Scenarios: the real kopf operator against the emulated API server over HTTP."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.operator.conftest import Cluster, eventually
from tests.support.fake_prometheus import FakePrometheus
from tests.support.servers import serve

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
    assert cluster.get("v1/services", "acme-api") is not None
    assert cluster.names("policy/v1/poddisruptionbudgets") == {"acme-api", "acme-worker"}
    assert cluster.get("monitoring.coreos.com/v1/prometheusrules", "acme-slo") is not None
    assert "kopf" not in status  # kopf's bookkeeping lives in annotations
    await eventually(
        lambda: cluster.events("MigrationStarted") and cluster.events("Migrated"), "events"
    )


async def _deployed(cluster: Cluster, version: str = "1.0.0", **spec: object) -> None:
    await cluster.apply_store(version=version, **spec)
    job = f"acme-migrate-{version.replace('.', '-')}"
    await eventually(lambda: cluster.get(JOBS, job), "the first migration Job")
    await cluster.finish_job(job, succeeded=True)
    await eventually(lambda: cluster.condition("Ready")["status"] == "True", "Ready")


def _image(cluster: Cluster, deployment: str) -> str:
    found = cluster.get(DEPLOYMENTS, deployment)
    assert found is not None
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_version_change_migrates_before_rolling(operator: Cluster) -> None:
    cluster = operator
    await _deployed(cluster)
    await cluster.patch_store({"spec": {"version": "1.1.0"}})
    await eventually(lambda: cluster.get(JOBS, "acme-migrate-1-1-0"), "the new migration Job")
    await eventually(lambda: cluster.store()["status"].get("targetVersion") == "1.1.0", "target")
    # While the Job runs, every Deployment still runs the old image.
    assert {_image(cluster, d) for d in ("acme-api", "acme-worker", "acme-scheduler")} == {
        "ghcr.io/asoud/asoud:1.0.0"
    }
    assert cluster.condition("Progressing")["status"] == "True"
    assert cluster.store()["status"]["currentVersion"] == "1.0.0"
    await cluster.finish_job("acme-migrate-1-1-0", succeeded=True)
    await eventually(
        lambda: _image(cluster, "acme-api") == "ghcr.io/asoud/asoud:1.1.0", "the API rolled"
    )
    await eventually(
        lambda: _image(cluster, "acme-worker") == "ghcr.io/asoud/asoud:1.1.0", "workers rolled"
    )
    await eventually(lambda: cluster.store()["status"]["currentVersion"] == "1.1.0", "current")
    assert cluster.store()["status"]["observedGeneration"] == 2


async def test_failed_migration_keeps_the_old_version_and_retries_with_backoff(
    operator: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asoud_operator import migrations

    monkeypatch.setattr(migrations, "BACKOFF_BASE_SECONDS", 2)
    cluster = operator
    await _deployed(cluster)
    await cluster.patch_store({"spec": {"version": "2.0.0"}})
    first = await eventually(lambda: cluster.get(JOBS, "acme-migrate-2-0-0"), "the migration Job")
    await cluster.finish_job("acme-migrate-2-0-0", succeeded=False)
    await eventually(
        lambda: cluster.condition("Migrated")["reason"] == "MigrationFailed", "failure"
    )
    assert cluster.condition("Migrated")["status"] == "False"
    assert cluster.condition("Degraded")["status"] == "True"
    assert _image(cluster, "acme-api") == "ghcr.io/asoud/asoud:1.0.0"  # the old version serves
    assert cluster.store()["status"]["currentVersion"] == "1.0.0"
    [warning] = await eventually(lambda: cluster.events("MigrationFailed"), "a Warning event")
    assert warning["type"] == "Warning"
    # After the backoff the failed Job is replaced by a new attempt.
    retried = await eventually(
        lambda: (
            (job := cluster.get(JOBS, "acme-migrate-2-0-0"))
            and job["metadata"]["uid"] != first["metadata"]["uid"]
            and job
        ),
        "a retried Job",
    )
    assert retried["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.0.0")
    await eventually(lambda: cluster.store()["status"]["migration"]["attempts"] == 2, "attempts")
    await cluster.finish_job("acme-migrate-2-0-0", succeeded=True)
    await eventually(lambda: _image(cluster, "acme-api").endswith(":2.0.0"), "rolled after retry")
    await eventually(lambda: cluster.condition("Degraded")["status"] == "False", "healthy again")


async def test_pause_stops_changes_until_resumed(operator: Cluster) -> None:
    cluster = operator
    await _deployed(cluster)
    await cluster.patch_store({"spec": {"paused": True, "version": "3.0.0"}})
    await eventually(
        lambda: cluster.condition("ReconciliationPaused")["status"] == "True", "paused"
    )
    await asyncio.sleep(1.5)  # several periodic passes
    assert cluster.get(JOBS, "acme-migrate-3-0-0") is None
    assert _image(cluster, "acme-api").endswith(":1.0.0")
    await cluster.patch_store({"spec": {"paused": False}})
    await eventually(lambda: cluster.get(JOBS, "acme-migrate-3-0-0"), "work resumes")
    await eventually(
        lambda: cluster.condition("ReconciliationPaused")["status"] == "False", "unpaused"
    )


async def test_drift_is_corrected(operator: Cluster) -> None:
    cluster = operator
    await _deployed(cluster)
    await cluster.patch(
        "/apis/apps/v1/namespaces/shop/deployments/acme-api",
        {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "evil:latest"}]}}}},
    )
    await eventually(
        lambda: _image(cluster, "acme-api") == "ghcr.io/asoud/asoud:1.0.0", "drift corrected"
    )


async def test_deletion_releases_the_finalizer(operator: Cluster) -> None:
    cluster = operator
    await _deployed(cluster)
    store = cluster.store()
    assert "asoud.io/finalizer" in store["metadata"]["finalizers"]
    children = [cluster.get(DEPLOYMENTS, n) for n in ("acme-api", "acme-worker")]
    assert all(
        c and c["metadata"]["ownerReferences"][0]["uid"] == store["metadata"]["uid"]
        for c in children
    )
    response = await cluster.http.delete("/apis/asoud.io/v1alpha1/namespaces/shop/asoudstores/acme")
    assert response.status_code < 300
    await eventually(
        lambda: cluster.get("asoud.io/v1alpha1/asoudstores", "acme") is None, "the store is gone"
    )


def _env(deployment: dict[str, object], name: str) -> dict[str, object]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return next(e for e in container["env"] if e["name"] == name)


async def test_database_credentials_rotate_through_jobs_and_the_old_login_is_retired(
    operator: Cluster,
) -> None:
    cluster = operator
    await cluster.secret("acme-db-admin", url="postgres://postgres@db.shop.svc/asoud")
    await cluster.apply_store(
        database={
            "secretRef": {"name": "acme-db"},
            "adminSecretRef": {"name": "acme-db-admin"},
            "credentialRotation": {"enabled": True, "group": "asoud_app", "retention": "2s"},
        }
    )
    first = await eventually(
        lambda: cluster.store()["status"].get("credentials", {}).get("pendingUser"), "a new login"
    )
    stamp = first.rsplit("_", 1)[1]
    job = cluster.get(JOBS, f"acme-db-rotate-{stamp}")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "db",
        "rotate-credentials",
        "--user",
        first,
        "--group",
        "asoud_app",
    ]
    password = next(e for e in container["env"] if e["name"] == "ASOUD_NEW_DATABASE_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": f"acme-db-{stamp}", "key": "password"}
    secret = cluster.get("v1/secrets", f"acme-db-{stamp}")
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert url.startswith(f"postgres://{first}:") and url.endswith("@db.shop.svc/asoud")

    await cluster.finish_job(f"acme-db-rotate-{stamp}", succeeded=True)
    await eventually(lambda: cluster.get(JOBS, "acme-migrate-1-0-0"), "migration Job")
    migration = cluster.get(JOBS, "acme-migrate-1-0-0")
    assert (
        _env(migration, "ASOUD_DATABASE_URL")["valueFrom"]["secretKeyRef"]["name"]
        == f"acme-db-{stamp}"
    )
    await cluster.finish_job("acme-migrate-1-0-0", succeeded=True)
    await eventually(lambda: cluster.get(DEPLOYMENTS, "acme-api"), "deployed")
    api = cluster.get(DEPLOYMENTS, "acme-api")
    assert _env(api, "ASOUD_DATABASE_URL")["valueFrom"]["secretKeyRef"] == {
        "name": f"acme-db-{stamp}",
        "key": "url",
    }
    assert cluster.condition("CredentialsReady")["status"] == "True"

    await asyncio.sleep(1.1)  # logins are named by the second
    await cluster.patch_store(
        {"metadata": {"annotations": {"asoud.io/rotate-database-credentials": "now"}}}
    )
    second = await eventually(
        lambda: (
            (u := cluster.store()["status"]["credentials"].get("pendingUser")) and u != first and u
        ),
        "a second login",
    )
    second_stamp = second.rsplit("_", 1)[1]
    # Until its Job succeeds the app keeps the first login.
    assert (
        _env(cluster.get(DEPLOYMENTS, "acme-api"), "ASOUD_DATABASE_URL")["valueFrom"][
            "secretKeyRef"
        ]["name"]
        == f"acme-db-{stamp}"
    )
    await cluster.finish_job(f"acme-db-rotate-{second_stamp}", succeeded=True)
    await eventually(
        lambda: (
            _env(cluster.get(DEPLOYMENTS, "acme-api"), "ASOUD_DATABASE_URL")["valueFrom"][
                "secretKeyRef"
            ]["name"]
            == f"acme-db-{second_stamp}"
        ),
        "the app moved to the second login",
    )
    credentials = await eventually(
        lambda: (c := cluster.store()["status"]["credentials"])["activeUser"] == second and c,
        "the second login recorded",
    )
    assert credentials["retiringUser"] == first
    # After the retention window a Job drops the first login, then its Secret goes.
    retire = await eventually(
        lambda: next((n for n in cluster.names(JOBS) if n.startswith("acme-db-retire-")), None),
        "the retirement Job",
    )
    args = cluster.get(JOBS, retire)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["db", "retire-credentials", "--user", first, "--group", "asoud_app"]
    assert cluster.get("v1/secrets", f"acme-db-{stamp}") is not None
    await cluster.finish_job(retire, succeeded=True)
    await eventually(
        lambda: cluster.get("v1/secrets", f"acme-db-{stamp}") is None, "old Secret deleted"
    )
    await eventually(
        lambda: "retiringUser" not in cluster.store()["status"]["credentials"], "recorded"
    )
    await eventually(lambda: cluster.events("CredentialsRetired"), "an event")


async def _rolled_out(cluster: Cluster, name: str) -> None:
    """What the Deployment controller reports once every replica runs the new template."""
    deployment = cluster.get(DEPLOYMENTS, name)
    replicas = deployment["spec"].get("replicas", 1)
    await cluster.patch(
        f"/apis/apps/v1/namespaces/shop/deployments/{name}/status",
        {
            "status": {
                "observedGeneration": deployment["metadata"]["generation"],
                "updatedReplicas": replicas,
            }
        },
    )


async def test_slo_burn_is_read_back_and_a_fast_burning_rollout_is_halted(
    operator: Cluster,
) -> None:
    cluster = operator
    fake = FakePrometheus(spent_ratio=0.0004)
    with serve(fake.app()) as prometheus:
        await _deployed(cluster, monitoring={"prometheusUrl": prometheus})
        for name in ("acme-api", "acme-worker", "acme-scheduler"):
            await _rolled_out(cluster, name)
        await eventually(lambda: cluster.condition("SLOMet")["status"] == "True", "SLO met")
        assert cluster.store()["status"]["slo"]["errorBudgetRemaining"] == 0.6  # 0.0004 of 0.001
        assert any('service="acme-api"' in q for q in fake.queries)

        fake.error_ratio = {"1h": 0.02, "6h": 0.004}  # 20x and 4x the 0.1 % budget
        await cluster.patch_store({"spec": {"version": "1.1.0"}})
        await eventually(lambda: cluster.get(JOBS, "acme-migrate-1-1-0"), "migration Job")
        await cluster.finish_job("acme-migrate-1-1-0", succeeded=True)
        await eventually(
            lambda: cluster.get(DEPLOYMENTS, "acme-api")["spec"].get("paused") is True, "halted"
        )
        assert _image(cluster, "acme-api").endswith(":1.1.0")
        assert cluster.condition("SLOMet")["status"] == "False"
        await eventually(
            lambda: cluster.condition("Degraded")["reason"] == "RolloutHalted", "Degraded"
        )
        [warning] = await eventually(lambda: cluster.events("RolloutHalted"), "a Warning")
        assert warning["type"] == "Warning"
        assert cluster.store()["status"]["slo"]["burnRate1h"] == 20.0

        fake.error_ratio = {"1h": 0.0, "6h": 0.0}
        await cluster.patch_store(
            {"metadata": {"annotations": {"asoud.io/resume-rollout": "1.1.0"}}}
        )
        await eventually(
            lambda: cluster.get(DEPLOYMENTS, "acme-api")["spec"]["paused"] is False, "resumed"
        )
        await eventually(lambda: cluster.condition("SLOMet")["status"] == "True", "SLO met again")
