"""Desired state: the Kubernetes objects one AsoudStore owns, as pure functions of its spec.

Nothing here talks to the API server. Every object carries the standard
``app.kubernetes.io/*`` labels; the handlers add owner references and apply them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from asoud.observability import dashboards as slo_dashboards
from asoud.observability.rules import Slo, prometheus_rule
from asoud_operator.spec import StoreSpec

MANAGED_BY = "asoud-operator"
KEYSET_KEY = "keyring.json"
KEYSET_MOUNT = "/var/run/asoud/keys"
APP_PORT = 8000


def names(store: str) -> dict[str, str]:
    return {
        "api": f"{store}-api",
        "worker": f"{store}-worker",
        "scheduler": f"{store}-scheduler",
        "config": f"{store}-config",
        "keyset": f"{store}-signing-keys",
        "rules": f"{store}-slo",
        "dashboards": f"{store}-dashboards",
        "monitor": f"{store}-api",
        "worker_monitor": f"{store}-worker",
        "scaled_object": f"{store}-worker",
        "service_account": f"{store}-app",
    }


def labels(store: str, component: str, version: str | None = None) -> dict[str, str]:
    result = {
        "app.kubernetes.io/name": "asoud",
        "app.kubernetes.io/instance": store,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "asoud",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version:
        result["app.kubernetes.io/version"] = version
    return result


def selector(store: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": store, "app.kubernetes.io/component": component}


def selector_string(store: str, component: str) -> str:
    return ",".join(f"{k}={v}" for k, v in selector(store, component).items())


def metadata(
    store: str, namespace: str, name: str, component: str, version: str | None = None
) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(store, component, version)}


def environment(
    store: str, spec: StoreSpec, database_secret: str | None = None
) -> list[dict[str, Any]]:
    """The app's settings: secrets by reference (never copied), the keyset as a mounted file."""
    # Operator-made login Secrets (credential rotation) keep the URL under "url".
    db_secret, db_key = (
        (database_secret, "url") if database_secret else (spec.database.name, spec.database.key)
    )
    return [
        {"name": "ASOUD_ENVIRONMENT", "value": "production"},
        {
            "name": "ASOUD_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": db_secret, "key": db_key}},
        },
        {
            "name": "ASOUD_REDIS_URL",
            "valueFrom": {"secretKeyRef": {"name": spec.redis.name, "key": spec.redis.key}},
        },
        {"name": "ASOUD_KEYRING_FILE", "value": f"{KEYSET_MOUNT}/{KEYSET_KEY}"},
        {"name": "ASOUD_REDIS_KEY_PREFIX", "value": spec.redis_key_prefix or f"{store}:"},
    ]


