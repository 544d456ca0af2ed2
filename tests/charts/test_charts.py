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
        "database": {"url": "postgres://asoud@db/asoud"},
        "redis": {"url": "redis://r:6379/0"},
    },
    "existing-secrets-autoscaled": {
        "version": "1.4.0",
        "database": {
            "existingSecret": "bazaar-db",
            "adminExistingSecret": "bazaar-db-admin",
            "credentialRotation": {"enabled": True, "intervalDays": 30, "retention": "24h"},
        },
        "redis": {"existingSecret": "bazaar-redis", "keyPrefix": "bazaar:"},
        "workers": {"autoscaling": {"enabled": True, "maxReplicas": 20}},
        "monitoring": {"prometheusUrl": "http://prometheus.monitoring:9090"},
        "config": {"ASOUD_PUBLIC_BASE_URL": "https://bazaar.example"},
    },
    "keda-manual-migrations": {
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
    assert kinds >= {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"}
    [deployment] = [d for d in documents if d["kind"] == "Deployment"]
    assert (
        deployment["spec"]["strategy"] == {"type": "Recreate"}
        and deployment["spec"]["replicas"] == 1
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for namespace in values.get("watchNamespaces", []):
        assert f"--namespace={namespace}" in container["args"]
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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"database": {"url": "x"}, "redis": {}}, "redis"),
        (
            {"database": {"url": "x"}, "redis": {"url": "y"}, "workers": {"replicas": 900}},
            "replicas",
        ),
        ({"database": {"url": "x"}, "redis": {"url": "y"}, "config": {"PATH": "/bin"}}, "PATH"),
        ({"database": {"url": "x"}, "redis": {"url": "y"}, "unknown": 1}, "unknown"),
    ],
)
def test_bad_store_values_are_refused_by_the_schema(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        helm.Chart.load(CHARTS / "asoud").validate_schema(values)
    assert lint_messages("asoud", values)  # and `helm lint` reports it too


def test_rotation_without_an_admin_secret_fails_to_render() -> None:
    values = {
        "database": {"existingSecret": "db", "credentialRotation": {"enabled": True}},
        "redis": {"existingSecret": "r"},
    }
    with pytest.raises(helm.HelmError, match="adminExistingSecret"):
        render("asoud", values)
