"""End to end, the way a cluster runs it: the operator chart's own Deployment (two replicas,
leader election) and every Job and Deployment the operator writes run as real processes
(the local kubelet) against the real PostgreSQL and Redis, through a strict API server.

Nothing here is faked but the API server and the node: if a pod would not start in a real
cluster (a wrong variable name, a missing Secret, a setting production refuses), it does not
start here either, and the store never becomes Ready.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import yaml
from redis.asyncio import Redis

from asoud.platform.database import MIGRATION_LOCK_KEY
from asoud.platform.keyring import Keyring
from tests.conftest import ADMIN_URL, REDIS_URL, _admin, _database_url
from tests.kube import network
from tests.kube.apiserver import ApiServer, tls_server
from tests.kube.kubelet import Kubelet, Pod
from tests.kube.network import PodNetwork
from tests.kube.tls import make_pki
from tests.operator.conftest import (
    OPERATOR_NAMESPACE,
    STORES,
    Cluster,
    eventually,
    operator_manifests,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "shops"
DEPLOYMENTS, JOBS = "apps/v1/deployments", "batch/v1/jobs"
READY_TIMEOUT = 120.0


class World:
    """The cluster (API server + local kubelet + pod network) with the operator installed."""

    def __init__(self, cluster: Cluster, kubelet: Kubelet, net: PodNetwork) -> None:
        self.cluster = cluster
        self.kubelet = kubelet
        self.net = net
        self.databases: list[str] = []
        self.prefixes: list[str] = []

    @property
    def api(self) -> ApiServer:
        return self.cluster.api

    def store(self, name: str) -> dict[str, Any]:
        found = self.api.get(STORES, NAMESPACE, name)
        assert found is not None
        return found

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        conditions = (self.store(name).get("status") or {}).get("conditions") or []
        found = [c for c in conditions if c["type"] == kind]
        return found[0] if found else {}

    def ready(self, name: str) -> bool:
        return self.condition(name, "Ready").get("status") == "True"

    async def database(self) -> str:
        name = f"asoud_e2e_{secrets.token_hex(4)}"
        await _admin(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return name

    def database_url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.net.gateway}:5432/{database}"

    async def create(self, doc: dict[str, Any]) -> None:
        await self.cluster.create(doc, NAMESPACE)

    async def store_with_secrets(self, name: str, db_name: str = "", **spec: Any) -> str:
        """A store like the minimal sample (its Secrets too), on a fresh database."""
        documents = sample_documents()
        database = db_name or await self.database()
        self.prefixes.append(f"{name}:")
        for doc in documents:
            doc = rename(doc, "corner-shop", name)
            if doc["kind"] == "Secret":
                doc["stringData"] = point_at(doc["stringData"], self, database)
                await self.create(doc)
            else:
                doc["spec"].update(spec)
                await self.create(doc)
        return database

    def api_pods(self, store: str) -> list[Pod]:
        return self.kubelet.pods_of(NAMESPACE, f"{store}-api")

    def ready_api_pod(self, store: str) -> Pod:
        pods = [p for p in self.api_pods(store) if p.ready]
        assert pods, "no ready API pod"
        return pods[0]

    def events_for(self, store: str, reason: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.api.all("v1/events", NAMESPACE)
            if e.get("reason") == reason and e.get("involvedObject", {}).get("name") == store
        ]

    def logs(self) -> str:
        pods = list(self.kubelet.pods.values()) + self.kubelet.terminated
        return "\n".join(
            f"--- {p.name} (exit {p.exit_codes}) ---\n{p.logs()[-3000:]}" for p in pods
        )

    async def until_ready(self, name: str) -> None:
        """Ready, rolled out and not degraded: phase Ready."""
        try:
            await eventually(
                lambda: self.ready(name) and self.store(name)["status"]["phase"] == "Ready",
                f"{name} Ready",
                READY_TIMEOUT,
            )
        except AssertionError:
            status = yaml.safe_dump(self.store(name).get("status"))
            raise AssertionError(f"{name} never became Ready:\n{status}\n{self.logs()}") from None


def sample_documents() -> list[dict[str, Any]]:
    text = (ROOT / "manifests" / "samples" / "minimal.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def rename(doc: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return yaml.safe_load(yaml.safe_dump(doc).replace(old, new))  # type: ignore[no-any-return]


def point_at(data: dict[str, str], world: World, database: str) -> dict[str, str]:
    """The sample's Secrets, with this test's PostgreSQL and Redis (their addresses only)."""
    result = dict(data)
    if "url" in result and result["url"].startswith("postgresql://"):
        result["url"] = world.database_url(database)
    elif "url" in result and result["url"].startswith("redis://"):
        result["url"] = f"redis://{world.net.gateway}:6379/0"
    return result


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    reason = network.missing()
    if reason is not None:
        pytest.skip(f"pods cannot run on this machine: {reason}")
    root = tmp_path_factory.mktemp("node")
    net = PodNetwork()
    net.start()
    try:
        pki = make_pki(root / "pki", [net.gateway, "127.0.0.1"])
        api = ApiServer()
        async with api, tls_server(api, pki.server_context(), net.gateway) as server:
            url = f"https://{net.gateway}:{server.port}"
            cluster = Cluster(api, url, pki.ca_path, net.gateway, server.port)
            await net.forward(5432, int(ADMIN_URL.rsplit(":", 1)[1].split("/")[0]))
            await net.forward(6379, int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
            kubelet = Kubelet(api, url, pki.ca_path, net, root, net.gateway, server.port)
            await kubelet.start()
            # `helm install asoud-operator charts/asoud-operator -n asoud-system`, image "dev"
            for doc in operator_manifests({"image": {"tag": "dev"}, "reconcileSeconds": 2}):
                api.put(doc, OPERATOR_NAMESPACE)
            world = World(cluster, kubelet, net)
            await eventually(
                lambda: (
                    sum(p.ready for p in kubelet.pods_of(OPERATOR_NAMESPACE, "asoud-operator")) == 2
                ),
                "both operator replicas ready (one leading, one standing by)",
                60,
            )
            try:
                yield world
            finally:
                await kubelet.stop()
                await cluster.http.aclose()
                await _cleanup(world)
    finally:
        await net.stop()


async def _cleanup(world: World) -> None:
    for name in world.databases:
        with contextlib.suppress(Exception):
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    redis = Redis.from_url(REDIS_URL)
    try:
        for prefix in world.prefixes:
            keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_the_minimal_sample_becomes_ready_with_its_pods_running(world: World) -> None:
    """kubectl apply -f manifests/samples/minimal.yaml (addresses pointed at this machine)."""
    documents = sample_documents()
    database = await world.database()
    world.prefixes.append("corner-shop:")
    for doc in documents:
        if doc["kind"] == "Secret":
            doc["stringData"] = point_at(doc["stringData"], world, database)
        await world.create(doc)
    await world.until_ready("corner-shop")
    status = world.store("corner-shop")["status"]
    assert status["currentVersion"] == "1.0.0" and status["phase"] == "Ready", yaml.safe_dump(
        status
    )
    # The migration Job ran the real `asoud migrate` against this database.
    conn = await asyncpg.connect(_database_url(database))
    try:
        assert await conn.fetchval("SELECT count(*) FROM tortoise_migrations") >= 10
    finally:
        await conn.close()
    # The API answers at its pod IP; workers and the scheduler pass their probes too.
    pod = world.ready_api_pod("corner-shop")
    async with httpx.AsyncClient(timeout=5) as http:
        ready = await http.get(f"http://{pod.ip}:8000/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        keys = await http.get(f"http://{pod.ip}:8000/.well-known/jwks.json")
        assert keys.json()["keys"]
    for role in ("worker", "scheduler"):
        assert any(p.ready for p in world.kubelet.pods_of(NAMESPACE, f"corner-shop-{role}")), role
    # The image's entrypoint is PID 1 of each pod: tini, then the app.
    assert (
        (pod.root / "start.sh")
        .read_text()
        .rstrip()
        .endswith("tini -- asoud serve --host 0.0.0.0 --port 8000")
    )


async def test_a_killed_api_makes_the_store_not_ready_until_it_is_back(world: World) -> None:
    await world.store_with_secrets("kiosk", api={"replicas": 1})
    await world.until_ready("kiosk")
    [pod] = world.api_pods("kiosk")
    world.kubelet.kill(pod)
    await eventually(
        lambda: world.condition("kiosk", "Ready")["reason"] == "APIUnavailable",
        "Ready=False/APIUnavailable",
        30,
    )
    assert world.condition("kiosk", "Ready")["status"] == "False"
    assert world.condition("kiosk", "Degraded")["status"] == "True"
    await world.until_ready("kiosk")  # the kubelet restarted it; readiness came back
    assert pod.restarts >= 1


async def test_a_version_bump_during_a_migration_supersedes_it(world: World) -> None:
    database = await world.store_with_secrets("stall", api={"replicas": 1})
    await world.until_ready("stall")
    active: list[int] = []

    def count_running(key: str, event: str, obj: dict[str, Any]) -> None:
        if key == JOBS and obj["metadata"].get("namespace") == NAMESPACE:
            running = [
                j
                for j in world.api.all(JOBS, NAMESPACE)
                if j["metadata"]["name"].startswith("stall-migrate-")
                and not any(
                    c.get("status") == "True"
                    for c in (j.get("status") or {}).get("conditions") or []
                )
            ]
            active.append(len(running))

    world.api.listeners.append(count_running)
    # Hold the migration lock: the 1.0.1 Job waits, running, like a long migration.
    holder = await asyncpg.connect(_database_url(database))
    await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await world.cluster.patch_store({"spec": {"version": "1.0.1"}}, "stall", NAMESPACE)
        first = await eventually(
            lambda: [
                j["metadata"]["name"]
                for j in world.api.all(JOBS, NAMESPACE)
                if j["metadata"]["name"].startswith("stall-migrate-")
                and j["metadata"]["annotations"]["asoud.io/version"] == "1.0.1"
            ],
            "the 1.0.1 migration Job",
        )
        await eventually(lambda: world.kubelet.pods_of(NAMESPACE, first[0]), "its pod running")
        await world.cluster.patch_store({"spec": {"version": "1.0.2"}}, "stall", NAMESPACE)
        await eventually(lambda: world.api.get(JOBS, NAMESPACE, first[0]) is None, "superseded")
        # Its pod is stopped by the garbage collector (background propagation), after its
        # grace period; until then the advisory lock keeps the next migration waiting.
        await eventually(
            lambda: world.kubelet.pods_of(NAMESPACE, first[0]) == [], "its pod stopped"
        )
    finally:
        await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        await holder.close()
    await eventually(
        lambda: world.store("stall")["status"].get("currentVersion") == "1.0.2", "1.0.2 serving"
    )
    await world.until_ready("stall")
    world.api.listeners.remove(count_running)
    assert max(active) == 1, active  # never two migrations at once
    superseded = world.store("stall")["status"]["migration"]["superseded"]
    assert [s["job"] for s in superseded] == first
    api = world.api.get(DEPLOYMENTS, NAMESPACE, "stall-api")
    assert api is not None
    assert api["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0.2")


async def _token(world: World, database: str, store: str, ring: Keyring) -> str:
    """An access token for a user with a live session, signed by the ring's active key."""
    conn = await asyncpg.connect(_database_url(database))
    try:
        user_id, session_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO identity_user (id, phone, display_name, is_staff, is_active, created_at,"
            " updated_at) VALUES ($1, $2, '', false, true, now(), now())",
            user_id,
            f"+98912{secrets.randbelow(10**7):07d}",
        )
        await conn.execute(
            "INSERT INTO identity_refresh_token (id, user_id, session_id, token_hash, created_at,"
            " expires_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 day')",
            uuid.uuid4(),
            user_id,
            session_id,
            secrets.token_hex(32),
        )
    finally:
        await conn.close()
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "asoud",
        "aud": "asoud-api",
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": secrets.token_hex(8),
        "iat": now,
        "nbf": now,
        "exp": now + 120,
    }
    return ring.sign(claims)


