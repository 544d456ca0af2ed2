"""Real-cluster end-to-end: kind + the two images + both charts + a real PostgreSQL and Redis.

The same scenarios as tests/operator/test_end_to_end.py (which runs them on this machine's
local kubelet), here on a real cluster. Runs only where a container engine and kind exist
(`ASOUD_E2E=1`, see docs/operator.md); elsewhere it is skipped with the reason printed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from asoud.platform.database import MIGRATION_LOCK_KEY

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "asoud-e2e"
NS = "shops"
MISSING = [tool for tool in ("docker", "kind", "kubectl", "helm") if shutil.which(tool) is None]
ENGINE = (
    shutil.which("docker") is not None
    and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
)

pytestmark = pytest.mark.skipif(
    os.environ.get("ASOUD_E2E") != "1" or bool(MISSING) or not ENGINE,
    reason=(
        "real-cluster e2e needs ASOUD_E2E=1, a running container engine and kind, kubectl, helm"
        f" (missing here: {', '.join(MISSING) or 'none'}; engine running: {ENGINE})"
    ),
)


def sh(*args: str, check: bool = True, stdin: str | None = None) -> str:
    return subprocess.run(
        args, cwd=ROOT, check=check, capture_output=True, text=True, input=stdin
    ).stdout


def kubectl(*args: str, stdin: str | None = None) -> str:
    return sh("kubectl", "--context", f"kind-{CLUSTER}", *args, stdin=stdin)


def wait_for(check: Callable[[], object], what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (subprocess.CalledProcessError, KeyError, StopIteration):
            pass
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def store(name: str) -> dict[str, object]:
    return json.loads(kubectl("-n", NS, "get", "asoudstore", name, "-o", "json"))  # type: ignore[no-any-return]


def condition(name: str, kind: str) -> dict[str, str]:
    conditions = store(name).get("status", {}).get("conditions", [])  # type: ignore[union-attr]
    return next(c for c in conditions if c["type"] == kind)  # type: ignore[no-any-return]


def phase(name: str) -> str:
    return str(store(name).get("status", {}).get("phase", ""))  # type: ignore[union-attr]


def patch(name: str, body: dict[str, object]) -> None:
    kubectl("-n", NS, "patch", "asoudstore", name, "--type=merge", "-p", json.dumps(body))


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    sh("kind", "create", "cluster", "--name", CLUSTER)
    try:
        for target, image in (("app", "asoud"), ("operator", "asoud-operator")):
            for tag in ("1.0.0", "1.0.1", "1.0.2") if target == "app" else ("e2e",):
                sh("docker", "build", "--target", target, "-t", f"ghcr.io/asoud/{image}:{tag}", ".")
                sh(
                    "kind",
                    "load",
                    "docker-image",
                    f"ghcr.io/asoud/{image}:{tag}",
                    "--name",
                    CLUSTER,
                )
        kubectl("create", "namespace", NS)
        sh(
            "helm", "--kube-context", f"kind-{CLUSTER}", "install", "asoud-operator",
            "charts/asoud-operator", "-n", "asoud-system", "--create-namespace",
            "--set", "image.tag=e2e", "--set", "reconcileSeconds=5", "--wait",
        )  # fmt: skip
        kubectl("apply", "-f", "tests/e2e/manifests/backing-services.yaml")
        wait_for(lambda: "1/1" in kubectl("-n", NS, "get", "deploy", "postgres"), "postgres")
        yield
    finally:
        sh("kind", "delete", "cluster", "--name", CLUSTER, check=False)


def minimal_sample() -> str:
    """manifests/samples/minimal.yaml with the addresses of the backing services."""
    text = (ROOT / "manifests" / "samples" / "minimal.yaml").read_text()
    text = text.replace(
        "postgresql://asoud:change-me@postgres.shops.svc",
        "postgresql://postgres@postgres.shops.svc",
    )
    return text


def test_the_store_lifecycle_on_a_real_cluster(cluster: None) -> None:
    name = "corner-shop"
    # 1. The minimal sample and its Secrets: migration Job, then Ready.
    kubectl("apply", "-f", "-", stdin=minimal_sample())
    wait_for(lambda: phase(name) == "Ready", "Ready")
    # 2. An API pod killed: not Ready until the kubelet restarts it (one replica here).
    patch(name, {"spec": {"api": {"replicas": 1}}})
    wait_for(lambda: phase(name) == "Ready", "one API pod")
    kubectl(
        "-n",
        NS,
        "delete",
        "pod",
        "-l",
        f"app.kubernetes.io/instance={name},app.kubernetes.io/component=api",
        "--wait=false",
    )
    wait_for(lambda: condition(name, "Ready")["status"] == "False", "not Ready", 120)
    wait_for(lambda: phase(name) == "Ready", "Ready again")
    # 3. A bump during a running migration (a held migration lock): superseded, never two.
    locker = subprocess.Popen(
        ["kubectl", "--context", f"kind-{CLUSTER}", "-n", NS, "exec", "-i", "deploy/postgres", "--",
         "psql", "-U", "postgres", "-d", "asoud"],
        stdin=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert locker.stdin is not None
    locker.stdin.write(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY});\n")
    locker.stdin.flush()
    patch(name, {"spec": {"version": "1.0.1"}})
    wait_for(lambda: "1.0.1" in kubectl("-n", NS, "get", "jobs", "-o", "yaml"), "1.0.1 Job")
    patch(name, {"spec": {"version": "1.0.2"}})
    wait_for(lambda: store(name)["status"]["migration"].get("superseded"), "superseded")  # type: ignore[index]
    locker.stdin.write("SELECT pg_advisory_unlock_all();\n\\q\n")
    locker.stdin.close()
    locker.wait(30)
    wait_for(lambda: store(name)["status"].get("currentVersion") == "1.0.2", "1.0.2")  # type: ignore[union-attr]
    wait_for(lambda: phase(name) == "Ready", "rolled out")
    # 4. On-demand key rotation reaches the running API without a restart.
    pods = kubectl("-n", NS, "get", "pods", "-l", "app.kubernetes.io/component=api", "-o", "json")
    restarts = [
        c["restartCount"]
        for p in json.loads(pods)["items"]
        for c in p["status"]["containerStatuses"]
    ]
    patch(name, {"metadata": {"annotations": {"asoud.io/rotate-signing-keys": "e2e-1"}}})
    secret = json.loads(kubectl("-n", NS, "get", "secret", f"{name}-signing-keys", "-o", "json"))
    ring = json.loads(base64.b64decode(secret["data"]["keyring.json"]))
    active = next(k["kid"] for k in ring["keys"] if k["state"] == "active")

    def jwks_has_active() -> bool:
        out = kubectl("-n", NS, "exec", f"deploy/{name}-api", "--", "python", "-c",
                      "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8000/.well-known/jwks.json').read().decode())")  # fmt: skip
        return active in out

    wait_for(jwks_has_active, "the running API serving the rotated keys", 180)
    pods = kubectl("-n", NS, "get", "pods", "-l", "app.kubernetes.io/component=api", "-o", "json")
    assert [
        c["restartCount"]
        for p in json.loads(pods)["items"]
        for c in p["status"]["containerStatuses"]
    ] == restarts
    # 5. Database credentials rotate (a new login, a rolling restart, the old one retired).
    kubectl("-n", NS, "create", "secret", "generic", f"{name}-db-admin",
            "--from-literal=url=postgresql://postgres@postgres.shops.svc:5432/asoud")  # fmt: skip
    patch(
        name,
        {
            "spec": {
                "database": {
                    "adminSecretRef": {"name": f"{name}-db-admin"},
                    "credentialRotation": {"enabled": True, "retention": "10s"},
                }
            }
        },
    )
    wait_for(lambda: store(name)["status"].get("credentials", {}).get("activeUser"), "first login")  # type: ignore[union-attr]
    first = store(name)["status"]["credentials"]["activeUser"]  # type: ignore[index]
    patch(name, {"metadata": {"annotations": {"asoud.io/rotate-database-credentials": "e2e-1"}}})
    wait_for(lambda: store(name)["status"]["credentials"]["activeUser"] != first, "second login")  # type: ignore[index]
    wait_for(lambda: not store(name)["status"]["credentials"].get("retiringUser"), "retired")  # type: ignore[index]
    wait_for(lambda: phase(name) == "Ready", "Ready on the new login")
    # 6. A removed config key and KEDA switched off take effect (KEDA is not installed here:
    #    the store says so, and stops saying so once it is off).
    patch(
        name,
        {
            "spec": {
                "config": {"ASOUD_RATE_LIMIT_BURST": "500/minute"},
                "workers": {"autoscaling": {"enabled": True, "provider": "keda"}},
            }
        },
    )
    wait_for(
        lambda: condition(name, "AutoscalingActive")["reason"] == "KEDANotInstalled", "KEDA missing"
    )
    patch(name, {"spec": {"config": None, "workers": {"autoscaling": {"enabled": False}}}})
    wait_for(
        lambda: (
            not json.loads(kubectl("-n", NS, "get", "cm", f"{name}-config", "-o", "json")).get(
                "data"
            )
        ),
        "key removed",
    )
    wait_for(lambda: condition(name, "AutoscalingActive")["reason"] == "Disabled", "KEDA off")
    # 7. The scheduler stops promptly on SIGTERM (tini as PID 1), well within its grace period.
    started = time.monotonic()
    kubectl("-n", NS, "delete", "pod", "-l", "app.kubernetes.io/component=scheduler", "--wait=true")
    assert time.monotonic() - started < 20
    # Deletion: every child goes with the store.
    kubectl("-n", NS, "delete", "asoudstore", name)
    wait_for(
        lambda: f"{name}-api" not in kubectl("-n", NS, "get", "deployments", "-o", "name"), "GC"
    )
