"""Least privilege, checked against the API server's own decisions: the test API server
enforces the chart's RBAC on the operator's service account in every scenario (a missing
permission is a 403 there, as in a cluster); here a full lifecycle shows every permission
the chart grants is used, and the namespaced install works with Roles alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.operator.conftest import (
    OPERATOR_NAMESPACE,
    Cluster,
    eventually,
    operator_manifests,
    running_operator,
)
from tests.operator.test_controller import available, migrate, migration_jobs

OPERATOR = f"system:serviceaccount:{OPERATOR_NAMESPACE}:asoud-operator"


def granted(values: dict[str, object] | None = None) -> set[tuple[str, str, str]]:
    rules = [
        rule
        for doc in operator_manifests(values)
        if doc["kind"] in ("ClusterRole", "Role")
        for rule in doc["rules"]
    ]
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(cluster: Cluster) -> set[tuple[str, str, str]]:
    return {
        (d.group, d.resource, d.verb) for d in cluster.api.audit if d.user == OPERATOR and d.allowed
    }


def refused(cluster: Cluster) -> list[str]:
    return [
        f"{d.verb} {d.group}/{d.resource} in {d.namespace or 'the cluster'}"
        for d in cluster.api.audit
        if d.user == OPERATOR and not d.allowed
    ]


async def test_every_permission_the_chart_grants_is_used_and_nothing_more_is_needed(
    operator: Cluster,
) -> None:
    cluster = operator
    await cluster.secret("acme-db-admin", url="postgres://postgres@db.shop.svc/asoud")
    await cluster.apply_store(
        database={
            "secretRef": {"name": "acme-db"},
            "adminSecretRef": {"name": "acme-db-admin"},
            "credentialRotation": {"enabled": True, "retention": "1s"},
        },
        workers={"autoscaling": {"enabled": True, "provider": "keda"}},
    )
    rotate = await eventually(
        lambda: [n for n in cluster.names("batch/v1/jobs") if "-db-rotate-" in n], "first login"
    )
    await cluster.finish_job(rotate[0], succeeded=True)
    await migrate(cluster)
    await available(cluster)
    # A second login, then the first one retired once every pod uses the new one.
    await cluster.patch_store(
        {"metadata": {"annotations": {"asoud.io/rotate-database-credentials": "1"}}}
    )
    second = await eventually(
        lambda: [
            n for n in cluster.names("batch/v1/jobs") if "-db-rotate-" in n and n != rotate[0]
        ],
        "second login",
    )
    await cluster.finish_job(second[0], succeeded=True)
    await eventually(
        lambda: cluster.store()["status"]["credentials"].get("retiringUser"), "switched"
    )
    await asyncio.sleep(1.5)  # the Deployments moved to the new login's Secret
    await available(cluster)
    retire = await eventually(
        lambda: [n for n in cluster.names("batch/v1/jobs") if "-db-retire-" in n], "retirement"
    )
    await cluster.finish_job(retire[0], succeeded=True)
    await eventually(
        lambda: not cluster.store()["status"]["credentials"].get("retiringUser"), "retired"
    )
    # Two version bumps in a row: the first migration is superseded (its Job deleted).
    await cluster.patch_store({"spec": {"version": "1.1.0"}})
    await eventually(lambda: len(migration_jobs(cluster)) == 2, "1.1.0 migrating")
    await cluster.patch_store({"spec": {"version": "1.2.0"}})
    await eventually(lambda: cluster.events("MigrationSuperseded"), "superseded")
    # Everything optional switched off: pruned.
    await cluster.patch_store(
        {
            "spec": {
                "workers": {"autoscaling": {"enabled": False}},
                "scheduler": {"enabled": False},
                "monitoring": {
                    "serviceMonitor": False,
                    "prometheusRule": False,
                    "dashboards": False,
                },
            }
        }
    )
    await eventually(lambda: cluster.names("monitoring.coreos.com/v1/prometheusrules") == set(), "")
    await eventually(lambda: cluster.get("apps/v1/deployments", "acme-scheduler") is None, "")
    await asyncio.sleep(5.5)  # the Lease is renewed (an update) at least once
    await cluster.delete("asoud.io/v1alpha1/asoudstores", "acme")
    await eventually(lambda: cluster.names("asoud.io/v1alpha1/asoudstores") == set(), "deleted")
    assert refused(cluster) == []
    assert used(cluster) == granted(), (
        f"granted but unused: {sorted(granted() - used(cluster))}; "
        f"used but not granted: {sorted(used(cluster) - granted())}"
    )


@pytest.mark.operator_chart({"watchNamespaces": ["shop"]})
async def test_a_namespaced_install_needs_no_cluster_wide_access(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With watchNamespaces, the chart gives Roles in those namespaces only, and the operator
    makes no cluster-wide call (kopf's namespace and CRD scanning is off)."""
    async with running_operator(cluster, tmp_path, monkeypatch, "--namespace", "shop"):
        await cluster.secret("acme-db", "elsewhere", url="postgres://x@db/x")
        await cluster.secret("acme-redis", "elsewhere", url="redis://127.0.0.1:6379/0")
        await cluster.create(
            {
                "apiVersion": "asoud.io/v1alpha1",
                "kind": "AsoudStore",
                "metadata": {"name": "acme", "namespace": "elsewhere"},
                "spec": {
                    "version": "1.0.0",
                    "publicBaseUrl": "https://acme.example.com",
                    "database": {"secretRef": {"name": "acme-db"}},
                    "redis": {"secretRef": {"name": "acme-redis"}},
                },
            },
            "elsewhere",
        )
        await cluster.apply_store()
        await migrate(cluster)
        await available(cluster)
        await eventually(lambda: cluster.store()["status"].get("phase") == "Ready", "Ready")
        assert cluster.names("batch/v1/jobs", "elsewhere") == set()  # not watched: untouched
        assert refused(cluster) == []
        namespaces = {d.namespace for d in cluster.api.audit if d.user == OPERATOR}
        assert namespaces == {"shop", OPERATOR_NAMESPACE}  # nothing cluster-wide