def keyset_secret(store: str, namespace: str, encoded_keyring: str) -> dict[str, Any]:
    """The JWT keyset the app mounts at KEYSET_MOUNT (see ``signing_keys``)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(store, namespace, names(store)["keyset"], "signing-keys"),
        "data": {KEYSET_KEY: encoded_keyring},
    }


def config_map(store: str, namespace: str, spec: StoreSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(store, namespace, names(store)["config"], "config"),
        "data": dict(sorted(spec.config.items())),
    }


def config_hash(*parts: Any) -> str:
    """A digest of what pods read at start; a change rolls them (the checksum annotation)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _container(
    store: str,
    spec: StoreSpec,
    role: str,
    args: list[str],
    resources: dict[str, Any],
    database_secret: str | None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": role,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "args": args,
        "env": environment(store, spec, database_secret),
        "envFrom": [{"configMapRef": {"name": names(store)["config"]}}],
        "volumeMounts": [{"name": "signing-keys", "mountPath": KEYSET_MOUNT, "readOnly": True}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if resources:
        container["resources"] = resources
    return container


def _pod_spec(store: str, spec: StoreSpec, containers: list[dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": names(store)["service_account"],
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": [
            {
                "name": "signing-keys",
                # A Secret volume (not subPath) so kubelet swaps the file in place on rotation
                # and the app's KeyringSource reloads it without a restart.
                "secret": {"secretName": names(store)["keyset"], "defaultMode": 0o440},
            },
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    for container in containers:
        container["volumeMounts"].append({"name": "tmp", "mountPath": "/tmp"})  # noqa: S108
    if spec.pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.pull_secrets]
    return pod


def deployment(
    store: str,
    namespace: str,
    spec: StoreSpec,
    role: str,
    replicas: int | None,
    *,
    database_secret: str | None = None,
    checksum: str = "",
) -> dict[str, Any]:
    """The API, worker or scheduler Deployment. ``replicas=None`` leaves the field to another
    owner (an HPA or KEDA), so the operator never fights it."""
    if role == "api":
        args = ["serve", "--host", "0.0.0.0", "--port", str(APP_PORT)]  # noqa: S104
        resources = spec.api_resources
    elif role == "worker":
        args, resources = ["worker"], spec.worker_resources
    else:
        args, resources = ["scheduler"], {}
    container = _container(store, spec, role, args, resources, database_secret)
    if role == "api":
        container["ports"] = [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}]
        container["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        }
        container["livenessProbe"] = {
            "httpGet": {"path": "/livez", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 6,
        }
    else:
        container["ports"] = [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(store, namespace, names(store)[role], role, spec.version),
        "spec": {
            "selector": {"matchLabels": selector(store, role)},
            "revisionHistoryLimit": 5,
            "strategy": (
                {"type": "Recreate"}  # one scheduler at a time: cron jobs must not run twice
                if role == "scheduler"
                else {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                }
            ),
            "template": {
                "metadata": {
                    "labels": labels(store, role, spec.version),
                    "annotations": {"asoud.io/config-checksum": checksum},
                },
                "spec": _pod_spec(store, spec, [container]),
            },
        },
    }
    if role == "worker":
        # Workers finish (or hand back) in-flight tasks on SIGTERM.
        body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60
    if replicas is not None:
        body["spec"]["replicas"] = replicas
    return body


def service(store: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(store, namespace, names(store)["api"], "api"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(store, "api"),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pod_disruption_budget(store: str, namespace: str, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(store, namespace, names(store)[role], role),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(store, role)}},
    }


def service_account(store: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(store, namespace, names(store)["service_account"], "app"),
        "automountServiceAccountToken": False,
    }


def service_monitor(store: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(store, namespace, names(store)["monitor"], "api"),
        "spec": {
            "selector": {"matchLabels": selector(store, "api")},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


def pod_monitor(store: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata(store, namespace, names(store)["worker_monitor"], "worker"),
        "spec": {
            "selector": {"matchLabels": selector(store, "worker")},
            "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
        },
    }


def metrics_selector(store: str, namespace: str) -> str:
    """The labels Prometheus (via the ServiceMonitor) puts on one store's API series."""
    return f'namespace="{namespace}",service="{names(store)["api"]}"'


def slo_rule(store: str, namespace: str, slos: list[Slo] | None = None) -> dict[str, Any]:
    """The per-store PrometheusRule, from the same generator as `asoud slo rules`, with the
    store's own objectives (``slo.store_slos``)."""
    rule = prometheus_rule(
        names(store)["rules"],
        namespace,
        selector=metrics_selector(store, namespace),
        labels={"asoud_store": store},
        slos=slos,
    )
    rule["metadata"]["labels"] = labels(store, "slo-rules")
    return rule


def dashboards_config_map(store: str, namespace: str) -> dict[str, Any]:
    meta = metadata(store, namespace, names(store)["dashboards"], "dashboards")
    meta["labels"]["grafana_dashboard"] = "1"  # picked up by Grafana's sidecar
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": slo_dashboards.render_all(),
    }


def scaled_object(store: str, namespace: str, spec: StoreSpec, stream: str) -> dict[str, Any]:
    """KEDA's ScaledObject with the builtin autoscaler's intent (provider: keda)."""
    scaling = spec.autoscaling
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(store, namespace, names(store)["scaled_object"], "worker"),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": names(store)["worker"],
            },
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "pollingInterval": 15,
            "fallback": {
                "failureThreshold": 3,
                "replicas": scaling.fallback_replicas
                if scaling.fallback_replicas is not None
                else scaling.min_replicas,
            },
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds
                        }
                    }
                }
            },
            "triggers": [
                {
                    "type": "redis-streams",
                    "metadata": {
                        "stream": stream,
                        "consumerGroup": "asoud-workers",
                        "lagCount": str(scaling.target_backlog_per_replica),
                        "addressFromEnv": "ASOUD_REDIS_ADDRESS",
                    },
                }
            ],
        },
    }
