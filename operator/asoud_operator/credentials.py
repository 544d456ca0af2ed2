"""Database credential rotation, orchestrated: the dual-login scheme of
``asoud.platform.credentials`` run by Jobs of the app's own CLI.

1. A new login and its Secret (``<store>-db-<stamp>``: ``url`` and ``password``) are made;
   a Job runs ``asoud db rotate-credentials`` with the administrator's URL.
2. When it succeeds, the Deployments move to the new Secret (a rolling restart); the previous
   operator-made login becomes *retiring* and keeps working for ``retention``.
3. Then a Job runs ``asoud db retire-credentials`` and the old Secret is deleted.

``plan`` is pure; the reconcile pass performs what it returns and records it in status.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asoud.platform.credentials import login_url
from asoud_operator import children, conditions
from asoud_operator.spec import StoreSpec

ROTATE_ANNOTATION = "asoud.io/rotate-database-credentials"


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def stamp(now: datetime) -> str:
    """The epoch second in base 36 (6 characters until 2059) and 2 random ones: two rotations
    in one second must not share a login or a Job name (the second would take the first's
    finished Job for its own and retire the login in use), and ``<store>-db-retire-<stamp>``
    stays within Kubernetes' 63 characters."""
    value, digits = int(now.timestamp()), ""
    while value:
        value, digit = divmod(value, 36)
        digits = _BASE36[digit] + digits
    return (digits or "0") + "".join(secrets.choice(_BASE36) for _ in range(2))


def secret_name(store: str, stamp_: str) -> str:
    return f"{store}-db-{stamp_}"


def job_name(store: str, action: str, stamp_: str) -> str:
    return f"{store}-db-{action}-{stamp_}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def login_secret(store: str, namespace: str, name: str, base_url: str, user: str) -> dict[str, Any]:
    password = secrets.token_urlsafe(32)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": children.metadata(store, namespace, name, "database-credentials"),
        "data": {
            "url": _b64(login_url(base_url, user, password)),
            "password": _b64(password),
            "user": _b64(user),
        },
    }


def job(
    store: str,
    namespace: str,
    spec: StoreSpec,
    action: str,
    user: str,
    stamp_: str,
    password_secret: str | None,
) -> dict[str, Any]:
    """A Job of the app image running ``asoud db <action>-credentials``."""
    assert spec.database_admin is not None
    pod = children.deployment(store, namespace, spec, "api", None)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = [
        {
            "name": "ASOUD_DATABASE_ADMIN_URL",
            "valueFrom": {
                "secretKeyRef": {"name": spec.database_admin.name, "key": spec.database_admin.key}
            },
        }
    ]
    if password_secret:
        env.append(
            {
                "name": "ASOUD_NEW_DATABASE_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": password_secret, "key": "password"}},
            }
        )
    container.update(
        name=f"{action}-credentials",
        args=["db", f"{action}-credentials", "--user", user, "--group", spec.credential_group],
        env=env,
    )
    for key in ("readinessProbe", "livenessProbe", "ports", "envFrom", "lifecycle"):
        container.pop(key, None)
    pod["restartPolicy"] = "Never"
    pod.pop("topologySpreadConstraints", None)
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] == "tmp"]
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] == "tmp"]
    meta = children.metadata(store, namespace, job_name(store, action, stamp_), "credentials")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": meta["labels"]}, "spec": pod},
        },
    }


@dataclass
class Plan:
    status: dict[str, Any]
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[tuple[str, str, str]] = field(default_factory=list)  # (apiVersion, kind, name)
    ready: bool = True
    reason: str = "Current"
    message: str = ""
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)

    @property
    def database_secret(self) -> str | None:
        return self.status.get("activeSecret")