def keyring(world: World, store: str) -> Keyring:
    secret = world.api.get("v1/secrets", NAMESPACE, f"{store}-signing-keys")
    assert secret is not None
    return Keyring.from_json(base64.b64decode(secret["data"]["keyring.json"]).decode())


async def test_signing_key_rotation_reaches_the_running_api(world: World) -> None:
    database = await world.store_with_secrets(
        "keys",
        api={"replicas": 1},
        config={"ASOUD_ACCESS_TOKEN_TTL_SECONDS": "60"},
        signingKeys={"gracePeriod": "60s", "rotationInterval": "720h"},
    )
    await world.until_ready("keys")
    [pod] = world.api_pods("keys")
    before = keyring(world, "keys")
    old_token = await _token(world, database, "keys", before)
    await world.cluster.patch_store(
        {"metadata": {"annotations": {"asoud.io/rotate-signing-keys": "now-1"}}}, "keys", NAMESPACE
    )
    after = await eventually(
        lambda: (r := keyring(world, "keys")).active.kid != before.active.kid and r, "rotation"
    )
    new_token = await _token(world, database, "keys", after)

    async def me(token: str) -> int:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(
                f"http://{pod.ip}:8000/api/v1/me", headers={"Authorization": f"Bearer {token}"}
            )
            return response.status_code

    # The kubelet swaps the mounted Secret; the running API reloads it (no restart).
    assert await _eventually_status(me, new_token, 200)
    assert await me(old_token) == 200  # the retiring key still verifies
    assert pod.restarts == 0 and world.api_pods("keys") == [pod]
    # After the grace period the operator removes the retiring key: old tokens stop working.
    await eventually(
        lambda: before.active.kid not in {k.kid for k in keyring(world, "keys").keys},
        "the retiring key removed after its grace period",
        timeout=90,
    )
    assert await _eventually_status(me, old_token, 401)
    assert await me(new_token) == 200


