"""Desired state: the Kubernetes objects one AsoudStore owns, as pure functions of its spec.

Nothing here talks to the API server. Every object carries the standard
``app.kubernetes.io/*`` labels (the instance label is how the operator finds, watches and
prunes a store's children); the reconcile pass adds owner references and applies them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from asoud.observability import dashboards as slo_dashboards
from asoud.observability.rules import Slo, prometheus_rule
from asoud_operator import environment as env
from asoud_operator.spec import SecretRef, StoreSpec

MANAGED_BY = "asoud-operator"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
KEYSET_KEY = "keyring.json"
KEYSET_MOUNT = "/var/run/asoud/keys"
APP_PORT = 8000
METRICS_PORT = 9100
PRESTOP_SECONDS = 5
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def names(store: str) -> dict[str, str]:
    return {
        "api": f"{store}-api",
        "worker": f"{store}-worker",
        "scheduler": f"{store}-scheduler",
        "config": f"{store}-config",
        "keyset": f"{store}-signing-keys",
        "secret_key": f"{store}-secret-key",
        "rules": f"{store}-slo",
        "dashboards": f"{store}-dashboards",
        "monitor": f"{store}-api",
        "worker_monitor": f"{store}-worker",
        "scaled_object": f"{store}-worker",
        "keda_auth": f"{store}-keda",
        "keda_secret": f"{store}-keda-redis",
        "service_account": f"{store}-app",
    }


def labels(store: str, component: str, version: str | None = None) -> dict[str, str]:
    result = {
        "app.kubernetes.io/name": "asoud",
        INSTANCE_LABEL: store,
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": "asoud",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    # Image tags may be 128 characters; a label value only 63 (then only the annotation).
    if version and len(version) <= 63 and _LABEL_VALUE.match(version):
        result["app.kubernetes.io/version"] = version
    return result


def selector(store: str, component: str) -> dict[str, str]:
    return {INSTANCE_LABEL: store, COMPONENT_LABEL: component}


def selector_string(store: str, component: str) -> str:
    return ",".join(f"{k}={v}" for k, v in selector(store, component).items())


def metadata(
    store: str, namespace: str, name: str, component: str, version: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": labels(store, component, version),
    }
    if version:
        meta["annotations"] = {"asoud.io/version": version}
    return meta


def environment(
    store: str, spec: StoreSpec, database_secret: str | None = None
) -> list[dict[str, Any]]:
    """The app's settings: credentials by Secret reference (never copied), the keyset as a
    mounted file, the names from the app's own settings model."""
    # Operator-made login Secrets (credential rotation) keep the URL under "url".
    db_secret, db_key = (
        (database_secret, "url") if database_secret else (spec.database.name, spec.database.key)
    )
    secret_key = spec.secret_key or _generated_secret_key(store)
    return [
        {"name": env.ENVIRONMENT, "value": "production"},
        {"name": env.DATABASE_URL, "valueFrom": _secret(db_secret, db_key)},
        {"name": env.REDIS_URL, "valueFrom": _secret(spec.redis.name, spec.redis.key)},
        {"name": env.REDIS_KEY_PREFIX, "value": redis_prefix(store, spec)},
        {"name": env.KEYRING_FILE, "value": f"{KEYSET_MOUNT}/{KEYSET_KEY}"},
        {"name": env.SECRET_KEY, "valueFrom": _secret(secret_key.name, secret_key.key)},
        {"name": env.PUBLIC_BASE_URL, "value": spec.public_base_url},
        {"name": env.METRICS_PORT, "value": str(METRICS_PORT)},
    ]


def redis_prefix(store: str, spec: StoreSpec) -> str:
    return spec.redis_key_prefix or f"{store}:"


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def _generated_secret_key(store: str) -> SecretRef:
    return SecretRef(names(store)["secret_key"], env.SECRET_KEY)


