"""The operator's control loop against the strict API server, with tests playing the Job and
Deployment controllers: migrate then deploy, honest status, errors reported, pruning, drift,
watches, pause, deletion, autoscaling and the SLO auto-pilot."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from asoud_operator import metrics, migrations
from tests.kube.apiserver import KubernetesError
from tests.operator.conftest import STATUS_SCHEMA, Cluster, eventually, undeclared
from tests.support.fake_prometheus import FakePrometheus
from tests.support.servers import serve

DEPLOYMENTS = "apps/v1/deployments"
JOBS = "batch/v1/jobs"
ROLES = ("api", "worker", "scheduler")


def migration_jobs(cluster: Cluster) -> list[str]:
    return sorted(n for n in cluster.names(JOBS) if "-migrate-" in n)


def image(cluster: Cluster, deployment: str) -> str:
    found = cluster.get(DEPLOYMENTS, deployment)
    assert found is not None
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


async def migrate(cluster: Cluster, succeeded: bool = True) -> str:
    """Finish the store's one running migration Job as the Job controller would."""
    name = await eventually(
        lambda: [
            n
            for n in migration_jobs(cluster)
            if not (cluster.get(JOBS, n) or {}).get("status", {}).get("conditions")
        ],
        "a running migration Job",
    )
    await cluster.finish_job(name[0], succeeded=succeeded)
    return str(name[0])


async def available(cluster: Cluster, store: str = "acme") -> None:
    """Every Deployment of the store rolled out and available (the controllers' part)."""
    for role in ROLES:
        name = f"{store}-{role}"
        await eventually(lambda n=name: cluster.get(DEPLOYMENTS, n), f"{name}")
        await cluster.deployment_available(name)


async def ready(cluster: Cluster, **spec: Any) -> None:
    await cluster.apply_store(**spec)
    await migrate(cluster)
    await available(cluster)
    await eventually(lambda: cluster.store()["status"].get("phase") == "Ready", "phase Ready")


def assert_status_declared(cluster: Cluster) -> None:
    """A real API server prunes undeclared status fields: the CRD must declare them all."""
    assert undeclared(STATUS_SCHEMA, cluster.store().get("status") or {}, "status") == []