def plan(
    store: str,
    namespace: str,
    spec: StoreSpec,
    current: dict[str, Any],
    jobs: dict[str, str],
    base_url: str | None,
    rotation_request: str,
    now: datetime,
    rolled_out: bool = True,
) -> Plan:
    """Decide the next step. ``jobs`` maps Job names to absent/running/succeeded/failed;
    ``rolled_out`` says every pod now runs with the active login (the old one may go)."""
    state = dict(current)
    if not spec.credential_rotation:
        return Plan({}, reason="ExternallyManaged", message=f"Secret {spec.database.name}")
    result = Plan(state)
    pending = state.get("pendingUser")
    if pending:
        name = job_name(store, "rotate", state["pendingStamp"])
        outcome = jobs.get(name, "absent")
        if outcome == "succeeded":
            previous_user, previous_secret = state.get("activeUser"), state.get("activeSecret")
            state.update(
                activeUser=pending,
                activeSecret=state.pop("pendingSecret"),
                lastRotationTime=conditions.now_iso(now),
            )
            state.pop("pendingUser")
            state.pop("pendingStamp")
            if previous_user:
                state.update(
                    retiringUser=previous_user,
                    retiringSecret=previous_secret,
                    retireAfter=conditions.now_iso(now + spec.credential_retention),
                )
            result.events.append(
                ("Normal", "CredentialsRotated", f"Database login {pending} in use")
            )
            result.message = f"Login {pending} in use"
            return result
        if outcome == "failed":
            result.ready, result.reason = False, "RotationFailed"
            in_use = state.get("activeUser") or f"from {spec.database.name}"
            result.message = f"Job {name} failed; login {in_use} stays in use"
            result.events.append(("Warning", "CredentialRotationFailed", result.message))
            result.delete.append(("batch/v1", "Job", name))  # retried on the next pass
            return result
        if outcome == "absent":
            result.create.append(
                job(
                    store,
                    namespace,
                    spec,
                    "rotate",
                    pending,
                    state["pendingStamp"],
                    state["pendingSecret"],
                )
            )
        result.reason, result.message = "Rotating", f"Creating login {pending}"
        return result
    retiring = state.get("retiringUser")
    if retiring and not rolled_out and not state.get("retireStamp"):
        # Pods still running with the old login would lose their connections.
        result.reason = "WaitingForRollout"
        result.message = f"Retiring {retiring} once every pod uses {state.get('activeUser')}"
        return result
    if retiring and state.get("retireAfter", "") <= conditions.now_iso(now):
        retire_stamp = state.setdefault("retireStamp", stamp(now))
        name = job_name(store, "retire", retire_stamp)
        outcome = jobs.get(name, "absent")
        if outcome == "succeeded":
            if state.get("retiringSecret"):
                result.delete.append(("v1", "Secret", state["retiringSecret"]))
            for key in ("retiringUser", "retiringSecret", "retireAfter", "retireStamp"):
                state.pop(key, None)
            result.events.append(
                ("Normal", "CredentialsRetired", f"Database login {retiring} dropped")
            )
            result.message = f"Login {retiring} retired"
            return result
        if outcome == "failed":
            result.ready, result.reason = False, "RetirementFailed"
            result.message = f"Job {name} failed; login {retiring} still exists"
            result.events.append(("Warning", "CredentialRetirementFailed", result.message))
            result.delete.append(("batch/v1", "Job", name))
            state.pop("retireStamp", None)
            return result
        if outcome == "absent":
            result.create.append(
                job(store, namespace, spec, "retire", retiring, retire_stamp, None)
            )
        result.reason, result.message = "Retiring", f"Retiring login {retiring}"
        return result
    last = state.get("lastRotationTime")
    due = (
        last is None
        or conditions.now_iso(now - timedelta(days=spec.credential_interval_days)) >= last
    )
    requested = bool(rotation_request) and rotation_request != state.get("rotationRequest", "")
    if (due or requested) and not retiring:
        if not base_url:
            result.ready, result.reason = False, "SecretMissing"
            result.message = f"Secret {spec.database.name} has no {spec.database.key}"
            return result
        new_stamp = stamp(now)
        user = f"{spec.credential_group}_{new_stamp}"
        secret = login_secret(store, namespace, secret_name(store, new_stamp), base_url, user)
        state.update(
            pendingUser=user, pendingStamp=new_stamp, pendingSecret=secret["metadata"]["name"]
        )
        state["rotationRequest"] = rotation_request
        result.create += [
            secret,
            job(store, namespace, spec, "rotate", user, new_stamp, secret["metadata"]["name"]),
        ]
        result.reason, result.message = "Rotating", f"Creating login {user}"
        result.events.append(
            ("Normal", "CredentialRotationStarted", f"Creating database login {user}")
        )
        return result
    result.message = f"Login {state.get('activeUser')} in use"
    return result