def secret_key_secret(store: str, namespace: str, value: str) -> dict[str, Any]:
    """The app's HMAC key when the spec names none: made once, kept (codes and rate-limit
    identities hashed with it stay valid)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(store, namespace, names(store)["secret_key"], "secret-key"),
        "data": {env.SECRET_KEY: _b64(value)},
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


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


_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def container(
    store: str,
    spec: StoreSpec,
    role: str,
    args: list[str],
    resources: dict[str, Any],
    database_secret: str | None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": role,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "args": args,
        "env": environment(store, spec, database_secret),
        "envFrom": [
            {"configMapRef": {"name": names(store)["config"]}},
            *({"secretRef": {"name": name}} for name in spec.env_from_secrets),
        ],
        "volumeMounts": [
            {"name": "signing-keys", "mountPath": KEYSET_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir
        ],
        "securityContext": dict(_SECURITY_CONTEXT),
    }
    if resources:
        result["resources"] = resources
    return result


def pod_spec(store: str, spec: StoreSpec, containers: list[dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": names(store)["service_account"],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
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
    if spec.pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.pull_secrets]
    return pod


def _http_probe(path: str, port: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "failureThreshold": failures,
    }


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
    owner (KEDA's HPA), so the operator never fights it."""
    if role == "api":
        args = ["serve", "--host", "0.0.0.0", "--port", str(APP_PORT)]  # noqa: S104
        resources = spec.api_resources
    elif role == "worker":
        args, resources = ["worker"], spec.worker_resources
    else:
        args = ["scheduler"]
        resources = spec.scheduler_resources or {
            "requests": {"cpu": "10m", "memory": "96Mi"},
            "limits": {"memory": "256Mi"},
        }
    main = container(store, spec, role, args, resources, database_secret)
    if role == "api":
        # /metrics on its own port: the Service's http port (what an Ingress publishes) has none.
        main["ports"] = [
            {"name": "http", "containerPort": APP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ]
        main["readinessProbe"] = _http_probe("/readyz", "http", 5, 3)
        main["livenessProbe"] = _http_probe("/livez", "http", 10, 6)
        # A terminating pod keeps serving while endpoints and load balancers stop sending
        # to it; only then does SIGTERM stop the listener (no refused connections mid-drain).
        main["lifecycle"] = {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}}
    else:
        # Workers and the scheduler serve their metrics (and so show they are alive) here.
        main["ports"] = [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
        main["readinessProbe"] = _http_probe("/metrics", "metrics", 10, 3)
        main["livenessProbe"] = _http_probe("/metrics", "metrics", 20, 6)
    pod = pod_spec(store, spec, [main])
    if role == "api":
        # Spread the API over nodes and zones, so losing one does not take the store down.
        pod["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(store, role)},
            }
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ]
    elif role == "worker":
        pod["terminationGracePeriodSeconds"] = 60  # in-flight tasks finish or are handed back
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(store, namespace, names(store)[role], role, spec.version),
        "spec": {
            "selector": {"matchLabels": selector(store, role)},
            "revisionHistoryLimit": 5,
            "strategy": (
                {"type": "Recreate"}  # one scheduler at a time
                if role == "scheduler"
                else {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                }
            ),
            "template": {
                "metadata": {
                    "labels": labels(store, role, spec.version),
                    "annotations": {
                        "asoud.io/config-checksum": checksum,
                        "asoud.io/version": spec.version,
                    },
                },
                "spec": pod,
            },
        },
    }
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
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                # for the ServiceMonitor only; an Ingress routes to "http"
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
            ],
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
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
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


def keda_redis_secret(store: str, namespace: str, redis_url: str) -> dict[str, Any]:
    """What KEDA's redis-streams scaler needs, from the store's Redis URL: it takes host:port,
    a password and a username, not a URL (the database index goes in the trigger)."""
    parts = urlsplit(redis_url)
    data = {"address": f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"}
    if parts.password:
        data["password"] = unquote(parts.password)
    if parts.username:
        data["username"] = unquote(parts.username)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(store, namespace, names(store)["keda_secret"], "autoscaling"),
        "data": {key: _b64(value) for key, value in data.items()},
    }


def redis_database_index(redis_url: str) -> int:
    path = urlsplit(redis_url).path.strip("/")
    return int(path) if path.isdigit() else 0


def trigger_authentication(store: str, namespace: str, keys: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": metadata(store, namespace, names(store)["keda_auth"], "autoscaling"),
        "spec": {
            "secretTargetRef": [
                {"parameter": key, "name": names(store)["keda_secret"], "key": key}
                for key in sorted(keys)
            ]
        },
    }


def scaled_object(
    store: str, namespace: str, spec: StoreSpec, stream: str, redis_url: str
) -> dict[str, Any]:
    """KEDA's ScaledObject with the builtin autoscaler's intent (provider: keda).

    The builtin autoscaler divides lag + pending by the target; KEDA's redis-streams scaler
    reads one of them per trigger, and the HPA takes the larger of the two triggers: the same
    target, but max(lag, pending) instead of their sum (docs/operator.md; status says so)."""
    scaling = spec.autoscaling
    common = {
        "stream": stream,
        "consumerGroup": "asoud-workers",
        "databaseIndex": str(redis_database_index(redis_url)),
        "enableTLS": "true" if redis_url.startswith("rediss://") else "false",
    }
    auth = {"name": names(store)["keda_auth"]}
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
                    "name": "lag",
                    "metadata": {**common, "lagCount": str(scaling.target_backlog_per_replica)},
                    "authenticationRef": auth,
                },
                {
                    "type": "redis-streams",
                    "name": "pending",
                    "metadata": {
                        **common,
                        "pendingEntriesCount": str(scaling.target_backlog_per_replica),
                    },
                    "authenticationRef": auth,
                },
            ],
        },
    }
