"""The AsoudStore spec as typed values, with the CRD's defaults applied and its rules checked.

The API server applies the CRD's defaults and CEL rules; applying them here too keeps the
pure functions correct for objects that skipped them (an older CRD, a spec written before a
rule existed), and turns such a spec into :class:`InvalidSpec` with a message for status.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from asoud_operator.environment import KNOWN_VARIABLES, OPERATOR_OWNED, SECRET_VARIABLES

GROUP = "asoud.io"
VERSION = "v1alpha1"
PLURAL = "asoudstores"
KIND = "AsoudStore"
API_VERSION = f"{GROUP}/{VERSION}"

# Every child's name is the store's name plus a suffix of at most 23 characters; Kubernetes
# limits Job and Service names (and label values) to 63.
MAX_STORE_NAME = 40
# A Go duration as CEL's duration() reads it: "720h", "90m", "1h30m", "45s".
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DEFAULT_TOKEN_TTL_SECONDS = 900  # the app's default access-token lifetime


class InvalidSpec(ValueError):
    """A spec the CRD should have refused; reported on status, never crashes the pass."""


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not text or not match:
        raise InvalidSpec(f"not a duration: {text!r} (use h, m and s, e.g. 720h)")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


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
    public_base_url: str = ""
    image_repository: str = "ghcr.io/asoud/asoud"
    image_reference: str = ""  # a full image reference (digest or dev tag) instead of repo:version
    pull_policy: str = "IfNotPresent"
    pull_secrets: tuple[str, ...] = ()
    env_from_secrets: tuple[str, ...] = ()
    secret_key: SecretRef | None = None
    api_replicas: int = 2
    api_resources: dict[str, Any] = field(default_factory=dict)
    worker_replicas: int = 1
    worker_resources: dict[str, Any] = field(default_factory=dict)
    scheduler_resources: dict[str, Any] = field(default_factory=dict)
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
        return self.image_reference or f"{self.image_repository}:{self.version}"

    @property
    def image_digest(self) -> str:
        """Ten hex digits naming this image in Job names: every image its own migration."""
        return hashlib.sha256(self.image.encode()).hexdigest()[:10]

    def serving(self, version: str, image: str) -> StoreSpec:
        """The same store running an earlier (already migrated) image."""
        return replace(self, version=version, image_reference=image)


def _secret_ref(ref: dict[str, Any] | None, default_key: str = "url") -> SecretRef | None:
    if not ref:
        return None
    return SecretRef(str(ref.get("name", "")), str(ref.get("key", default_key)))


def parse_spec(spec: dict[str, Any], name: str = "") -> StoreSpec:
    """Typed spec with defaults; :class:`InvalidSpec` for anything the CRD should refuse."""
    try:
        parsed = _parse(spec)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidSpec):
            raise
        raise InvalidSpec(f"spec is malformed: {exc}") from None
    problems = _check(parsed, name)
    if problems:
        raise InvalidSpec("; ".join(problems))
    return parsed


def _parse(spec: dict[str, Any]) -> StoreSpec:
    image = spec.get("image") or {}
    api = spec.get("api") or {}
    workers = spec.get("workers") or {}
    scheduler = spec.get("scheduler") or {}
    scaling = workers.get("autoscaling") or {}
    database = spec.get("database") or {}
    redis = spec.get("redis") or {}
    keys = spec.get("signingKeys") or {}
    migrations = spec.get("migrations") or {}
    monitoring = spec.get("monitoring") or {}
    rotation = database.get("credentialRotation") or {}
    fallback = scaling.get("fallbackReplicas")
    return StoreSpec(
        version=str(spec["version"]),
        database=_secret_ref(database.get("secretRef")) or SecretRef(""),
        redis=_secret_ref(redis.get("secretRef")) or SecretRef(""),
        public_base_url=str(spec.get("publicBaseUrl", "")),
        image_repository=image.get("repository", "ghcr.io/asoud/asoud"),
        image_reference=str(image.get("reference", "")),
        pull_policy=image.get("pullPolicy", "IfNotPresent"),
        pull_secrets=tuple(image.get("pullSecrets") or ()),
        env_from_secrets=tuple(
            str(item["secretRef"]["name"]) for item in spec.get("envFrom") or ()
        ),
        secret_key=_secret_ref(spec.get("secretKeyRef"), "ASOUD_SECRET_KEY"),
        api_replicas=int(api.get("replicas", 2)),
        api_resources=dict(api.get("resources") or {}),
        worker_replicas=int(workers.get("replicas", 1)),
        worker_resources=dict(workers.get("resources") or {}),
        scheduler_resources=dict(scheduler.get("resources") or {}),
        autoscaling=Autoscaling(
            enabled=bool(scaling.get("enabled", False)),
            provider=scaling.get("provider", "builtin"),
            min_replicas=int(scaling.get("minReplicas", 1)),
            max_replicas=int(scaling.get("maxReplicas", 10)),
            target_backlog_per_replica=int(scaling.get("targetBacklogPerReplica", 50)),
            scale_down_stabilization_seconds=int(scaling.get("scaleDownStabilizationSeconds", 300)),
            fallback_replicas=None if fallback is None else int(fallback),
        ),
        scheduler_enabled=bool(scheduler.get("enabled", True)),
        redis_key_prefix=redis.get("keyPrefix", ""),
        database_admin=_secret_ref(database.get("adminSecretRef")),
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


def _check(spec: StoreSpec, name: str) -> list[str]:
    """The CRD's rules (schema bounds and CEL), for a spec that reached us without them."""
    problems = []
    if name and len(name) > MAX_STORE_NAME:
        problems.append(f"metadata.name must be at most {MAX_STORE_NAME} characters")
    if not spec.database.name or not spec.redis.name:
        problems.append("database.secretRef and redis.secretRef are required")
    if not spec.public_base_url.startswith("https://"):
        problems.append("publicBaseUrl must be an https:// URL")
    scaling = spec.autoscaling
    if scaling.enabled and scaling.min_replicas > scaling.max_replicas:
        problems.append("workers.autoscaling.minReplicas must not exceed maxReplicas")
    if scaling.fallback_replicas is not None and not (
        scaling.min_replicas <= scaling.fallback_replicas <= scaling.max_replicas
    ):
        problems.append("workers.autoscaling.fallbackReplicas must lie within min and max")
    if spec.credential_rotation and spec.database_admin is None:
        problems.append("database.credentialRotation needs database.adminSecretRef")
    ttl = spec.config.get("ASOUD_ACCESS_TOKEN_TTL_SECONDS", str(DEFAULT_TOKEN_TTL_SECONDS))
    if spec.key_grace_period < timedelta(seconds=int(ttl)):
        problems.append("signingKeys.gracePeriod must be at least the access-token lifetime")
    if spec.key_rotation_interval < max(timedelta(hours=1), spec.key_grace_period):
        problems.append("signingKeys.rotationInterval must be at least 1h and the gracePeriod")
    for key in spec.config:
        if key not in KNOWN_VARIABLES:  # the app refuses to start with an unknown one
            problems.append(f"config key {key} is not an ASOUD_* setting")
        elif key in SECRET_VARIABLES:
            problems.append(f"config key {key} is a secret: name a Secret in envFrom")
        elif key in OPERATOR_OWNED:
            problems.append(f"config key {key} is set by the operator from the spec")
    return problems
