"""A local kubelet (with the Deployment and Job controllers' part we need) for tests.

For every Deployment and Job in the test API server it runs the pods as real local processes,
the way a node would:

- each pod in its own network namespace (``network``), its own mount namespace and its own
  PID namespace, where the image's entrypoint (``tini -- asoud``, from the Dockerfile) is
  PID 1; run as the pod's ``runAsUser`` with a read-only root filesystem when asked;
- the command and args the pod spec declares, with **exactly** the environment it declares:
  the image's ENV, the service-account variables a kubelet adds, ``envFrom`` and ``env`` with
  ConfigMap and Secret references resolved (a missing Secret or key keeps the pod from
  starting, as CreateContainerConfigError does);
- Secret, ConfigMap, emptyDir and projected service-account volumes at their mount paths,
  written as the kubelet writes them (a ``..data`` symlink swapped atomically on change);
- readiness and liveness probes from the pod spec (httpGet on the pod IP), restarts with
  backoff, graceful termination (SIGTERM to PID 1, SIGKILL after the grace period);
- it writes back what controllers write: a Deployment's replicas, updated, ready and
  available counts (rolling updates with maxSurge/maxUnavailable, or Recreate), and a Job's
  active, succeeded and failed counts with Complete/Failed conditions from the exit code.

The one acceleration: probes run at most a second apart, whatever their periodSeconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shlex
import signal
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.kube import images
from tests.kube.apiserver import ApiServer
from tests.kube.network import PodNetwork

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
PROBE_CAP_SECONDS = 1.0
RESTART_BACKOFF_CAP = 8.0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigError(Exception):
    """What a kubelet reports as CreateContainerConfigError."""


@dataclass
class Volume:
    name: str
    host_dir: Path
    source: dict[str, Any]  # the pod spec's volume


@dataclass
class Pod:
    name: str
    namespace: str
    owner: tuple[str, str]  # (kind, name)
    template_hash: str
    spec: dict[str, Any]
    labels: dict[str, str]
    root: Path
    netns: str = ""
    ip: str = ""
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    started: bool = False
    config_error: str = ""
    exit_codes: list[int] = field(default_factory=list)
    restarts: int = 0
    terminating: bool = False
    killed: bool = False  # needed SIGKILL after its grace period
    volumes: list[Volume] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def container(self) -> dict[str, Any]:
        return self.spec["containers"][0]  # type: ignore[no-any-return]

    @property
    def log_path(self) -> Path:
        return self.root / "container.log"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Kubelet:
    def __init__(
        self,
        api: ApiServer,
        server_url: str,
        ca_path: Path,
        network: PodNetwork,
        root: Path,
        api_host: str,
        api_port: int,
    ) -> None:
        self.api = api
        self.network = network
        self.root = root
        self.api_host, self.api_port = api_host, api_port
        self.ca = ca_path.read_bytes()
        self.http = httpx.AsyncClient(
            base_url=server_url,
            verify=ssl.create_default_context(cafile=str(ca_path)),
            headers={"Authorization": f"Bearer {api.admin_token}"},
            timeout=10,
        )
        self.configs = images.image_configs()
        self.pods: dict[str, Pod] = {}
        self._dirty: set[tuple[str, str, str]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._written: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.job_failures: dict[tuple[str, str], int] = {}
        self.terminated: list[Pod] = []
        self.root = root
        self.run_as_user = self._can_run_as(10001)

    @staticmethod
    def _interpreter_mounts(stage: Path) -> list[str]:
        """The project's Python lives under a directory other users cannot traverse (pyenv in
        /root): inside the pod, cover that directory with an empty tmpfs that shows only the
        interpreter's tree, as an image would contain just its own Python."""
        base = Path(sys.base_prefix).resolve()
        hidden = next(
            (
                a
                for a in reversed(base.parents)
                if a != Path("/") and not os.stat(a).st_mode & 0o001
            ),
            None,
        )
        if hidden is None:
            return []
        top = hidden / base.relative_to(hidden).parts[0]
        return [
            f"mkdir -p {shlex.quote(str(stage))}",
            f"mount --bind {shlex.quote(str(top))} {shlex.quote(str(stage))}",
            f"mount -t tmpfs -o mode=755,size=1m tmpfs {shlex.quote(str(hidden))}",
            f"mkdir -p {shlex.quote(str(top))}",
            f"mount --bind {shlex.quote(str(stage))} {shlex.quote(str(top))}",
        ]

    def _can_run_as(self, uid: int) -> bool:
        """Does the project's own interpreter run as that user inside a pod's namespaces?"""
        stage = self.root / "probe-interpreter"
        script = self.root / "probe.sh"
        lines = ["set -e", *self._interpreter_mounts(stage)]
        lines.append(
            f"exec setpriv --reuid={uid} --regid={uid} --clear-groups {shlex.quote(sys.executable)}"
            " -c 'import sys; print(sys.version)'"
        )
        self.root.mkdir(parents=True, exist_ok=True)
        script.write_text("\n".join(lines) + "\n")
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() != sys.version:
            print(
                f"[kubelet] pods run as root (capabilities dropped): user {uid} cannot run "
                f"this project's Python ({probe.stderr.strip() or probe.stdout.strip()})"
            )
            return False
        return True

    # -- informer ---------------------------------------------------------------------

    def _on_event(self, key: str, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if key in ("apps/v1/deployments", "batch/v1/jobs"):
            self._dirty.add((key, meta.get("namespace", ""), meta.get("name", "")))
            self._wake.set()
        elif key in ("v1/secrets", "v1/configmaps") and event_type == "MODIFIED":
            self._refresh_volumes(key, meta.get("namespace", ""), meta.get("name", ""))

    async def start(self) -> None:
        self.api.listeners.append(self._on_event)
        for key in ("apps/v1/deployments", "batch/v1/jobs"):
            for obj in self.api.all(key):
                self._dirty.add((key, obj["metadata"]["namespace"], obj["metadata"]["name"]))
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._on_event in self.api.listeners:
            self.api.listeners.remove(self._on_event)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await asyncio.gather(*(self._terminate(pod, grace=5) for pod in list(self.pods.values())))
        await self.http.aclose()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.5)
            self._wake.clear()
            # level-based: every owner with pods is looked at on each tick
            work = set(self._dirty)
            self._dirty.clear()
            for pod in self.pods.values():
                kind = "apps/v1/deployments" if pod.owner[0] == "Deployment" else "batch/v1/jobs"
                work.add((kind, pod.namespace, pod.owner[1]))
            for key, namespace, name in sorted(work):
                try:
                    if key == "apps/v1/deployments":
                        await self._sync_deployment(namespace, name)
                    else:
                        await self._sync_job(namespace, name)
                except Exception as exc:  # keep the node running; the test sees the status
                    print(f"[kubelet] {key} {namespace}/{name}: {type(exc).__name__}: {exc}")

    # -- controllers -------------------------------------------------------------------

    def _owned(self, kind: str, namespace: str, name: str) -> list[Pod]:
        return [
            p
            for p in self.pods.values()
            if p.owner == (kind, name) and p.namespace == namespace and not p.terminating
        ]

    async def _sync_deployment(self, namespace: str, name: str) -> None:
        deployment = self.api.get("apps/v1/deployments", namespace, name)
        pods = self._owned("Deployment", namespace, name)
        if deployment is None:
            await asyncio.gather(*(self._terminate(p) for p in pods))
            return
        spec = deployment["spec"]
        replicas = int(spec.get("replicas", 1))
        template = spec["template"]
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        new = [p for p in pods if p.template_hash == digest]
        old = [p for p in pods if p.template_hash != digest]
        strategy = spec.get("strategy") or {}
        if spec.get("paused"):
            pass  # a paused rollout moves nowhere
        elif strategy.get("type") == "Recreate":
            if old:
                await asyncio.gather(*(self._terminate(p) for p in old))
                old = []
            while len(new) < replicas:
                new.append(await self._start(namespace, ("Deployment", name), digest, template))
        else:
            rolling = strategy.get("rollingUpdate") or {}
            surge = int(rolling.get("maxSurge", 1))
            unavailable = int(rolling.get("maxUnavailable", 0))
            while len(new) < replicas and len(new) + len(old) < replicas + surge:
                new.append(await self._start(namespace, ("Deployment", name), digest, template))
            ready_new = sum(p.ready for p in new)
            keep_old = max(0, replicas - unavailable - ready_new) if old else 0
            for pod in sorted(old, key=lambda p: p.ready)[: max(0, len(old) - keep_old)]:
                await self._terminate(pod)
                old.remove(pod)
        if len(new) > replicas:
            for pod in sorted(new, key=lambda p: p.ready)[: len(new) - replicas]:
                await self._terminate(pod)
                new.remove(pod)
        current = new + old
        available = sum(p.ready for p in current)
        max_unavailable = int((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 0))
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": len(current),
            "updatedReplicas": len(new),
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": max(0, replicas - available),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available >= replicas - max_unavailable else "False",
                    "reason": "MinimumReplicasAvailable"
                    if available >= replicas - max_unavailable
                    else "MinimumReplicasUnavailable",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable"
                    if len(new) == replicas and not old and available == replicas
                    else "ReplicaSetUpdated",
                },
            ],
        }
        await self._write_status("apps/v1/deployments", deployment, status)

    async def _sync_job(self, namespace: str, name: str) -> None:
        job = self.api.get("batch/v1/jobs", namespace, name)
        pods = self._owned("Job", namespace, name)
        if job is None:
            await asyncio.gather(*(self._terminate(p) for p in pods))
            self.job_failures.pop((namespace, name), None)
            return
        status = dict(job.get("status") or {})
        if any(c.get("status") == "True" for c in status.get("conditions") or []):
            return  # finished
        spec = job["spec"]
        key = (namespace, name)
        failures = self.job_failures.get(key, 0)
        status.setdefault("startTime", _now())
        deadline = spec.get("activeDeadlineSeconds")
        started = datetime.datetime.fromisoformat(status["startTime"].replace("Z", "+00:00"))
        age = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
        if deadline is not None and age > float(deadline):
            await asyncio.gather(*(self._terminate(p, grace=1) for p in pods))
            status.update(
                active=0,
                failed=failures + len(pods),
                conditions=[{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}],
            )
            await self._write_status("batch/v1/jobs", job, status)
            return
        for pod in list(pods):
            if pod.process is not None and pod.process.returncode is not None:
                code = pod.process.returncode
                self._forget(pod)
                pods.remove(pod)
                if code == 0:
                    status.update(
                        active=0,
                        succeeded=1,
                        completionTime=_now(),
                        conditions=[{"type": "Complete", "status": "True"}],
                    )
                    await self._write_status("batch/v1/jobs", job, status)
                    return
                failures += 1
                self.job_failures[key] = failures
        if failures > int(spec.get("backoffLimit", 6)):
            status.update(
                active=0,
                failed=failures,
                conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
            )
            await self._write_status("batch/v1/jobs", job, status)
            return
        if not pods:
            pods.append(await self._start(namespace, ("Job", name), "job", spec["template"]))
        status.update(active=len(pods), failed=failures)
        await self._write_status("batch/v1/jobs", job, status)

    async def _write_status(self, key: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        ident = (key, meta["namespace"], meta["name"])
        if self._written.get(ident) == status and obj.get("status") == status:
            return
        group_version, _, plural = key.rpartition("/")
        prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        response = await self.http.patch(
            f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}/status",
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if response.status_code < 300:
            self._written[ident] = status

    # -- pods ----------------------------------------------------------------------------

    async def _start(
        self, namespace: str, owner: tuple[str, str], template_hash: str, template: dict[str, Any]
    ) -> Pod:
        name = f"{owner[1]}-{template_hash[:5]}-{secrets.token_hex(3)[:5]}"
        pod = Pod(
            name=name,
            namespace=namespace,
            owner=owner,
            template_hash=template_hash,
            spec=json.loads(json.dumps(template["spec"])),
            labels=dict((template.get("metadata") or {}).get("labels") or {}),
            root=self.root / "pods" / name,
        )
        pod.root.mkdir(parents=True, exist_ok=True)
        pod.netns, pod.ip = self.network.add_pod(name)
        self.pods[name] = pod
        pod.tasks.append(asyncio.create_task(self._run(pod)))
        return pod

    async def _run(self, pod: Pod) -> None:
        """Start the container, probe it, restart it (Always) until the pod is deleted."""
        backoff = 1.0
        while not pod.terminating:
            try:
                argv = self._prepare(pod)
            except ConfigError as exc:
                pod.config_error = str(exc)
                await asyncio.sleep(1.0)  # the kubelet retries until the Secret appears
                continue
            pod.config_error = ""
            with pod.log_path.open("ab") as log:
                pod.process = await asyncio.create_subprocess_exec(
                    *argv, stdout=log, stderr=subprocess.STDOUT, env={}, start_new_session=True
                )
            pod.started = True
            probes = [asyncio.create_task(self._probe(pod, "readinessProbe"))]
            if pod.container.get("livenessProbe"):
                probes.append(asyncio.create_task(self._probe(pod, "livenessProbe")))
            code = await pod.process.wait()
            for probe in probes:
                probe.cancel()
            pod.ready = False
            pod.exit_codes.append(code)
            self._mark_owner(pod)
            restart = pod.spec.get("restartPolicy", "Always")
            if pod.terminating or restart == "Never" or (restart == "OnFailure" and code == 0):
                return
            pod.restarts += 1
            await asyncio.sleep(backoff)
            backoff = min(RESTART_BACKOFF_CAP, backoff * 2)

    def _mark_owner(self, pod: Pod) -> None:
        kind = "apps/v1/deployments" if pod.owner[0] == "Deployment" else "batch/v1/jobs"
        self._dirty.add((kind, pod.namespace, pod.owner[1]))
        self._wake.set()

    async def _probe(self, pod: Pod, kind: str) -> None:
        probe = pod.container.get(kind)
        if probe is None:
            pod.ready = True
            self._mark_owner(pod)
            return
        get = probe["httpGet"]
        port = get["port"]
        if isinstance(port, str):
            port = next(p["containerPort"] for p in pod.container["ports"] if p.get("name") == port)
        url = f"http://{pod.ip}:{port}{get.get('path', '/')}"
        period = min(float(probe.get("periodSeconds", 10)), PROBE_CAP_SECONDS)
        threshold = int(probe.get("failureThreshold", 3))
        failures = 0
        await asyncio.sleep(min(float(probe.get("initialDelaySeconds", 0)), PROBE_CAP_SECONDS))
        async with httpx.AsyncClient(timeout=float(probe.get("timeoutSeconds", 1))) as client:
            while True:
                try:
                    ok = (await client.get(url)).status_code < 400
                except httpx.HTTPError:
                    ok = False
                failures = 0 if ok else failures + 1
                if kind == "readinessProbe":
                    # A terminating pod is out of the endpoints, whatever its probe says.
                    ready = not pod.terminating and (ok or (pod.ready and failures < threshold))
                    if ready != pod.ready:
                        pod.ready = ready
                        self._mark_owner(pod)
                elif failures >= threshold:
                    self._signal(pod, signal.SIGKILL)  # liveness failed: restart
                    return
                await asyncio.sleep(period)

    def _prepare(self, pod: Pod) -> list[str]:
        """The command line that starts the container in its namespaces."""
        container = pod.container
        image = images.for_image(container["image"], self.configs)
        env = dict(image.env)
        env["HOSTNAME"] = pod.name
        env["KUBERNETES_SERVICE_HOST"] = self.api_host
        env["KUBERNETES_SERVICE_PORT"] = str(self.api_port)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                data = self._config_map(pod.namespace, source["configMapRef"])
            else:
                data = self._secret(pod.namespace, source["secretRef"])
            env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env") or []:
            env[item["name"]] = self._env_value(pod, item)
        mounts = self._volumes(pod)
        command = container.get("command") or image.entrypoint
        args = (
            container.get("args")
            if "args" in container
            else ([] if container.get("command") else image.cmd)
        )
        security = {
            **(pod.spec.get("securityContext") or {}),
            **(container.get("securityContext") or {}),
        }
        uid = security.get("runAsUser")
        if uid is None and image.user:
            uid = int(image.user.split(":")[0])
        if security.get("runAsNonRoot") and uid in (None, 0):
            raise ConfigError("container has runAsNonRoot and image will run as root")
        lines = ["set -e", *self._interpreter_mounts(pod.root / "interpreter")]
        # A mount over a directory that holds the node's files (/tmp over the pods' volumes)
        # would hide the sources of the mounts after it: such mounts go last.
        mounts.sort(key=lambda m: self.root.is_relative_to(m[1]))
        for host_dir, path, read_only in mounts:
            lines.append(f"mkdir -p {shlex.quote(path)}")
            lines.append(f"mount --bind {shlex.quote(str(host_dir))} {shlex.quote(path)}")
            if read_only:
                lines.append(f"mount -o remount,bind,ro {shlex.quote(path)}")
        if security.get("readOnlyRootFilesystem"):
            lines.append("mount -o remount,bind,ro /")
        lines.append(f"cd {shlex.quote(image.workdir)}")
        # Without the pod's user (see _can_run_as), root with no capabilities at all.
        identity: list[str] = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
        if uid is not None and self.run_as_user:
            gid = security.get("runAsGroup", uid)
            groups = [str(gid)] + ([str(security["fsGroup"])] if security.get("fsGroup") else [])
            identity = [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={gid}",
                f"--groups={','.join(dict.fromkeys(groups))}",
                "--no-new-privs",
                "--inh-caps=-all",
            ]
        pairs = [f"{k}={v}" for k, v in env.items()]
        lines.append(
            "exec "
            + " ".join(shlex.quote(a) for a in [*identity, "env", "-i", *pairs, *command, *args])
        )
        script = pod.root / "start.sh"
        script.write_text("\n".join(lines) + "\n")
        return [
            "ip",
            "netns",
            "exec",
            pod.netns,
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--mount-proc",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            str(script),
        ]

    def _env_value(self, pod: Pod, item: dict[str, Any]) -> str:
        if "value" in item:
            return str(item["value"])
        source = item.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = self._secret(
                pod.namespace, {"name": ref["name"], "optional": ref.get("optional")}
            )
            if ref["key"] not in data:
                if ref.get("optional"):
                    return ""
                raise ConfigError(f"couldn't find key {ref['key']} in Secret {ref['name']}")
            return data[ref["key"]]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = self._config_map(pod.namespace, {"name": ref["name"]})
            if ref["key"] not in data:
                raise ConfigError(f"couldn't find key {ref['key']} in ConfigMap {ref['name']}")
            return data[ref["key"]]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            return {"metadata.name": pod.name, "metadata.namespace": pod.namespace}.get(path, "")
        raise ConfigError(f"unsupported env source for {item['name']}")

    def _secret(self, namespace: str, ref: dict[str, Any]) -> dict[str, str]:
        secret = self.api.get("v1/secrets", namespace, ref["name"])
        if secret is None:
            if ref.get("optional"):
                return {}
            raise ConfigError(f'secret "{ref["name"]}" not found')
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        return data

    def _config_map(self, namespace: str, ref: dict[str, Any]) -> dict[str, str]:
        found = self.api.get("v1/configmaps", namespace, ref["name"])
        if found is None:
            if ref.get("optional"):
                return {}
            raise ConfigError(f'configmap "{ref["name"]}" not found')
        return dict(found.get("data") or {})

    # -- volumes -------------------------------------------------------------------------

    def _volumes(self, pod: Pod) -> list[tuple[Path, str, bool]]:
        """Write every volume the container mounts; (host dir, mount path, read-only)."""
        declared = {v["name"]: v for v in pod.spec.get("volumes") or []}
        pod.volumes = []
        mounts: list[tuple[Path, str, bool]] = []
        for mount in pod.container.get("volumeMounts") or []:
            source = declared.get(mount["name"])
            if source is None:
                raise ConfigError(f"volume {mount['name']} is not declared")
            host_dir = pod.root / "volumes" / mount["name"]
            volume = Volume(mount["name"], host_dir, source)
            self._write_volume(pod, volume)
            pod.volumes.append(volume)
            mounts.append((host_dir, mount["mountPath"], bool(mount.get("readOnly"))))
        automount = pod.spec.get("automountServiceAccountToken", True)
        if automount and not any(path == SA_MOUNT for _, path, _ in mounts):
            host_dir = pod.root / "volumes" / "kube-api-access"
            volume = Volume("kube-api-access", host_dir, {"serviceAccountToken": True})
            self._write_volume(pod, volume)
            pod.volumes.append(volume)
            mounts.append((host_dir, SA_MOUNT, True))
        return mounts

    def _files(self, pod: Pod, volume: Volume) -> dict[str, bytes] | None:
        source = volume.source
        if "secret" in source:
            data = self._secret(pod.namespace, {"name": source["secret"]["secretName"]})
            return {k: v.encode() for k, v in data.items()}
        if "configMap" in source:
            data = self._config_map(pod.namespace, {"name": source["configMap"]["name"]})
            return {k: v.encode() for k, v in data.items()}
        if "serviceAccountToken" in source:
            account = pod.spec.get("serviceAccountName", "default")
            if not pod.tokens:
                pod.tokens.append(self.api.service_account_token(pod.namespace, account))
            return {
                "token": pod.tokens[-1].encode(),
                "ca.crt": self.ca,
                "namespace": pod.namespace.encode(),
            }
        return None  # emptyDir

    def _write_volume(self, pod: Pod, volume: Volume) -> None:
        files = self._files(pod, volume)
        volume.host_dir.mkdir(parents=True, exist_ok=True)
        gid = (pod.spec.get("securityContext") or {}).get("fsGroup")
        if files is None:  # an emptyDir, writable by the pod's user
            os.chmod(volume.host_dir, 0o1777)  # noqa: S103 - what an emptyDir is
            return
        mode = int(
            (volume.source.get("secret") or volume.source.get("configMap") or {}).get(
                "defaultMode", 0o644
            )
        )
        # The kubelet's atomic writer: a timestamped directory, then ..data swapped to it.
        stamp = volume.host_dir / f"..{datetime.datetime.now().strftime('%Y_%m_%d_%H_%M_%S.%f')}"
        stamp.mkdir()
        for key, content in files.items():
            target = stamp / key
            target.write_bytes(content)
            os.chmod(target, mode)
            if gid is not None:
                os.chown(target, 0, int(gid))
        os.chmod(stamp, 0o755)  # noqa: S103 - as the kubelet's atomic writer makes it
        link = volume.host_dir / "..data"
        temporary = volume.host_dir / "..data_tmp"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(stamp.name)
        previous = os.readlink(link) if link.is_symlink() else None
        os.replace(temporary, link)
        for key in files:
            entry = volume.host_dir / key
            if not entry.is_symlink():
                entry.symlink_to(f"..data/{key}")
        if previous:
            subprocess.run(["rm", "-rf", str(volume.host_dir / previous)], check=False)

    def _refresh_volumes(self, key: str, namespace: str, name: str) -> None:
        kind = "secret" if key == "v1/secrets" else "configMap"
        for pod in self.pods.values():
            if pod.namespace != namespace:
                continue
            for volume in pod.volumes:
                source = volume.source.get(kind) or {}
                if source.get("secretName", source.get("name")) == name:
                    with contextlib.suppress(ConfigError):
                        self._write_volume(pod, volume)

    def rotate_tokens(self, revoke_old: bool = True) -> None:
        """What the kubelet does before a projected token expires: a new token in the file;
        with ``revoke_old`` the old one stops working at once (a client must re-read)."""
        for pod in self.pods.values():
            for volume in pod.volumes:
                if "serviceAccountToken" in volume.source and pod.tokens:
                    old = pod.tokens[-1]
                    account = pod.spec.get("serviceAccountName", "default")
                    pod.tokens.append(self.api.service_account_token(pod.namespace, account))
                    self._write_volume(pod, volume)
                    if revoke_old:
                        self.api.revoke(old)

    # -- stopping ------------------------------------------------------------------------

    def pid1(self, pod: Pod) -> list[str]:
        """The command line of PID 1 in the pod's PID namespace."""
        pids = self._pid1s(pod)
        if not pids:
            return []
        raw = Path(f"/proc/{pids[0]}/cmdline").read_bytes()
        return [part.decode() for part in raw.split(b"\0") if part]

    def _pid1s(self, pod: Pod) -> list[int]:
        if pod.process is None or pod.process.returncode is not None:
            return []
        children = Path(f"/proc/{pod.process.pid}/task/{pod.process.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except (FileNotFoundError, ValueError):
            return []

    def _signal(self, pod: Pod, sig: int) -> None:
        """Signal PID 1 of the pod's PID namespace (the host sees it as unshare's child)."""
        if pod.process is None or pod.process.returncode is not None:
            return
        for pid in self._pid1s(pod) or [pod.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    async def _terminate(self, pod: Pod, grace: float | None = None) -> None:
        """Not ready at once (out of the endpoints), the preStop hook, SIGTERM to PID 1,
        SIGKILL when the grace period (which the hook counts against) runs out."""
        pod.terminating = True
        pod.ready = False
        if grace is None:
            grace = float(pod.spec.get("terminationGracePeriodSeconds", 30))
        hook = ((pod.container.get("lifecycle") or {}).get("preStop") or {}).get("sleep")
        if hook and pod.process is not None and pod.process.returncode is None:
            pause = min(float(hook["seconds"]), grace)
            await asyncio.sleep(pause)
            grace -= pause
        if pod.process is not None and pod.process.returncode is None:
            self._signal(pod, signal.SIGTERM)
            try:
                await asyncio.wait_for(pod.process.wait(), grace)
            except TimeoutError:
                pod.killed = True
                self._signal(pod, signal.SIGKILL)
                await pod.process.wait()
        self._forget(pod)

    def _forget(self, pod: Pod) -> None:
        for task in pod.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.pods.pop(pod.name, None)
        self.network.remove_pod(pod.name)
        self.terminated.append(pod)

    # -- for tests -----------------------------------------------------------------------

    def pods_of(self, namespace: str, owner: str) -> list[Pod]:
        return [p for p in self.pods.values() if p.namespace == namespace and p.owner[1] == owner]

    async def delete_pod(self, pod: Pod, grace: float | None = None) -> None:
        """`kubectl delete pod`: SIGTERM, the grace period, then SIGKILL; its Deployment makes
        a replacement (a new pod, a new name)."""
        await self._terminate(pod, grace)
        self._mark_owner(pod)

    def kill(self, pod: Pod) -> None:
        """The container dies (OOM, a crash): SIGKILL to its PID 1; the kubelet restarts it."""
        self._signal(pod, signal.SIGKILL)
