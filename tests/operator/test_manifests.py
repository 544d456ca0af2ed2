"""Every manifest the operator produces passes kubernetes-validate (strict), and the CRD's
schema and CEL rules accept the samples and refuse bad specs."""

from __future__ import annotations

import base64
import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from asoud_operator import children, credentials, environment, migrations, signing_keys
from asoud_operator.spec import parse_spec
from tests.kube import admission

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = admission.CRD_PATH
KUBERNETES = "1.33"
# Kinds from other projects' CRDs (prometheus-operator, KEDA): kubernetes-validate has no
# schema for them, so their required shape is checked by hand below.
FOREIGN = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("selector", "podMetricsEndpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ("secretTargetRef",),
}


def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())  # type: ignore[no-any-return]


def sample_documents() -> list[dict[str, Any]]:
    return [
        doc
        for p in sorted((ROOT / "manifests" / "samples").glob("*.yaml"))
        for doc in yaml.safe_load_all(p.read_text())
        if doc
    ]


def samples() -> list[dict[str, Any]]:
    return [doc for doc in sample_documents() if doc["kind"] == "AsoudStore"]


def every_child(body: dict[str, Any]) -> list[dict[str, Any]]:
    store, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    spec = parse_spec(body["spec"], store)
    redis_url = "rediss://:p%40ss@redis.shops.svc:6380/3"
    keda_secret = children.keda_redis_secret(store, namespace, redis_url)
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
        children.scaled_object(store, namespace, spec, f"{store}:tasks", redis_url),
        keda_secret,
        children.trigger_authentication(store, namespace, list(keda_secret["data"])),
        children.secret_key_secret(store, namespace, "k" * 48),
        children.keyset_secret(
            store, namespace, signing_keys.encode(signing_keys.initial("ES256"))
        ),
        migrations.job(store, namespace, spec),
    ]
    if spec.credential_rotation:
        stamp = credentials.stamp(datetime.now(UTC))
        objects.append(credentials.job(store, namespace, spec, "rotate", "u_x", stamp, "s"))
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
    assert len({(o["kind"], o["metadata"]["name"]) for o in objects}) >= 17


def test_keda_gets_host_port_password_and_database_from_the_redis_url() -> None:
    url = "rediss://:p%40ss@redis.shops.svc:6380/3"
    secret = children.keda_redis_secret("s", "ns", url)
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"address": "redis.shops.svc:6380", "password": "p@ss"}
    spec = parse_spec(samples()[0]["spec"], "night-market")  # keda.yaml
    scaled = children.scaled_object("s", "ns", spec, "s:tasks", url)
    triggers = scaled["spec"]["triggers"]
    assert {t["name"] for t in triggers} == {"lag", "pending"}
    assert all(t["metadata"]["databaseIndex"] == "3" for t in triggers)
    assert all(t["metadata"]["enableTLS"] == "true" for t in triggers)
    assert all(t["authenticationRef"] == {"name": "s-keda"} for t in triggers)
    assert "addressFromEnv" not in str(triggers)


def test_the_crd_keeps_credentials_and_operator_variables_out_of_config() -> None:
    """The CRD's CEL lists equal the app's secret settings and the operator's variables."""
    rules = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["config"]["x-kubernetes-validations"]
    listed = [set(re.findall(r"'(ASOUD_[A-Z_]+)'", rule["rule"])) for rule in rules]
    assert environment.SECRET_VARIABLES in listed
    assert environment.OPERATOR_OWNED in listed


def test_strict_validation_catches_a_typo() -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    broken = children.service("s", "ns")
    broken["spec"]["selectr"] = broken["spec"].pop("selector")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_the_sample_secrets_are_valid_and_named_by_their_store() -> None:
    documents = sample_documents()
    secrets = [d for d in documents if d["kind"] == "Secret"]
    for secret in secrets:
        validate(secret)
    minimal = next(d for d in samples() if d["metadata"]["name"] == "corner-shop")
    named = {minimal["spec"]["database"]["secretRef"]["name"]}
    named |= {minimal["spec"]["redis"]["secretRef"]["name"]}
    named |= {e["secretRef"]["name"] for e in minimal["spec"]["envFrom"]}
    assert named == {s["metadata"]["name"] for s in secrets}


def test_the_crd_is_a_valid_custom_resource_definition_and_the_chart_copy_is_equal() -> None:
    kubernetes_validate.validate(crd(), KUBERNETES, strict=True)
    chart_copy = ROOT / "charts" / "asoud-operator" / "crds" / CRD_PATH.name
    assert chart_copy.read_bytes() == CRD_PATH.read_bytes(), (
        "run: cp manifests/crd/* charts/asoud-operator/crds/"
    )


def admission_errors(body: dict[str, Any]) -> list[str]:
    """What the API server would say (pruning and defaulting first, as it does)."""
    root = admission.schema()
    defaulted = admission.default(root, admission.prune(root, body))
    defaulted["metadata"] = body["metadata"]
    return admission.errors(defaulted)


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
            lambda s: s["spec"].update(config={"ASOUD_STRIPE_SECRET_KEY": "sk_live"}),
            "config may not hold credentials",
        ),
        (
            lambda s: s["spec"].update(config={"ASOUD_REDIS_URL": "redis://x"}),
            "config may not set what the operator sets",
        ),
        (lambda s: s["metadata"].update(name="x" * 41), "at most 40 characters"),
        (lambda s: s["spec"].update(publicBaseUrl="http://plain.example"), "does not match"),
        (
            lambda s: s["spec"].update(signingKeys={"gracePeriod": "10m"}),
            "gracePeriod must be at least the access-token lifetime",
        ),
        (
            lambda s: s["spec"].update(
                signingKeys={"gracePeriod": "120s"},
                config={"ASOUD_ACCESS_TOKEN_TTL_SECONDS": "300"},
            ),
            "gracePeriod must be at least the access-token lifetime",
        ),
        (
            lambda s: s["spec"].update(signingKeys={"rotationInterval": "30m"}),
            "rotationInterval must be at least 1h",
        ),
        (lambda s: s["spec"].update(signingKeys={"gracePeriod": "2d"}), "does not match"),
        (
            lambda s: s["spec"].update(
                workers={"autoscaling": {"enabled": True, "maxReplicas": 4, "fallbackReplicas": 9}}
            ),
            "fallbackReplicas must lie within",
        ),
        (
            lambda s: s["spec"].update(monitoring={"prometheusUrl": "ftp://x"}),
            "prometheusUrl must be an http(s) URL",
        ),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(change: Any, expected: str) -> None:
    body = copy.deepcopy(next(d for d in samples() if d["metadata"]["name"] == "corner-shop"))
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
