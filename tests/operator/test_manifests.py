"""Every manifest the operator produces passes kubernetes-validate (strict), and the CRD's
schema and CEL rules accept the samples and refuse bad specs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import pytest
import yaml

from asoud_operator import children, migrations, signing_keys
from asoud_operator.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "manifests" / "crd" / "asoud.io_asoudstores.yaml"
KUBERNETES = "1.33"
# Kinds from other projects' CRDs (prometheus-operator, KEDA): kubernetes-validate has no
# schema for them, so their required shape is checked by hand below.
FOREIGN = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("selector", "podMetricsEndpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
}


def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())  # type: ignore[no-any-return]


def samples() -> list[dict[str, Any]]:
    return [
        yaml.safe_load(p.read_text())
        for p in sorted((ROOT / "manifests" / "samples").glob("*.yaml"))
    ]


def every_child(body: dict[str, Any]) -> list[dict[str, Any]]:
    store, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    spec = parse_spec(body["spec"])
    objects = [
        children.service_account(store, namespace),
        children.config_map(store, namespace, spec),
        children.service(store, namespace),
        children.pod_disruption_budget(store, namespace, "api"),
        children.pod_disruption_budget(store, namespace, "worker"),
        children.service_monitor(store, namespace),
        children.pod_monitor(store, namespace),
        children.slo_rule(store, namespace),
        children.dashboards_config_map(store, namespace),
        children.scaled_object(store, namespace, spec, f"{store}:tasks"),
        children.keyset_secret(
            store, namespace, signing_keys.encode(signing_keys.initial("ES256"))
        ),
        migrations.job(store, namespace, spec),
    ]
    for role, replicas in (("api", 2), ("worker", None), ("worker", 3), ("scheduler", 1)):
        objects.append(children.deployment(store, namespace, spec, role, replicas, checksum="abc"))
    return objects


def validate(obj: dict[str, Any]) -> None:
    required = FOREIGN.get((obj["apiVersion"], obj["kind"]))
    if required is not None:
        assert obj["metadata"]["name"] and obj["metadata"]["namespace"]
        assert all(field in obj["spec"] for field in required), obj["kind"]
        return
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.mark.parametrize("sample", samples(), ids=lambda s: s["metadata"]["name"])
def test_every_child_of_every_sample_is_a_valid_kubernetes_object(sample: dict[str, Any]) -> None:
    objects = every_child(sample)
    for obj in objects:
        validate(obj)
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == sample["metadata"]["name"]
    assert len({(o["kind"], o["metadata"]["name"]) for o in objects}) >= 14


def test_strict_validation_catches_a_typo() -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    broken = children.service("s", "ns")
    broken["spec"]["selectr"] = broken["spec"].pop("selector")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_the_crd_is_a_valid_custom_resource_definition_and_the_chart_copy_is_equal() -> None:
    kubernetes_validate.validate(crd(), KUBERNETES, strict=True)
    chart_copy = ROOT / "charts" / "asoud-operator" / "crds" / CRD_PATH.name
    assert chart_copy.read_bytes() == CRD_PATH.read_bytes(), (
        "run: cp manifests/crd/* charts/asoud-operator/crds/"
    )


def _schema() -> dict[str, Any]:
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def _cel_rules(
    schema: dict[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str, str]]:
    found = [(path, r["rule"], r["message"]) for r in schema.get("x-kubernetes-validations", [])]
    for name, child in (schema.get("properties") or {}).items():
        found += _cel_rules(child, (*path, name))
    return found


def admission_errors(body: dict[str, Any]) -> list[str]:
    """What the API server would say: the structural schema, then every CEL rule."""
    errors = [e.message for e in jsonschema.Draft202012Validator(_schema()).iter_errors(body)]
    environment = celpy.Environment()
    for path, rule, message in _cel_rules(_schema()):
        node: Any = body
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        program = environment.program(environment.compile(rule))
        if not program.evaluate({"self": celpy.json_to_cel(node)}):
            errors.append(message)
    return errors


@pytest.mark.parametrize("sample", samples(), ids=lambda s: s["metadata"]["name"])
def test_samples_are_accepted(sample: dict[str, Any]) -> None:
    assert admission_errors(sample) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["spec"].pop("version"), "'version' is a required property"),
        (lambda s: s["spec"].update(version="1.0 beta"), "does not match"),
        (lambda s: s["spec"].update(workers={"replicas": 501}), "is greater than the maximum"),
        (lambda s: s["spec"].update(image={"pullPolicy": "Sometimes"}), "is not one of"),
        (
            lambda s: s["spec"].update(
                workers={"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}
            ),
            "minReplicas must not exceed maxReplicas",
        ),
        (
            lambda s: s["spec"]["database"].update(credentialRotation={"enabled": True}),
            "credentialRotation needs database.adminSecretRef",
        ),
        (
            lambda s: s["spec"].update(config={"PATH": "/usr/bin"}),
            "config keys must be ASOUD_* settings",
        ),
        (
            lambda s: s["spec"].update(monitoring={"prometheusUrl": "ftp://x"}),
            "prometheusUrl must be an http(s) URL",
        ),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(change: Any, expected: str) -> None:
    body = copy.deepcopy(samples()[1])  # minimal.yaml
    change(body)
    errors = admission_errors(body)
    assert any(expected in e for e in errors), errors


def test_the_status_pruning_check_finds_undeclared_fields() -> None:
    from tests.operator.conftest import STATUS_SCHEMA, undeclared

    status = {"conditions": [{"type": "Ready", "extra": 1}], "bogus": 1, "workers": {"replicas": 2}}
    assert undeclared(STATUS_SCHEMA, status, "status") == [
        "status.conditions[0].extra",
        "status.bogus",
    ]