async def test_create_migrates_first_then_deploys_and_reports_the_workload(
    operator: Cluster,
) -> None:
    cluster = operator
    await cluster.apply_store()
    [job_name] = await eventually(lambda: migration_jobs(cluster), "the migration Job")
    job = cluster.get(JOBS, job_name)
    assert job is not None
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["migrate"] and container["image"] == "ghcr.io/asoud/asoud:1.0.0"
    owner = job["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "AsoudStore" and owner["uid"] == cluster.store()["metadata"]["uid"]
    await eventually(lambda: cluster.condition("Migrated"), "conditions")
    kinds = {c["type"] for c in cluster.store()["status"]["conditions"]}
    assert kinds >= {"Ready", "Progressing", "Migrated", "SigningKeysReady", "Degraded"}
    assert cluster.condition("Ready")["status"] == "False"
    assert cluster.names(DEPLOYMENTS) == set()  # nothing runs before the schema exists

    await cluster.finish_job(job_name, succeeded=True)
    await eventually(lambda: cluster.names(DEPLOYMENTS) == {f"acme-{r}" for r in ROLES}, "apps")
    # Deployed is not Ready: the Deployments have no available pod yet.
    await eventually(lambda: cluster.condition("Ready")["reason"] == "APIUnavailable", "honest")
    assert cluster.condition("Ready")["status"] == "False"
    await available(cluster)
    await eventually(lambda: cluster.condition("Ready")["status"] == "True", "Ready")
    await eventually(lambda: cluster.store()["status"]["phase"] == "Ready", "phase")
    assert cluster.condition("Progressing")["reason"] == "RolloutComplete"
    assert cluster.condition("Degraded")["status"] == "False"
    # The API pods go away: the store says so.
    await cluster.deployment_available("acme-api", 0)
    await eventually(lambda: cluster.condition("Ready")["status"] == "False", "not Ready")
    assert cluster.condition("Degraded")["reason"] == "APIUnavailable"
    assert cluster.store()["status"]["phase"] == "Failing"
    api = cluster.get(DEPLOYMENTS, "acme-api")
    assert api is not None
    env = {e["name"] for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"ASOUD_JWT_KEYRING_FILE", "ASOUD_SECRET_KEY", "ASOUD_PUBLIC_BASE_URL"} <= env
    assert cluster.get("v1/secrets", "acme-secret-key") is not None
    meta = cluster.store()["metadata"]
    assert meta["finalizers"] == ["asoud.io/finalizer"]
    assert "kopf" not in cluster.store()["status"]
    assert_status_declared(cluster)


async def test_a_version_change_migrates_before_rolling_and_a_failure_keeps_the_old_one(
    operator: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = operator
    monkeypatch.setattr(migrations, "BACKOFF_BASE_SECONDS", 1)
    await ready(cluster)
    first = migration_jobs(cluster)
    await cluster.patch_store({"spec": {"version": "1.1.0"}})
    failed = await migrate(cluster, succeeded=False)
    assert failed not in first  # a new Job name for a new image, never a reused one
    await eventually(lambda: cluster.condition("Migrated")["reason"] == "MigrationFailed", "fail")
    assert cluster.condition("Degraded")["reason"] == "MigrationFailed"
    assert image(cluster, "acme-api").endswith(":1.0.0")  # the old version keeps serving
    assert cluster.condition("Ready")["status"] == "True"
    [warning] = await eventually(lambda: cluster.events("MigrationFailed"), "a Warning")
    assert warning["type"] == "Warning"
    # After the backoff the failed Job is replaced by a new attempt, which succeeds.
    uid = (cluster.get(JOBS, failed) or {})["metadata"]["uid"]
    await eventually(
        lambda: (cluster.get(JOBS, failed) or {}).get("metadata", {}).get("uid") not in (None, uid),
        "a new attempt after the backoff",
        10,
    )
    retried = await migrate(cluster)
    assert retried == failed  # the same image, the same Job name
    await eventually(lambda: image(cluster, "acme-api").endswith(":1.1.0"), "rolled")
    assert cluster.condition("Progressing")["reason"] == "RollingOut"
    await available(cluster)
    await eventually(lambda: cluster.store()["status"]["phase"] == "Ready", "Ready on 1.1.0")
    assert cluster.store()["status"]["currentVersion"] == "1.1.0"
    assert len(cluster.events("MigrationFailed")) == 1  # reported once, not per pass


async def test_removed_fields_and_children_go_away(operator: Cluster) -> None:
    cluster = operator
    await ready(
        cluster,
        config={"ASOUD_RATE_LIMIT_BURST": "500/minute", "ASOUD_CACHE_ENABLED": "false"},
        api={"replicas": 2, "resources": {"limits": {"memory": "512Mi"}}},
    )
    assert cluster.get("apps/v1/deployments", "acme-scheduler") is not None
    await cluster.patch_store(
        {
            "spec": {
                "config": {"ASOUD_CACHE_ENABLED": None},
                "api": {"resources": None},
                "scheduler": {"enabled": False},
                "monitoring": {"dashboards": False, "serviceMonitor": False},
            }
        }
    )
    # One pass prunes the children one request at a time: wait for all of them, not the first.
    await eventually(
        lambda: (
            cluster.get(DEPLOYMENTS, "acme-scheduler") is None
            and cluster.get("v1/configmaps", "acme-dashboards") is None
            and cluster.get("monitoring.coreos.com/v1/servicemonitors", "acme-api") is None
        ),
        "pruned",
    )
    config = cluster.get("v1/configmaps", "acme-config")
    assert config is not None and config["data"] == {"ASOUD_RATE_LIMIT_BURST": "500/minute"}
    api = cluster.get(DEPLOYMENTS, "acme-api")
    assert api is not None and "resources" not in api["spec"]["template"]["spec"]["containers"][0]
    assert cluster.get("monitoring.coreos.com/v1/prometheusrules", "acme-slo") is not None
    await eventually(
        lambda: (
            "Deployment acme-scheduler is no longer wanted by the spec"
            in {e["message"] for e in cluster.events("ChildRemoved")}
        ),
        "an event per removed child",
    )


async def test_drift_is_corrected_and_a_deleted_child_returns_at_once(operator: Cluster) -> None:
    cluster = operator
    await ready(cluster)
    before = metrics.DRIFT_CORRECTIONS.labels("Deployment")._value.get()
    # kubectl edit: someone changes the image and drops a variable.
    await cluster.patch(
        "/apis/apps/v1/namespaces/shop/deployments/acme-worker",
        {"spec": {"template": {"spec": {"containers": [{"name": "worker", "image": "evil:1"}]}}}},
    )
    await eventually(lambda: image(cluster, "acme-worker").endswith(":1.0.0"), "corrected")
    assert metrics.DRIFT_CORRECTIONS.labels("Deployment")._value.get() == before + 1
    # A deleted Deployment is recreated from the watch, long before the 1 s resync twice over.
    await cluster.delete(DEPLOYMENTS, "acme-api")
    await eventually(lambda: cluster.get(DEPLOYMENTS, "acme-api"), "recreated", timeout=5)


async def test_pause_stops_changes_until_resumed(operator: Cluster) -> None:
    cluster = operator
    await ready(cluster)
    await cluster.patch_store({"spec": {"paused": True, "version": "2.0.0"}})
    await eventually(lambda: cluster.condition("ReconciliationPaused")["status"] == "True", "")
    await asyncio.sleep(2)  # two resyncs: nothing may move while paused
    assert len(migration_jobs(cluster)) == 1
    await cluster.patch_store({"spec": {"paused": False}})
    await eventually(lambda: len(migration_jobs(cluster)) == 2, "resumed: 2.0.0 migrates")


async def test_deletion_removes_every_child_through_garbage_collection(operator: Cluster) -> None:
    cluster = operator
    await ready(cluster)
    await cluster.delete("asoud.io/v1alpha1/asoudstores", "acme")
    await eventually(lambda: cluster.get("asoud.io/v1alpha1/asoudstores", "acme") is None, "gone")
    for key in (DEPLOYMENTS, JOBS, "v1/configmaps", "v1/services"):
        assert cluster.names(key) == set(), key
    assert cluster.names("v1/secrets") == {"acme-db", "acme-redis"}  # the engineer's own


async def test_api_errors_become_conditions_and_one_warning(operator: Cluster) -> None:
    cluster = operator

    def refuse_dashboards(request: Any) -> KubernetesError | None:
        if request.name == "acme-dashboards" and str(request.method).upper().endswith("PATCH"):
            return KubernetesError(
                status=422, reason="Invalid", message="data: Too long: must be 1048576 bytes"
            )
        return None

    cluster.api.faults.append(refuse_dashboards)
    await ready_but_degraded(cluster)
    degraded = cluster.condition("Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "ApplyFailed"
    assert "acme-dashboards" in degraded["message"] and "Too long" in degraded["message"]
    await asyncio.sleep(2)  # more passes: the same problem is not reported again
    warnings = cluster.events("ApplyFailed")
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    cluster.api.faults.remove(refuse_dashboards)
    await eventually(lambda: cluster.condition("Degraded")["status"] == "False", "recovered", 40)


async def ready_but_degraded(cluster: Cluster) -> None:
    await cluster.apply_store()
    await migrate(cluster)
    await available(cluster)
    await eventually(lambda: cluster.condition("Degraded")["status"] == "True", "Degraded")


@pytest.mark.without_optional_crds
async def test_missing_optional_crds_are_reported_not_hidden(operator: Cluster) -> None:
    cluster = operator
    await cluster.apply_store(workers={"autoscaling": {"enabled": True, "provider": "keda"}})
    await eventually(lambda: cluster.condition("MonitoringReady")["status"] == "False", "mon")
    assert cluster.condition("MonitoringReady")["reason"] == "PrometheusOperatorMissing"
    await eventually(
        lambda: cluster.condition("AutoscalingActive")["reason"] == "KEDANotInstalled", "keda"
    )
    assert cluster.condition("AutoscalingActive")["status"] == "False"
    await eventually(lambda: cluster.events("KEDANotInstalled"), "a Warning")


async def test_a_spec_that_escaped_validation_is_reported(operator: Cluster) -> None:
    cluster = operator
    store = {
        "apiVersion": "asoud.io/v1alpha1",
        "kind": "AsoudStore",
        "metadata": {"name": "acme", "namespace": "shop"},
        "spec": {
            "version": "1.0.0",
            "publicBaseUrl": "http://not-https.example",
            "database": {"secretRef": {"name": "acme-db"}},
            "redis": {"secretRef": {"name": "acme-redis"}},
        },
    }
    cluster.api.kinds["asoud.io/v1alpha1/asoudstores"] = type(
        cluster.api.kinds["asoud.io/v1alpha1/asoudstores"]
    )(**{**cluster.api.kinds["asoud.io/v1alpha1/asoudstores"].__dict__, "crd": None})
    await cluster.create(store)  # an older CRD without the rule let it in
    await eventually(lambda: cluster.condition("Ready")["reason"] == "InvalidSpec", "reported")
    assert "publicBaseUrl must be an https:// URL" in cluster.condition("Degraded")["message"]
    assert cluster.store()["status"]["phase"] == "Invalid"
    assert cluster.names(JOBS) == set()
    await eventually(lambda: cluster.events("InvalidSpec"), "a Warning")


class PrivateRedis:
    """A Redis server of a test's own, so it can be stopped for real."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian package redis-server)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    try:
        yield server
    finally:
        server.stop()


async def test_workers_follow_the_backlog_and_fall_back_when_redis_stops(
    operator: Cluster, private_redis: PrivateRedis
) -> None:
    cluster = operator
    redis = Redis.from_url(private_redis.url)
    await eventually_async(redis.ping)
    prefix = f"op-{secrets.token_hex(3)}:"
    stream = f"{prefix}tasks"
    await redis.xgroup_create(stream, "asoud-workers", id="0", mkstream=True)
    await cluster.delete("v1/secrets", "acme-redis")
    await cluster.secret("acme-redis", url=private_redis.url)
    await ready(
        cluster,
        redis={"secretRef": {"name": "acme-redis"}, "keyPrefix": prefix},
        workers={
            "replicas": 1,
            "autoscaling": {
                "enabled": True,
                "maxReplicas": 8,
                "targetBacklogPerReplica": 50,
                "scaleDownStabilizationSeconds": 2,
                "fallbackReplicas": 3,
            },
        },
    )
    for n in range(230):  # ceil(230 / 50) = 5 workers
        await redis.xadd(stream, {"data": str(n)})
    await eventually(lambda: workers(cluster) == 5, "scaled up to 5")
    assert cluster.store()["status"]["workers"]["backlog"] == 230
    await redis.xgroup_setid(stream, "asoud-workers", id="$")  # the workers caught up
    await eventually(lambda: workers(cluster) == 1, "down after the stabilisation window")
    await eventually(lambda: cluster.events("ScaledDown"), "its event")
    await asyncio.sleep(1)
    scaled = [e for e in cluster.events() if e.get("reason") in ("ScaledUp", "ScaledDown")]
    assert len(scaled) == 2, [e["message"] for e in scaled]  # one event per change, no more
    # kubectl scale deployment: set back, with a Warning saying how to scale instead.
    await cluster.patch(
        "/apis/apps/v1/namespaces/shop/deployments/acme-worker/scale", {"spec": {"replicas": 4}}
    )
    await eventually(lambda: cluster.events("ManualScaleOverridden"), "the override reported")
    await eventually(lambda: workers(cluster) == 1, "set back")
    await redis.aclose()
    private_redis.stop()  # Redis goes away for real
    await eventually(
        lambda: cluster.condition("AutoscalingActive")["reason"] == "MetricUnavailable", "down"
    )
    await eventually(lambda: workers(cluster) == 3, "fallback replicas")


async def eventually_async(probe: Any) -> None:
    for _ in range(100):
        try:
            await probe()
            return
        except Exception:
            await asyncio.sleep(0.05)
    raise AssertionError("never answered")


def workers(cluster: Cluster) -> int | None:
    found = cluster.get(DEPLOYMENTS, "acme-worker")
    return None if found is None else int(found["spec"]["replicas"])


async def test_scaling_to_zero_is_quiet(operator: Cluster) -> None:
    cluster = operator
    await ready(cluster, workers={"replicas": 0})
    await asyncio.sleep(2)
    assert workers(cluster) == 0
    assert cluster.events("ScaledDown") == [] and cluster.events("ManualScaleOverridden") == []


async def test_a_fast_burn_halts_the_rollout_once_and_a_resume_holds(operator: Cluster) -> None:
    cluster = operator
    fake = FakePrometheus(spent_ratio=0.0004)
    with serve(fake.app()) as prometheus:
        await ready(cluster, monitoring={"prometheusUrl": prometheus})
        await eventually(lambda: cluster.condition("SLOMet")["status"] == "True", "SLO met")
        assert cluster.store()["status"]["slo"]["errorBudgetRemaining"] == 0.6
        fake.error_ratio = {"1h": 0.02, "6h": 0.004}  # 20x and 4x the 0.1 % budget
        await cluster.patch_store({"spec": {"version": "1.1.0"}})
        await migrate(cluster)
        await eventually(
            lambda: (cluster.get(DEPLOYMENTS, "acme-api") or {})["spec"].get("paused") is True,
            "halted",
        )
        assert image(cluster, "acme-api").endswith(":1.1.0")
        assert cluster.condition("Degraded")["reason"] == "RolloutHalted"
        await cluster.patch_store(
            {"metadata": {"annotations": {"asoud.io/resume-rollout": "1.1.0"}}}
        )
        await eventually(
            lambda: (cluster.get(DEPLOYMENTS, "acme-api") or {})["spec"]["paused"] is False,
            "resumed",
        )
        await asyncio.sleep(2)  # the burn goes on: no halt/resume flapping
        assert len(cluster.events("RolloutHalted")) == 1
        assert len(cluster.events("RolloutResumed")) == 1
        assert (cluster.get(DEPLOYMENTS, "acme-api") or {})["spec"]["paused"] is False


async def test_the_kubernetes_api_is_reached_with_a_rotating_token(operator: Cluster) -> None:
    """The projected token changes and the old one is revoked: both kopf and our client
    re-read the file on 401, and reconciling goes on."""
    cluster = operator
    await ready(cluster)
    token = Path(os.environ["ASOUD_OPERATOR_SERVICE_ACCOUNT_DIR"]) / "token"
    old = token.read_text()
    token.write_text(cluster.api.service_account_token("asoud-system", "asoud-operator"))
    cluster.api.revoke(old)
    await cluster.patch_store({"spec": {"version": "1.2.0"}})
    await migrate(cluster)
    await eventually(lambda: image(cluster, "acme-api").endswith(":1.2.0"), "still reconciling")
    users = {d.user for d in cluster.api.audit if d.user.startswith("system:serviceaccount")}
    assert users == {"system:serviceaccount:asoud-system:asoud-operator"}


async def test_a_forbidden_call_is_reported_with_the_servers_message(operator: Cluster) -> None:
    """An RBAC rule missing from a hand-edited ClusterRole: the store says what was refused."""
    cluster = operator
    for (key, _, _), stored in cluster.api.objects.items():
        for rule in stored.obj.get("rules") or [] if key.endswith("/clusterroles") else []:
            if rule["resources"] == ["poddisruptionbudgets"]:
                rule["verbs"] = ["list", "watch"]
    cluster.api._rbac_cache.clear()
    await cluster.apply_store()
    await eventually(lambda: cluster.condition("Degraded")["reason"] == "Forbidden", "Forbidden")
    message = cluster.condition("Degraded")["message"]
    assert "poddisruptionbudgets" in message and "cannot" in message
    await eventually(lambda: len(cluster.events("Forbidden")) == 2, "a Warning per refused call")
    await asyncio.sleep(2)  # more passes: each refusal is reported once, not once per pass
    warnings = cluster.events("Forbidden")
    assert len(warnings) == 2 and {w["type"] for w in warnings} == {"Warning"}
    assert {w["message"].split(":")[0] for w in warnings} == {
        "apply PodDisruptionBudget/acme-api",
        "apply PodDisruptionBudget/acme-worker",
    }
