"""Pod networking for the local kubelet: a bridge, a network namespace and an IP per pod.

Pods get their own network stack, as in a cluster: two API pods both listen on :8000, the
kubelet probes each at its pod IP, and the API server and the backing services are reached
at the bridge's address (``gateway``), where TCP forwarders relay to PostgreSQL and Redis on
this host's loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field


def missing() -> str | None:
    """Why pods cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "pod namespaces need root (network and mount namespaces)"
    tools = [t for t in ("ip", "unshare", "setpriv", "mount", "tini") if shutil.which(t) is None]
    if tools:
        return f"missing commands: {', '.join(tools)} (Debian: iproute2, util-linux, mount, tini)"
    probe = subprocess.run(
        ["ip", "netns", "add", "asoud-probe"], capture_output=True, text=True, check=False
    )
    subprocess.run(["ip", "netns", "del", "asoud-probe"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"cannot create network namespaces: {probe.stderr.strip()}"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class PodNetwork:
    prefix: str = field(
        default_factory=lambda: f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
    )
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    pods: dict[str, tuple[str, str]] = field(default_factory=dict)  # pod -> (netns, ip)
    _next: int = 2
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"asoudbr{self.tag}"

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def start(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add_pod(self, pod: str) -> tuple[str, str]:
        """A network namespace with one interface on the bridge: (netns name, pod IP)."""
        index = self._next
        self._next += 1
        netns, host_end = f"asoud-{self.tag}-{index}", f"av{self.tag}{index}"
        address = f"{self.prefix}.{index}"
        _ip("netns", "add", netns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", host_end, "master", self.bridge)
        _ip("link", "set", host_end, "up")
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        _ip("-n", netns, "route", "add", "default", "via", self.gateway)
        self.pods[pod] = (netns, address)
        return netns, address

    def remove_pod(self, pod: str) -> None:
        found = self.pods.pop(pod, None)
        if found is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", found[0])  # its veth goes with it

    async def forward(self, port: int, target_port: int, target_host: str = "127.0.0.1") -> None:
        """Relay connections to gateway:port on to target_host:target_port."""

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(
                    target_host, target_port
                )
            except OSError:
                writer.close()
                return

            async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
                try:
                    while data := await source.read(65536):
                        sink.write(data)
                        await sink.drain()
                except (ConnectionError, asyncio.CancelledError):
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        sink.close()

            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

        self._servers.append(await asyncio.start_server(relay, self.gateway, port))

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for pod in list(self.pods):
            self.remove_pod(pod)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.bridge)
