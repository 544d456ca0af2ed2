"""The operator's pure functions: scaling math, key rotation stages, the migration gate,
credential plans, conditions and patches. No API server, no clock but the one passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asoud.platform.keyring import KeyState
from asoud_operator import (
    autoscaling,
    children,
    conditions,
    credentials,
    migrations,
    signing_keys,
)
from asoud_operator.reconcile import merge_patch
from asoud_operator.spec import MAX_STORE_NAME, Autoscaling, InvalidSpec, parse_duration, parse_spec
from asoud_operator.steps.apply_children import candidates

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BASE = {
    "version": "1.0.0",
    "publicBaseUrl": "https://s.example.com",
    "database": {"secretRef": {"name": "db"}},
    "redis": {"secretRef": {"name": "r"}},
}


@pytest.mark.parametrize(
    ("backlog", "expected"),
    [(0, 1), (1, 1), (50, 1), (51, 2), (230, 5), (10_000, 8)],
)
def test_desired_replicas_is_the_clamped_ceiling(backlog: int, expected: int) -> None:
    scaling = Autoscaling(
        enabled=True, min_replicas=1, max_replicas=8, target_backlog_per_replica=50
    )
    assert autoscaling.desired_replicas(backlog, scaling) == expected


def test_scale_up_is_immediate_and_scale_down_waits_for_the_window() -> None:
    scaling = Autoscaling(
        enabled=True,
        min_replicas=1,
        max_replicas=10,
        target_backlog_per_replica=10,
        scale_down_stabilization_seconds=60,
    )
    up = autoscaling.decide(2, 95, scaling, now=0)
    assert (up.replicas, up.reason) == (10, "ScaledUp")
    held = autoscaling.decide(10, 0, scaling, now=30, history=up.recommendations)
    assert (held.replicas, held.desired, held.reason) == (10, 1, "StabilizingDown")
    partly = autoscaling.decide(10, 30, scaling, now=61, history=held.recommendations)
    assert (partly.replicas, partly.reason) == (3, "ScaledDown")  # max of the last 60 s: 1 and 3
    steady = autoscaling.decide(3, 30, scaling, now=62, history=partly.recommendations)
    assert (steady.replicas, steady.reason) == (3, "Stable")


@pytest.mark.parametrize(
    ("fallback", "current", "expected"), [(None, 4, 4), (6, 4, 6), (None, 0, 1), (50, 4, 10)]
)
def test_unreadable_backlog_holds_or_uses_the_fallback_within_bounds(
    fallback: int | None, current: int, expected: int
) -> None:
    scaling = Autoscaling(enabled=True, min_replicas=1, max_replicas=10, fallback_replicas=fallback)
    decision = autoscaling.decide(current, None, scaling, now=0)
    assert (decision.replicas, decision.reason) == (expected, "MetricUnavailable")


def test_conditions_keep_their_transition_time_until_the_status_changes() -> None:
    start = conditions.initial_conditions(1, NOW)
    assert {c["status"] for c in start} == {"Unknown"} and len(start) == len(
        conditions.CONDITION_TYPES
    )
    ready = conditions.set_condition(start, "Ready", True, "Reconciled", "ok", 2, NOW)
    again = conditions.set_condition(
        ready, "Ready", True, "Reconciled", "still", 3, NOW + timedelta(hours=1)
    )
    [found] = [c for c in again if c["type"] == "Ready"]
    assert found["message"] == "still" and len(again) == len(start)
    assert (
        found["lastTransitionTime"] == "2026-11-25T12:00:00Z" and found["observedGeneration"] == 3
    )
    lost = conditions.set_condition(
        again, "Ready", False, "Broken", "no", 3, NOW + timedelta(hours=2)
    )
    [ready] = [c for c in lost if c["type"] == "Ready"]
    assert ready["lastTransitionTime"] == "2026-11-25T14:00:00Z" and ready["status"] == "False"


def test_key_rotation_stages_next_active_retiring_removed() -> None:
    ring = signing_keys.initial("ES256")
    first_active = ring.active.kid
    first_next = next(k.kid for k in ring.keys if k.state is KeyState.next)
    assert not signing_keys.due(
        ring, timedelta(hours=720), ring.active.created_at + timedelta(hours=1)
    )
    assert signing_keys.due(
        ring, timedelta(hours=720), ring.active.created_at + timedelta(hours=720)
    )
    rotated = signing_keys.advance(ring, "ES256", timedelta(hours=24), NOW)
    states = {k.kid: k.state for k in rotated.keys}
    assert states[first_active] is KeyState.retiring and states[first_next] is KeyState.active
    assert sum(s is KeyState.next for s in states.values()) == 1
    assert signing_keys.prune(rotated, timedelta(hours=24), NOW + timedelta(hours=23)) is None
    pruned = signing_keys.prune(rotated, timedelta(hours=24), NOW + timedelta(hours=24))
    assert pruned is not None and first_active not in {k.kid for k in pruned.keys}
    # The Secret's bytes are the app's keyring format, both ways.
    assert signing_keys.decode(signing_keys.encode(rotated)).active.kid == first_next


def test_migration_gate() -> None:
    spec = parse_spec({**BASE, "version": "2.0.0"})
    old = "ghcr.io/asoud/asoud:1.0.0"
    absent = migrations.gate("s", spec, old, None, 0, None, None)
    assert (absent.serving_image, absent.create_job, absent.attempts) == (old, True, 1)
    running = migrations.gate("s", spec, old, {"status": {"active": 1}}, 1, None, None)
    assert (running.serving_image, running.create_job, running.migrated) == (old, False, None)
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    waiting = migrations.gate("s", spec, old, failed, 2, 10, None)
    assert (waiting.serving_image, waiting.delete_failed_job, waiting.reason) == (
        old,
        False,
        "MigrationFailed",
    )
    retry = migrations.gate("s", spec, old, failed, 2, 61, None)
    assert retry.delete_failed_job
    done = {"status": {"succeeded": 1}}
    assert migrations.gate("s", spec, old, done, 1, None, None).serving_image == spec.image
    manual = parse_spec({**BASE, "version": "2.0.0", "migrations": {"policy": "Manual"}})
    held = migrations.gate("s", manual, old, None, 0, None, None)
    assert (held.create_job, held.reason) == (False, "MigrationAwaitingApproval")
    assert migrations.gate("s", manual, old, None, 0, None, "2.0.0").create_job


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (6, 900), (20, 900)])
def test_migration_backoff(attempts: int, seconds: int) -> None:
    assert migrations.backoff_seconds(attempts) == seconds


def test_every_image_has_its_own_migration_job_whatever_the_tag() -> None:
    """Truncated tags once mapped 1.4.0 and 1.4.1 of a long store name to one Job."""
    long_store = "s" * MAX_STORE_NAME
    tags = ["1.4.0", "1.4.1", "ci-" + "x" * 120 + "-a", "ci-" + "x" * 120 + "-b", "1.4.0+Build_7"]
    names = {migrations.job_name(long_store, parse_spec({**BASE, "version": t})) for t in tags}
    assert len(names) == len(tags)
    assert all(len(n) <= 63 and n == n.lower() for n in names)
    reference = parse_spec({**BASE, "image": {"reference": "registry/asoud@sha256:" + "a" * 64}})
    assert reference.image == "registry/asoud@sha256:" + "a" * 64
    assert migrations.job_name("s", reference) not in names


def test_child_names_of_the_longest_store_fit_kubernetes() -> None:
    store = "s" * MAX_STORE_NAME
    spec = parse_spec(BASE)
    made = [name for _, _, name in candidates(store)]
    made += [children.names(store)[key] for key in ("keyset", "secret_key", "keda_secret")]
    made.append(migrations.job_name(store, spec))
    stamp = credentials.stamp(NOW)
    made += [credentials.job_name(store, a, stamp) for a in ("rotate", "retire")]
    made.append(credentials.secret_name(store, stamp))
    assert max(len(n) for n in made) <= 63, max(made, key=len)


def test_version_labels_are_only_set_when_kubernetes_accepts_them() -> None:
    assert children.labels("s", "api", "1.4.0")["app.kubernetes.io/version"] == "1.4.0"
    for tag in ("x" * 64, "_underscore-first", "1.0+build"):
        assert "app.kubernetes.io/version" not in children.labels("s", "api", tag)
        assert (
            children.metadata("s", "ns", "n", "api", tag)["annotations"]["asoud.io/version"] == tag
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"publicBaseUrl": "http://x"}, "publicBaseUrl must be an https:// URL"),
        ({"config": {"ASOUD_SECRET_KEY": "x" * 40}}, "is a secret: name a Secret in envFrom"),
        ({"config": {"ASOUD_DATABASE_URL": "postgres://x"}}, "set by the operator"),
        ({"config": {"PATH": "/bin"}}, "not an ASOUD_\\* setting"),
        ({"signingKeys": {"gracePeriod": "5m"}}, "gracePeriod must be at least"),
        ({"signingKeys": {"rotationInterval": "30m"}}, "rotationInterval must be at least 1h"),
        (
            {
                "workers": {
                    "autoscaling": {"enabled": True, "maxReplicas": 5, "fallbackReplicas": 9}
                }
            },
            "fallbackReplicas must lie within",
        ),
        ({"signingKeys": {"gracePeriod": "1d"}}, "not a duration"),
    ],
)
def test_specs_the_crd_should_refuse_are_refused_by_the_operator_too(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message):
        parse_spec({**BASE, **change}, "s")
    with pytest.raises(InvalidSpec, match="at most 40 characters"):
        parse_spec(BASE, "s" * 41)


def test_credential_plan_from_first_login_to_retirement() -> None:
    spec = parse_spec(
        {
            **BASE,
            "database": {
                "secretRef": {"name": "db"},
                "adminSecretRef": {"name": "admin"},
                "credentialRotation": {"enabled": True, "intervalDays": 30, "retention": "24h"},
            },
        }
    )
    url = "postgres://asoud:old@db:5432/asoud"
    start = credentials.plan("s", "ns", spec, {}, {}, url, "", NOW)
    assert len(credentials.stamp(NOW)) == 8
    assert len({credentials.stamp(NOW) for _ in range(50)}) > 40  # same second, new names
    pending = start.status["pendingUser"]
    assert [o["kind"] for o in start.create] == ["Secret", "Job"] and start.database_secret is None
    job = start.create[1]["spec"]["template"]["spec"]["containers"][0]
    assert "old" not in str(job) and job["args"][:2] == ["db", "rotate-credentials"]
    rotate_job = credentials.job_name("s", "rotate", start.status["pendingStamp"])
    done = credentials.plan("s", "ns", spec, start.status, {rotate_job: "succeeded"}, url, "", NOW)
    assert done.status["activeUser"] == pending and "retiringUser" not in done.status
    # Asked again within the same second: a new login and Job, never the finished one again.
    again = credentials.plan("s", "ns", spec, done.status, {rotate_job: "succeeded"}, url, "x", NOW)
    assert again.status["pendingUser"] != pending
    assert credentials.job_name("s", "rotate", again.status["pendingStamp"]) != rotate_job
    quiet = credentials.plan("s", "ns", spec, done.status, {}, url, "", NOW + timedelta(days=1))
    assert quiet.create == [] and quiet.ready
    later = NOW + timedelta(days=30)
    second = credentials.plan("s", "ns", spec, done.status, {}, url, "", later)
    assert second.status["pendingUser"] != pending
    second_job = credentials.job_name("s", "rotate", second.status["pendingStamp"])
    switched = credentials.plan(
        "s", "ns", spec, second.status, {second_job: "succeeded"}, url, "", later
    )
    assert switched.status["retiringUser"] == pending
    early = credentials.plan(
        "s", "ns", spec, switched.status, {}, url, "", later + timedelta(hours=23)
    )
    assert early.create == []
    retire = credentials.plan(
        "s", "ns", spec, switched.status, {}, url, "", later + timedelta(hours=24)
    )
    assert retire.create[0]["spec"]["template"]["spec"]["containers"][0]["args"][:4] == [
        "db",
        "retire-credentials",
        "--user",
        pending,
    ]
    retire_job = credentials.job_name("s", "retire", retire.status["retireStamp"])
    gone = credentials.plan(
        "s",
        "ns",
        spec,
        retire.status,
        {retire_job: "succeeded"},
        url,
        "",
        later + timedelta(hours=25),
    )
    assert ("v1", "Secret", start.status["pendingSecret"]) in gone.delete
    assert "retiringUser" not in gone.status
    failed = credentials.plan(
        "s", "ns", spec, second.status, {second_job: "failed"}, url, "", later
    )
    assert not failed.ready and failed.reason == "RotationFailed" and failed.delete


def test_merge_patch_nulls_removed_keys() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    assert merge_patch(old, {"a": 1, "b": {"c": 2}, "e": [2]}) == {"b": {"d": None}, "e": [2]}
    assert merge_patch(old, old) == {}


def test_durations_are_the_go_form_cel_reads() -> None:
    assert parse_duration("720h") == timedelta(days=30)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    for bad in ("1w", "1d", "", "h"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
