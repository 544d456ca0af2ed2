"""The app's HMAC secret key: the Secret the spec names, or one the operator makes once."""

from __future__ import annotations

import secrets

from asoud_operator import children
from asoud_operator.reconcile import Pass, Step


async def run(ctx: Pass) -> Step:
    step = Step()
    if ctx.spec.secret_key is not None:
        return step
    name = children.names(ctx.name)["secret_key"]
    if ctx.observed.get("Secret", name) is None:
        secret = children.secret_key_secret(ctx.name, ctx.namespace, secrets.token_urlsafe(48))
        secret["metadata"]["ownerReferences"] = [ctx.owner]
        # Created, never applied: an existing key is never replaced (codes hashed with it,
        # hashed rate-limit identities stay valid); a 409 means it exists already.
        existing = await ctx.kube.get("v1", "Secret", ctx.namespace, name)
        ctx.observed.put(existing or await ctx.kube.create(secret))
        if existing is None:
            step.event("Normal", "SecretKeyCreated", f"Secret {name} holds the app's secret key")
    return step
