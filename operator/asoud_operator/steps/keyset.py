"""Signing keys: the keyset Secret the app mounts, rotated on schedule or on demand."""

from __future__ import annotations

from asoud_operator import children, metrics, signing_keys
from asoud_operator.reconcile import Pass, Step


async def run(ctx: Pass) -> Step:
    step = Step()
    spec, store, namespace = ctx.spec, ctx.name, ctx.namespace
    name = children.names(store)["keyset"]
    observed = ctx.observed.get("Secret", name)
    request = ctx.annotations.get(signing_keys.ROTATE_ANNOTATION, "")
    previous = ctx.status.get("signingKeys") or {}
    encoded = ((observed or {}).get("data") or {}).get(children.KEYSET_KEY)
    if encoded is None:
        ring = signing_keys.initial(spec.key_algorithm)
        step.event("Normal", "SigningKeysCreated", f"Keyset with active key {ring.active.kid}")
        changed = True
    else:
        ring = signing_keys.decode(encoded)
        on_demand = bool(request) and request != previous.get("rotationRequest", "")
        if on_demand or signing_keys.due(ring, spec.key_rotation_interval, ctx.now):
            ring = signing_keys.advance(ring, spec.key_algorithm, spec.key_grace_period, ctx.now)
            trigger = "on-demand" if on_demand else "scheduled"
            metrics.KEY_ROTATIONS.labels(trigger).inc()
            step.event("Normal", "SigningKeysRotated", f"{trigger} rotation: {ring.active.kid}")
            changed = True
        else:
            pruned = signing_keys.prune(ring, spec.key_grace_period, ctx.now)
            changed = pruned is not None
            ring = pruned or ring
    if changed:
        secret = children.keyset_secret(store, namespace, signing_keys.encode(ring))
        secret["metadata"]["ownerReferences"] = [ctx.owner]
        ctx.observed.put(await ctx.kube.apply(secret))
    step.status["signingKeys"] = {
        **signing_keys.status(ring, spec.key_rotation_interval),
        "rotationRequest": request,
    }
    metrics.observe_key_ages(store, namespace, ring, ctx.now)
    step.condition("SigningKeysReady", True, "KeysetCurrent", f"Active key {ring.active.kid}")
    # Wake for the next scheduled rotation or retirement, not only at the periodic resync.
    step.requeue(signing_keys.seconds_until_change(ring, spec, ctx.now))
    return step