async def _eventually_status(call: Any, token: str, status: int, timeout: float = 15) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await call(token) == status:
            return True
        await asyncio.sleep(0.3)
    return False


async def test_database_credentials_rotate_while_the_api_serves(world: World) -> None:
    database = await world.database()
    await world.cluster.secret("rotor-db-admin", NAMESPACE, url=world.database_url(database))
    await world.store_with_secrets(
        "rotor",
        database,
        api={"replicas": 2},
        database={
            "secretRef": {"name": "rotor-db"},
            "adminSecretRef": {"name": "rotor-db-admin"},
            "credentialRotation": {"enabled": True, "retention": "5s", "group": "rotor_app"},
        },
    )
    await world.until_ready("rotor")
    first = world.store("rotor")["status"]["credentials"]["activeUser"]
    outcomes: list[int] = []
    failures: list[str] = []
    stop = asyncio.Event()

    async def load() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while not stop.is_set():
                pods = [p for p in world.api_pods("rotor") if p.ready]
                if not pods:
                    outcomes.append(-1)
                    await asyncio.sleep(0.05)
                    continue
                pod = pods[len(outcomes) % len(pods)]
                try:
                    response = await http.get(f"http://{pod.ip}:8000/readyz")
                    outcomes.append(response.status_code)
                    if response.status_code != 200:
                        failures.append(f"{pod.name} {response.status_code} {response.text}")
                except httpx.HTTPError as exc:
                    outcomes.append(0)
                    failures.append(
                        f"{pod.name} {type(exc).__name__} {exc!r} terminating={pod.terminating} "
                        f"exit={pod.exit_codes} t={asyncio.get_running_loop().time():.2f}"
                    )
                await asyncio.sleep(0.02)

    runner = asyncio.create_task(load())
    await world.cluster.patch_store(
        {"metadata": {"annotations": {"asoud.io/rotate-database-credentials": "r1"}}},
        "rotor",
        NAMESPACE,
    )
    await eventually(
        lambda: world.store("rotor")["status"]["credentials"]["activeUser"] != first,
        "the new login in use",
        60,
    )
    second = world.store("rotor")["status"]["credentials"]["activeUser"]
    await eventually(
        lambda: not world.store("rotor")["status"]["credentials"].get("retiringUser"),
        "the old login retired",
        60,
    )
    await world.until_ready("rotor")
    await asyncio.sleep(1)
    stop.set()
    await runner
    assert len(outcomes) > 50
    assert set(outcomes) == {200}, failures
    conn = await asyncpg.connect(_database_url(database))
    try:
        roles = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
    finally:
        await conn.close()
    assert second in roles and first not in roles
    for pod in world.api_pods("rotor"):  # every serving pod uses the new login
        assert second in (pod.root / "start.sh").read_text()


