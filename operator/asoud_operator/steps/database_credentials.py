"""Database credentials: the active login's Secret, rotated by Jobs of the app's own CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

from asoud_operator import children, credentials, metrics, migrations
from asoud_operator.kube import KubeError
from asoud_operator.reconcile import Pass, Step
from asoud_operator.steps import health


async def run(ctx: Pass) -> Step:
    step = Step()
    spec, store = ctx.spec, ctx.name
    state = dict(ctx.status.get("credentials") or {})
    jobs = {
        name: migrations.job_state(ctx.observed.get("Job", name))
        for action, stamp_key in (("rotate", "pendingStamp"), ("retire", "retireStamp"))
        if state.get(stamp_key)
        for name in [credentials.job_name(store, action, state[stamp_key])]
    }
    base_url = (
        await ctx.secret_value(spec.database.name, spec.database.key)
        if spec.credential_rotation
        else None
    )
    plan = credentials.plan(
        store,
        ctx.namespace,
        spec,
        state,
        jobs,
        base_url,
        ctx.annotations.get(credentials.ROTATE_ANNOTATION, ""),
        ctx.now,
        rolled_out=_rolled_out(ctx, state.get("activeSecret")),
    )
    for api_version, kind, name in plan.delete:
        await ctx.kube.delete(api_version, kind, ctx.namespace, name)
        ctx.observed.forget(kind, name)
    for obj in plan.create:
        obj["metadata"]["ownerReferences"] = [ctx.owner]
        try:
            ctx.observed.put(await ctx.kube.create(obj))
        except KubeError as exc:
            if exc.status != 409:  # 409: made by an earlier pass whose status was not written
                raise
    for kind, reason, message in plan.events:
        step.event(kind, reason, message)
        if reason == "CredentialsRotated":
            metrics.CREDENTIAL_ROTATIONS.inc()
    step.status["credentials"] = plan.status if spec.credential_rotation else None
    step.condition("CredentialsReady", plan.ready, plan.reason, plan.message)
    ctx.database_secret = plan.database_secret
    step.requeue(_next_change(plan.status, spec.credential_interval_days, ctx.now))
    return step


def _rolled_out(ctx: Pass, secret: str | None) -> bool:
    """Does every pod of every Deployment run with this login's Secret?"""
    for role in ("api", "worker", "scheduler"):
        deployment = ctx.observed.get("Deployment", children.names(ctx.name)[role])
        if deployment is None:
            continue
        state = health.rollout(deployment)
        env = deployment.get("spec", {}).get("template", {}).get("spec", {})
        uses = secret is not None and secret in str(env)
        if state is None or not state.complete or not uses:
            return False
    return True


def _next_change(state: dict[str, str], interval_days: int, now: datetime) -> float:
    if state.get("pendingUser") or state.get("retireStamp"):
        return 2.0  # a Job is running: its watch event wakes us sooner
    moments = []
    if state.get("retireAfter"):
        moments.append(datetime.fromisoformat(state["retireAfter"]))
    if state.get("lastRotationTime"):
        last = datetime.fromisoformat(state["lastRotationTime"])
        moments.append(last + timedelta(days=interval_days))
    if not moments:
        return 3600.0
    return max(1.0, min((moment - now).total_seconds() for moment in moments))
