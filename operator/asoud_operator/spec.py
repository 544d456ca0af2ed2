"""The AsoudStore spec as typed values, with the CRD's defaults applied.

The API server applies the CRD defaults too; applying them here keeps the pure functions
correct for objects that skipped them (older CRD versions, tests, the emulator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

GROUP = "asoud.io"
VERSION = "v1alpha1"
PLURAL = "asoudstores"
KIND = "AsoudStore"
API_VERSION = f"{GROUP}/{VERSION}"

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    value, unit = int(match[1]), match[2]
    return timedelta(**{_UNITS[unit]: value})


@dataclass(frozen=True)
class Autoscaling:
    enabled: bool = False
    provider: str = "builtin"
    min_replicas: int = 1
    max_replicas: int = 10
    target_backlog_per_replica: int = 50
    scale_down_stabilization_seconds: int = 300
    fallback_replicas: int | None = None


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str = "url"


@dataclass(frozen=True)
class StoreSpec:
    version: str
    database: SecretRef
    redis: SecretRef
    image_repository: str = "ghcr.io/asoud/asoud"
    pull_policy: str = "IfNotPresent"
    pull_secrets: tuple[str, ...] = ()
    api_replicas: int = 2
    api_resources: dict[str, Any] = field(default_factory=dict)
    worker_replicas: int = 1
    worker_resources: dict[str, Any] = field(default_factory=dict)
    autoscaling: Autoscaling = Autoscaling()
    scheduler_enabled: bool = True
    redis_key_prefix: str = ""
    database_admin: SecretRef | None = None
    credential_rotation: bool = False
    credential_group: str = "asoud_app"
    credential_interval_days: int = 30
    credential_retention: timedelta = timedelta(hours=24)
    key_algorithm: str = "ES256"
    key_rotation_interval: timedelta = timedelta(hours=720)
    key_grace_period: timedelta = timedelta(hours=24)
    migration_policy: str = "Auto"
    migration_timeout_seconds: int = 900
    slo: dict[str, Any] = field(default_factory=dict)
    service_monitor: bool = True
    prometheus_rule: bool = True
    dashboards: bool = True
    prometheus_url: str | None = None
    config: dict[str, str] = field(default_factory=dict)
    paused: bool = False

    @property
    def image(self) -> str:
        return f"{self.image_repository}:{self.version}"


def parse_spec(spec: dict[str, Any]) -> StoreSpec:
    image = spec.get("image") or {}
    api = spec.get("api") or {}
    workers = spec.get("workers") or {}
    scaling = workers.get("autoscaling") or {}
    database = spec.get("database") or {}
    redis = spec.get("redis") or {}
    keys = spec.get("signingKeys") or {}
    migrations = spec.get("migrations") or {}
    monitoring = spec.get("monitoring") or {}
    rotation = database.get("credentialRotation") or {}
    db_ref = database.get("secretRef") or {}
    redis_ref = redis.get("secretRef") or {}
    return StoreSpec(
        version=str(spec["version"]),
        database=SecretRef(db_ref.get("name", ""), db_ref.get("key", "url")),
        redis=SecretRef(redis_ref.get("name", ""), redis_ref.get("key", "url")),
        image_repository=image.get("repository", "ghcr.io/asoud/asoud"),
        pull_policy=image.get("pullPolicy", "IfNotPresent"),
        pull_secrets=tuple(image.get("pullSecrets") or ()),
        api_replicas=int(api.get("replicas", 2)),
        api_resources=dict(api.get("resources") or {}),
        worker_replicas=int(workers.get("replicas", 1)),
        worker_resources=dict(workers.get("resources") or {}),
        autoscaling=Autoscaling(
            enabled=bool(scaling.get("enabled", False)),
            provider=scaling.get("provider", "builtin"),
            min_replicas=int(scaling.get("minReplicas", 1)),
            max_replicas=int(scaling.get("maxReplicas", 10)),
            target_backlog_per_replica=int(scaling.get("targetBacklogPerReplica", 50)),
            scale_down_stabilization_seconds=int(scaling.get("scaleDownStabilizationSeconds", 300)),
            fallback_replicas=scaling.get("fallbackReplicas"),
        ),
        scheduler_enabled=bool((spec.get("scheduler") or {}).get("enabled", True)),
        redis_key_prefix=redis.get("keyPrefix", ""),
        database_admin=(
            SecretRef(
                database["adminSecretRef"]["name"], database["adminSecretRef"].get("key", "url")
            )
            if database.get("adminSecretRef")
            else None
        ),
        credential_rotation=bool(rotation.get("enabled", False)),
        credential_group=rotation.get("group", "asoud_app"),
        credential_interval_days=int(rotation.get("intervalDays", 30)),
        credential_retention=parse_duration(rotation.get("retention", "24h")),
        key_algorithm=keys.get("algorithm", "ES256"),
        key_rotation_interval=parse_duration(keys.get("rotationInterval", "720h")),
        key_grace_period=parse_duration(keys.get("gracePeriod", "24h")),
        migration_policy=migrations.get("policy", "Auto"),
        migration_timeout_seconds=int(migrations.get("timeoutSeconds", 900)),
        slo=dict(spec.get("slo") or {}),
        service_monitor=bool(monitoring.get("serviceMonitor", True)),
        prometheus_rule=bool(monitoring.get("prometheusRule", True)),
        dashboards=bool(monitoring.get("dashboards", True)),
        prometheus_url=monitoring.get("prometheusUrl"),
        config={str(k): str(v) for k, v in (spec.get("config") or {}).items()},
        paused=bool(spec.get("paused", False)),
    )