async def test_removing_a_config_key_and_keda_takes_effect(world: World) -> None:
    await world.store_with_secrets(
        "prune",
        api={"replicas": 1},
        config={"ASOUD_RATE_LIMIT_BURST": "500/minute"},
        workers={"autoscaling": {"enabled": True, "provider": "keda"}},
    )
    await world.until_ready("prune")
    keda = "keda.sh/v1alpha1/scaledobjects"
    assert world.api.get(keda, NAMESPACE, "prune-worker") is not None
    assert world.api.get("keda.sh/v1alpha1/triggerauthentications", NAMESPACE, "prune-keda")
    config = world.api.get("v1/configmaps", NAMESPACE, "prune-config")
    assert config is not None and config["data"] == {"ASOUD_RATE_LIMIT_BURST": "500/minute"}
    old_pod = world.ready_api_pod("prune")
    await world.cluster.patch_store(
        {"spec": {"config": None, "workers": {"autoscaling": {"enabled": False}}}},
        "prune",
        NAMESPACE,
    )
    await eventually(lambda: world.api.get(keda, NAMESPACE, "prune-worker") is None, "KEDA gone")
    assert world.api.get("keda.sh/v1alpha1/triggerauthentications", NAMESPACE, "prune-keda") is None
    assert world.api.get("v1/secrets", NAMESPACE, "prune-keda-redis") is None
    await eventually(
        lambda: not (world.api.get("v1/configmaps", NAMESPACE, "prune-config") or {}).get("data"),
        "the key removed from the ConfigMap",
    )
    await eventually(lambda: old_pod.name not in world.kubelet.pods, "the API pods rolled")
    await world.until_ready("prune")
    new_pod = world.ready_api_pod("prune")
    assert "ASOUD_RATE_LIMIT_BURST" not in (new_pod.root / "start.sh").read_text()
    worker = world.api.get(DEPLOYMENTS, NAMESPACE, "prune-worker")
    assert worker is not None and worker["spec"]["replicas"] == 1  # spec.workers.replicas again
    assert world.events_for("prune", "ChildRemoved")


