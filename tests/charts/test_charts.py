"""Both Helm charts rendered by the real Helm v4 engine (helm-python-sdk) for several value
sets: lint clean, values checked against values.schema.json, and every manifest valid for
Kubernetes (kubernetes-validate, strict) or, for an AsoudStore, for its CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.operator.test_manifests import admission_errors, validate

CHARTS = Path(__file__).resolve().parents[2] / "charts"
OPERATOR_VALUES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced-with-monitor": {
        "watchNamespaces": ["shops", "staging"],
        "metrics": {
            "port": 9100,
            "serviceMonitor": {"enabled": True, "labels": {"release": "kps"}},
        },
        "imagePullSecrets": [{"name": "ghcr"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
    },
}
STORE_VALUES: dict[str, dict[str, Any]] = {
    "urls": {
        "publicBaseUrl": "https://bazaar.example",
        "database": {"url": "postgres://asoud@db/asoud"},
        "redis": {"url": "redis://r:6379/0"},
        "app": {"values": {"ASOUD_SMS_PROVIDER": "smsir", "ASOUD_SMSIR_API_KEY": "k"}},
    },
    "existing-secrets-autoscaled": {
        "version": "1.4.0",
        "publicBaseUrl": "https://bazaar.example",
        "app": {"existingSecrets": ["bazaar-sms", "bazaar-gateways"]},
        "secretKey": {"existingSecret": "bazaar-hmac"},
        "database": {
            "existingSecret": "bazaar-db",
            "adminExistingSecret": "bazaar-db-admin",
            "credentialRotation": {"enabled": True, "intervalDays": 30, "retention": "24h"},
        },
        "redis": {"existingSecret": "bazaar-redis", "keyPrefix": "bazaar:"},
        "workers": {"autoscaling": {"enabled": True, "maxReplicas": 20}},
        "monitoring": {"prometheusUrl": "http://prometheus.monitoring:9090"},
        "config": {"ASOUD_RATE_LIMIT_BURST": "300/minute"},
    },
    "keda-manual-migrations": {
        "publicBaseUrl": "https://bazaar.example",
        "image": {"reference": "registry.local/asoud@sha256:" + "0" * 64},
        "scheduler": {"enabled": False},
        "database": {"existingSecret": "db"},
        "redis": {"existingSecret": "redis"},
        "workers": {"autoscaling": {"enabled": True, "provider": "keda"}},
        "migrations": {"policy": "Manual"},
        "paused": True,
    },
}


def render(chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    loaded = helm.Chart.load(CHARTS / chart)
    loaded.validate_schema(values)
    manifests = loaded.render(values, name="bazaar", namespace="shops", is_install=True)
    documents = []
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            assert "bazaar" in text or "operator" in text
            continue
        documents += [d for d in yaml.safe_load_all(text) if d]
    return documents


def lint_messages(chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    report = helm.lint(CHARTS / chart, values, strict=True, namespace="shops")
    return [m for m in report["messages"] if m["severity"] >= 2] + [
        {"error": e} for e in report.get("errors") or []
    ]


@pytest.mark.parametrize("values", OPERATOR_VALUES.values(), ids=OPERATOR_VALUES.keys())
def test_operator_chart(values: dict[str, Any]) -> None:
    assert lint_messages("asoud-operator", values) == []
    documents = render("asoud-operator", values)
    for document in documents:
        validate(document)
        assert document["metadata"]["labels"]["app.kubernetes.io/name"] == "asoud-operator"
    kinds = {d["kind"] for d in documents}
    assert kinds >= {"ServiceAccount", "Deployment", "Service"}
    [deployment] = [d for d in documents if d["kind"] == "Deployment"]
    # Two replicas under a Lease: a rolling update never runs two reconcilers at once.
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--leader-election" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "PodDisruptionBudget" in kinds
    leases = [
        d
        for d in documents
        if d["kind"] == "Role" and d["metadata"]["name"].endswith("-leader-election")
    ]
    assert leases and leases[0]["rules"][0]["resources"] == ["leases"]
    namespaces = values.get("watchNamespaces", [])
    for namespace in namespaces:
        assert f"--namespace={namespace}" in container["args"]
    cluster_roles = [d for d in documents if d["kind"] == "ClusterRole"]
    cluster_resources = {r for c in cluster_roles for rule in c["rules"] for r in rule["resources"]}
    roles = [d for d in documents if d["kind"] == "Role" and d not in leases]
    if namespaces:
        # Namespaced: nothing cluster-wide; a Role in each watched namespace.
        assert cluster_resources == set()
        assert {r["metadata"]["namespace"] for r in roles} == set(namespaces)
    else:
        assert {"deployments", "secrets", "asoudstores"} <= cluster_resources and not roles
    assert ("ServiceMonitor" in kinds) == values.get("metrics", {}).get("serviceMonitor", {}).get(
        "enabled", False
    )
    assert [c["name"] for c in helm.Chart.load(CHARTS / "asoud-operator").crds] == [
        "crds/asoud.io_asoudstores.yaml"
    ]


@pytest.mark.parametrize("values", STORE_VALUES.values(), ids=STORE_VALUES.keys())
def test_store_chart(values: dict[str, Any]) -> None:
    assert lint_messages("asoud", values) == []
    documents = render("asoud", values)
    [store] = [d for d in documents if d["kind"] == "AsoudStore"]
    assert admission_errors(store) == []  # the CRD's schema and CEL rules accept it
    for document in documents:
        if document["kind"] != "AsoudStore":
            validate(document)
    secrets = {d["metadata"]["name"] for d in documents if d["kind"] == "Secret"}
    created = "existingSecret" not in values["database"]
    assert ("bazaar-db" in secrets) == created
    assert store["spec"]["database"]["secretRef"]["name"] == values["database"].get(
        "existingSecret", "bazaar-db"
    )
    assert store["spec"]["version"] == values.get("version", "1.0.0")
    env_from = [e["secretRef"]["name"] for e in store["spec"].get("envFrom", [])]
    expected = list(values.get("app", {}).get("existingSecrets", []))
    if values.get("app", {}).get("values"):
        expected.append("bazaar-app")
        assert "bazaar-app" in secrets
    assert env_from == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"database": {"url": "x"}, "redis": {}, "publicBaseUrl": "https://a.b"}, "redis"),
        ({"database": {"url": "x"}, "redis": {"url": "y"}}, "publicBaseUrl"),
        (
            {
                "database": {"url": "x"},
                "redis": {"url": "y"},
                "publicBaseUrl": "https://a.b",
                "app": {"values": {"lowercase": "x"}},
            },
            "lowercase",
        ),
        (
            {
                "database": {"url": "x"},
                "redis": {"url": "y"},
                "publicBaseUrl": "https://a.b",
                "workers": {"replicas": 900},
            },
            "replicas",
        ),
        (
            {
                "database": {"url": "x"},
                "redis": {"url": "y"},
                "publicBaseUrl": "https://a.b",
                "config": {"PATH": "/bin"},
            },
            "PATH",
        ),
        (
            {
                "database": {"url": "x"},
                "redis": {"url": "y"},
                "publicBaseUrl": "https://a.b",
                "unknown": 1,
            },
            "unknown",
        ),
    ],
)
def test_bad_store_values_are_refused_by_the_schema(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        helm.Chart.load(CHARTS / "asoud").validate_schema(values)
    assert lint_messages("asoud", values)  # and `helm lint` reports it too


def test_rotation_without_an_admin_secret_fails_to_render() -> None:
    values = {
        "publicBaseUrl": "https://a.b",
        "database": {"existingSecret": "db", "credentialRotation": {"enabled": True}},
        "redis": {"existingSecret": "r"},
    }
    with pytest.raises(helm.HelmError, match="adminExistingSecret"):
        render("asoud", values)
