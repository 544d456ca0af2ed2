"""RBAC audit: every API call the operator (kopf and our client) made in a full lifecycle is
allowed by the chart's ClusterRole, and every permission the ClusterRole grants was used."""

from __future__ import annotations

import asyncio

from tests.charts.test_charts import render
from tests.operator.conftest import Cluster, eventually

JOBS = "batch/v1/jobs"
DRIFTABLE = [
    ("/api/v1/namespaces/shop/serviceaccounts", "acme-app"),
    ("/api/v1/namespaces/shop/configmaps", "acme-config"),
    ("/api/v1/namespaces/shop/services", "acme-api"),
    ("/apis/policy/v1/namespaces/shop/poddisruptionbudgets", "acme-worker"),
    ("/apis/apps/v1/namespaces/shop/deployments", "acme-worker"),
    ("/apis/monitoring.coreos.com/v1/namespaces/shop/servicemonitors", "acme-api"),
    ("/apis/monitoring.coreos.com/v1/namespaces/shop/podmonitors", "acme-worker"),
    ("/apis/monitoring.coreos.com/v1/namespaces/shop/prometheusrules", "acme-slo"),
    ("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects", "keda-worker"),
]


def cluster_role() -> set[tuple[str, str, str]]:
    [role] = [d for d in render("asoud-operator", {}) if d["kind"] == "ClusterRole"]
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def calls_made(cluster: Cluster) -> set[tuple[str, str, str]]:
    """(apiGroup, resource[/subresource], verb) of every resource call by the operator."""
    calls = set()
    for request in cluster.emulator:
        agent = request.headers.get("User-Agent", "")
        if not agent.startswith(("asoud-operator", "kopf")) or request.resource is None:
            continue
        if request.resource.plural is None:
            continue  # discovery (/api, /apis/...): allowed to every authenticated client
        resource = request.resource.plural + (
            f"/{request.subresource}" if request.subresource else ""
        )
        method = request.method.value if hasattr(request.method, "value") else str(request.method)
        if method == "GET":
            verb = (
                "get"
                if request.name
                else ("watch" if request.params.get("watch") in ("true", "1") else "list")
            )
        else:
            verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[method]
        calls.add((request.resource.group, resource, verb))
    return calls


async def _lifecycle(cluster: Cluster) -> None:
    """Everything the operator does: create, migrate (failing once), roll, rotate keys and
    logins, autoscale, correct drift, make a KEDA store, delete."""
    from asoud_operator import migrations

    migrations.BACKOFF_BASE_SECONDS = 1
    await cluster.secret("acme-db-admin", url="postgres://postgres@db/asoud")
    await cluster.apply_store(
        database={
            "secretRef": {"name": "acme-db"},
            "adminSecretRef": {"name": "acme-db-admin"},
            "credentialRotation": {"enabled": True, "retention": "1s"},
        },
        workers={"autoscaling": {"enabled": True, "scaleDownStabilizationSeconds": 1}},
        signingKeys={"rotationInterval": "2s", "gracePeriod": "1s"},
    )
    first = await eventually(
        lambda: cluster.store()["status"]["credentials"]["pendingUser"], "login"
    )
    await cluster.finish_job(f"acme-db-rotate-{first.rsplit('_', 1)[1]}", succeeded=True)
    await eventually(lambda: cluster.get(JOBS, "acme-migrate-1-0-0"), "migration")
    await cluster.finish_job("acme-migrate-1-0-0", succeeded=False)
    await eventually(lambda: cluster.events("MigrationFailed"), "failure")
    await eventually(
        lambda: (j := cluster.get(JOBS, "acme-migrate-1-0-0")) and not j.get("status"), "retry"
    )
    await cluster.finish_job("acme-migrate-1-0-0", succeeded=True)
    await eventually(lambda: cluster.get("apps/v1/deployments", "acme-api"), "deployed")
    await asyncio.sleep(1.1)
    await cluster.patch_store(
        {"metadata": {"annotations": {"asoud.io/rotate-database-credentials": "1"}}}
    )
    second = await eventually(
        lambda: (
            (u := cluster.store()["status"]["credentials"].get("pendingUser")) and u != first and u
        ),
        "second login",
    )
    await cluster.finish_job(f"acme-db-rotate-{second.rsplit('_', 1)[1]}", succeeded=True)
    retire = await eventually(
        lambda: next((n for n in cluster.names(JOBS) if n.startswith("acme-db-retire-")), None),
        "retire",
    )
    await cluster.finish_job(retire, succeeded=True)
    await eventually(lambda: cluster.events("CredentialsRetired"), "retired")
    await eventually(lambda: cluster.events("SigningKeysRotated"), "keys rotated")
    await cluster.apply_store(
        "keda", workers={"autoscaling": {"enabled": True, "provider": "keda"}}
    )
    await eventually(lambda: cluster.get(JOBS, "keda-migrate-1-0-0"), "keda store")
    await eventually(
        lambda: cluster.get("keda.sh/v1alpha1/scaledobjects", "keda-worker"), "ScaledObject"
    )
    # Someone edits every kind of child by hand: each is patched back.
    for path, name in DRIFTABLE:
        await cluster.patch(
            f"{path}/{name}", {"metadata": {"labels": {"app.kubernetes.io/component": "edited"}}}
        )
    for path, name in DRIFTABLE:
        group_version_plural = (
            path.replace("/apis/", "").replace("/api/", "").replace("/namespaces/shop", "")
        )
        await eventually(
            lambda gvp=group_version_plural, n=name: (
                cluster.get(gvp, n)["metadata"]["labels"]["app.kubernetes.io/component"] != "edited"
            ),
            f"{name} corrected",
        )
    await cluster.http.delete("/apis/asoud.io/v1alpha1/namespaces/shop/asoudstores/acme")
    await eventually(
        lambda: cluster.get("asoud.io/v1alpha1/asoudstores", "acme") is None, "deleted", timeout=30
    )


async def test_the_cluster_role_allows_every_call_and_nothing_unused(operator: Cluster) -> None:
    await _lifecycle(operator)
    made, allowed = calls_made(operator), cluster_role()
    assert made - allowed == set(), "calls the ClusterRole does not allow"
    assert allowed - made == set(), "permissions never used"
    # The audit sees both clients: kopf's watch and our status writes.
    assert {
        ("asoud.io", "asoudstores", "watch"),
        ("asoud.io", "asoudstores/status", "patch"),
    } <= made
    assert ("", "secrets", "delete") in made and ("batch", "jobs", "delete") in made