async def test_the_scheduler_stops_promptly_on_sigterm_as_pid_1(world: World) -> None:
    await world.store_with_secrets("tick", api={"replicas": 1})
    await world.until_ready("tick")
    [scheduler] = world.kubelet.pods_of(NAMESPACE, "tick-scheduler")
    # The image's entrypoint form: tini is PID 1 of the pod and runs the scheduler.
    assert world.kubelet.pid1(scheduler) == ["tini", "--", "asoud", "scheduler"]
    await world.cluster.patch_store({"spec": {"scheduler": {"enabled": False}}}, "tick", NAMESPACE)
    await eventually(lambda: scheduler in world.kubelet.terminated, "the scheduler pod stopped", 60)
    assert not scheduler.killed, "needed SIGKILL after its grace period"
    assert scheduler.exit_codes and scheduler.exit_codes[-1] in (0, 143), scheduler.exit_codes


async def test_the_operator_survives_token_rotation_and_losing_its_leader(world: World) -> None:
    operators = world.kubelet.pods_of(OPERATOR_NAMESPACE, "asoud-operator")
    lease = world.api.get("coordination.k8s.io/v1/leases", OPERATOR_NAMESPACE, "asoud-operator")
    assert lease is not None
    leader = next(p for p in operators if p.name == lease["spec"]["holderIdentity"])
    # The kubelet rewrites every projected token; the old ones stop working at once.
    world.kubelet.rotate_tokens(revoke_old=True)
    await world.store_with_secrets("after-rotation", api={"replicas": 1})
    await world.until_ready("after-rotation")
    # The leader's pod is deleted (a drain): it hands the Lease over; the standby reconciles.
    await world.kubelet.delete_pod(leader)
    await eventually(
        lambda: (
            (
                world.api.get("coordination.k8s.io/v1/leases", OPERATOR_NAMESPACE, "asoud-operator")
                or {}
            )["spec"]["holderIdentity"]
            != leader.name
        ),
        "the standby leading",
        60,
    )
    await world.store_with_secrets("after-failover", api={"replicas": 1})
    await world.until_ready("after-failover")
