"""Scenarios: signing-key rotation read by a real app keyring, and worker autoscaling from a
backlog in the real Redis (then Redis unreachable)."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from redis.asyncio import Redis

from asoud.platform.keyring import KeyringSource
from tests.conftest import REDIS_URL
from tests.operator.conftest import Cluster, eventually

DEPLOYMENTS = "apps/v1/deployments"
CLAIMS = {"aud": "asoud", "iss": "https://asoud.test", "sub": "someone"}


def _mount(cluster: Cluster, path: Path) -> str:
    """What kubelet does for a Secret volume: swap the file in atomically. Returns active kid."""
    secret = cluster.get("v1/secrets", "acme-signing-keys")
    assert secret is not None
    text = base64.b64decode(secret["data"]["keyring.json"]).decode()
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return str(cluster.store()["status"]["signingKeys"]["activeKid"])


def _token(source: KeyringSource) -> str:
    now = int(time.time())
    return source.get().sign(
        {**CLAIMS, "iat": now, "exp": now + 900, "sid": "login-1", "jti": secrets.token_hex(8)}
    )


def _accepted(source: KeyringSource, token: str) -> bool:
    try:
        source.get().verify(token, audience=CLAIMS["aud"], issuer=CLAIMS["iss"])
    except jwt.InvalidTokenError:
        return False
    return True


async def _ready(cluster: Cluster, **spec: object) -> None:
    await cluster.apply_store(**spec)
    await eventually(lambda: cluster.get("batch/v1/jobs", "acme-migrate-1-0-0"), "migration Job")
    await cluster.finish_job("acme-migrate-1-0-0", succeeded=True)
    await eventually(lambda: cluster.condition("Ready")["status"] == "True", "Ready")


async def test_scheduled_rotation_never_rejects_a_valid_token(
    operator: Cluster, tmp_path: Path
) -> None:
    cluster = operator
    await _ready(cluster, signingKeys={"rotationInterval": "2s", "gracePeriod": "1h"})
    mounted = tmp_path / "keyring.json"
    first_kid = _mount(cluster, mounted)
    app_keys = KeyringSource(mounted, interval=0)  # the app's own reader of the mount
    old_token = _token(app_keys)
    status = await eventually(
        lambda: (s := cluster.store()["status"]["signingKeys"])["activeKid"] != first_kid and s,
        "a scheduled rotation",
    )
    assert first_kid in status["retiringKids"]
    second_kid = _mount(cluster, mounted)
    assert app_keys.get().active.kid == second_kid  # reloaded without a restart
    assert _accepted(app_keys, old_token)  # signed by the retiring key: still accepted
    assert _accepted(app_keys, _token(app_keys))
    assert first_kid in {k["kid"] for k in app_keys.get().jwks()["keys"]}
    assert cluster.condition("SigningKeysReady")["status"] == "True"
    await eventually(lambda: cluster.events("SigningKeysRotated"), "a rotation event")


async def test_on_demand_rotation_happens_once_and_old_keys_leave_after_grace(
    operator: Cluster, tmp_path: Path
) -> None:
    cluster = operator
    await _ready(cluster, signingKeys={"rotationInterval": "720h", "gracePeriod": "2s"})
    mounted = tmp_path / "keyring.json"
    first_kid = _mount(cluster, mounted)
    old_token = _token(KeyringSource(mounted, interval=0))
    await cluster.patch_store({"metadata": {"annotations": {"asoud.io/rotate-signing-keys": "r1"}}})
    status = await eventually(
        lambda: (s := cluster.store()["status"]["signingKeys"])["activeKid"] != first_kid and s,
        "an on-demand rotation",
    )
    second_kid = status["activeKid"]
    assert status["retiringKids"] == [first_kid]
    # The same request is not acted on twice; after the grace period the old key is removed.
    await eventually(
        lambda: cluster.store()["status"]["signingKeys"]["retiringKids"] == [], "the key removed"
    )
    assert cluster.store()["status"]["signingKeys"]["activeKid"] == second_kid
    _mount(cluster, mounted)
    app_keys = KeyringSource(mounted, interval=0)
    assert first_kid not in {k.kid for k in app_keys.get().keys}
    assert not _accepted(app_keys, old_token)  # its key is gone: refused


@pytest.fixture
async def backlog() -> AsyncIterator[tuple[Redis, str]]:
    """A Redis key prefix of this test's own, cleaned up afterwards."""
    redis = Redis.from_url(REDIS_URL)
    prefix = f"asoud-op-{secrets.token_hex(4)}:"
    try:
        yield redis, prefix
    finally:
        await redis.delete(f"{prefix}tasks")
        await redis.aclose()


def _workers(cluster: Cluster) -> int | None:
    found = cluster.get(DEPLOYMENTS, "acme-worker")
    return None if found is None else int(found["spec"]["replicas"])


async def test_workers_follow_the_backlog_then_fall_back_when_redis_is_unreachable(
    operator: Cluster, backlog: tuple[Redis, str]
) -> None:
    cluster = operator
    redis, prefix = backlog
    stream = f"{prefix}tasks"
    await redis.xgroup_create(stream, "asoud-workers", id="0", mkstream=True)
    await _ready(
        cluster,
        redis={"secretRef": {"name": "acme-redis"}, "keyPrefix": prefix},
        workers={
            "replicas": 1,
            "autoscaling": {
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": 8,
                "targetBacklogPerReplica": 50,
                "scaleDownStabilizationSeconds": 2,
                "fallbackReplicas": 3,
            },
        },
    )
    assert _workers(cluster) == 1
    for n in range(230):  # 230 tasks nobody has read yet: ceil(230 / 50) = 5 workers
        await redis.xadd(stream, {"data": str(n)})
    await eventually(lambda: _workers(cluster) == 5, "scaled up to 5")
    await eventually(lambda: cluster.store()["status"]["workers"].get("backlog") == 230, "backlog")
    assert cluster.condition("AutoscalingActive")["status"] == "True"
    assert cluster.store()["status"]["workers"]["replicas"] == 5

    await redis.xgroup_setid(stream, "asoud-workers", id="$")  # the workers caught up
    await eventually(
        lambda: cluster.condition("AutoscalingActive")["reason"] == "StabilizingDown", "held"
    )
    assert _workers(cluster) == 5  # not at once: the stabilisation window holds it
    await eventually(lambda: _workers(cluster) == 1, "scaled down after stabilisation", timeout=10)

    unreachable = base64.b64encode(b"redis://127.0.0.1:1/0").decode()
    await cluster.patch(
        "/api/v1/namespaces/shop/secrets/acme-redis", {"data": {"url": unreachable}}
    )
    await eventually(
        lambda: cluster.condition("AutoscalingActive")["status"] == "False", "fallback"
    )
    assert cluster.condition("AutoscalingActive")["reason"] == "MetricUnavailable"
    await eventually(lambda: _workers(cluster) == 3, "fallback replicas")
