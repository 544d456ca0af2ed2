"""SLOs read back from Prometheus; a rollout that burns the error budget fast is halted.

A halted rollout is released by the resume annotation (that version is then never halted
again for the same burn) or by going back to the previous version; each happens once, with
one event, however long the burn lasts.
"""

from __future__ import annotations

from typing import Any

from asoud_operator import children, slo
from asoud_operator.reconcile import RESUME_ANNOTATION, Pass, Step


def rolling_out(deployment: dict[str, Any] | None, image: str) -> bool:
    """Is this Deployment moving to ``image`` and not done yet?"""
    if deployment is None:
        return False
    spec, observed = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = spec.get("template", {}).get("spec", {}).get("containers") or [{}]
    if containers[0].get("image") != image:
        return False
    replicas = int(spec.get("replicas") or 0)
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    return (
        int(observed.get("observedGeneration") or 0) < generation
        or int(observed.get("updatedReplicas") or 0) < replicas
    )


async def run(ctx: Pass) -> Step:
    step = Step()
    spec, store = ctx.spec, ctx.name
    rollout = dict(ctx.status.get("rollout") or {})
    halted, resumed = rollout.get("haltedVersion"), rollout.get("resumedVersion")
    if halted and ctx.annotations.get(RESUME_ANNOTATION) == halted:
        step.event("Normal", "RolloutResumed", f"Rollout of {halted} resumed by annotation")
        resumed, halted = halted, None
    elif halted and halted != spec.version:
        step.event("Normal", "RolloutResumed", f"Rollout of {halted} abandoned for {spec.version}")
        halted = None
    if spec.prometheus_url:
        store_slos = slo.store_slos(spec)
        rates = await slo.read_burn_rates(
            spec.prometheus_url,
            store,
            children.metrics_selector(store, ctx.namespace),
            store_slos,
            str(spec.slo.get("window", "30d")),
        )
        if rates is None:
            step.condition("SLOMet", None, "PrometheusUnavailable", "Burn rates could not be read")
        else:
            step.status["slo"] = {
                "errorBudgetRemaining": rates.budget_remaining,
                "burnRate1h": round(rates.burn_1h, 3),
                "burnRate6h": round(rates.burn_6h, 3),
            }
            step.condition(
                "SLOMet",
                not rates.fast,
                "FastBurn" if rates.fast else "WithinBudget",
                f"Burn rate {rates.burn_1h:.1f}x over 1h, {rates.burn_6h:.1f}x over 6h",
            )
            api = ctx.observed.get("Deployment", children.names(store)["api"])
            if (
                rates.fast
                and not halted
                and resumed != spec.version
                and rolling_out(api, spec.image)
            ):
                halted = spec.version
                step.event(
                    "Warning",
                    "RolloutHalted",
                    f"Rollout of {spec.version} paused: error budget burning "
                    f"{rates.burn_1h:.1f}x; annotate {RESUME_ANNOTATION}={spec.version} "
                    "to resume or set the previous version to roll back",
                )
        step.requeue(30.0)
    else:
        step.condition(
            "SLOMet", None, "NoPrometheus", "Set spec.monitoring.prometheusUrl to read burn rates"
        )
    step.status["rollout"] = {
        **({"haltedVersion": halted} if halted else {}),
        **({"resumedVersion": resumed} if resumed else {}),
    }
    ctx.halted_version = halted  # the health step reports it (Degraded=RolloutHalted)
    return step
