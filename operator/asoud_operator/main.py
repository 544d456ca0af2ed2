"""`asoud-operator`: run the operator.

Metrics on ``--metrics-port`` (/metrics); liveness and readiness on ``--health-port``
(/healthz, /readyz). With ``--leader-election`` (the chart's default) several replicas may
run: one leads and reconciles, the others stand by, ready, until its Lease expires.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import threading
import uuid
from typing import Any

import kopf
from aiohttp import web
from prometheus_client import start_http_server

from asoud_operator import handlers, metrics
from asoud_operator.kube import Kube
from asoud_operator.leader import LeaseElector

log = logging.getLogger("asoud_operator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespace", action="append", default=[], help="watch only these")
    parser.add_argument(
        "--metrics-port", type=int, default=int(os.environ.get("METRICS_PORT", "9090"))
    )
    parser.add_argument("--health-port", type=int, default=8080)
    parser.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="elect one leader among replicas (a Lease in the pod's namespace)",
    )
    parser.add_argument("--lease-name", default="asoud-operator")
    parser.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "default"))
    return parser.parse_args(argv)


class Health:
    """/healthz: the event loop answers. /readyz: leading and kopf is up, or standing by
    while the API server still answers (a standby is a healthy replica)."""

    def __init__(self, elector: LeaseElector | None) -> None:
        self.elector = elector
        self.kopf_ready = threading.Event()

    def ready(self) -> bool:
        if self.elector is None or self.elector.leading:
            return self.kopf_ready.is_set()
        age = asyncio.get_running_loop().time() - self.elector.last_contact
        return age < 3 * self.elector.renew_seconds

    async def serve(self, port: int) -> web.AppRunner:
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def readyz(_: web.Request) -> web.Response:
            ok = self.ready()
            return web.Response(text="ready" if ok else "not ready", status=200 if ok else 503)

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104 - probes reach the pod IP
        return runner


async def run(
    options: argparse.Namespace,
    stop_flag: asyncio.Event | threading.Event | None = None,
) -> int:
    """Elect (if asked), then run kopf until stopped; 1 when leadership was lost."""
    assert handlers.RESOURCE  # the handlers are registered on import
    elector = None
    lease_kube = None
    # Named here, not by kopf: kopf would ask the user database, and a pod may run as a UID
    # that /etc/passwd does not know (OpenShift assigns arbitrary ones).
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    if options.leader_election:
        lease_kube = Kube.from_environment()
        elector = LeaseElector(lease_kube, options.lease_namespace, options.lease_name, identity)
    health = Health(elector)
    runner = await health.serve(options.health_port)
    lost = asyncio.Event()
    keeper: asyncio.Task[None] | None = None
    stop = asyncio.Event()

    async def watch_stop() -> None:
        # A threading.Event may be set from a signal handler or another thread: polled.
        while stop_flag is not None and not stop_flag.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if stop_flag is not None:
            stop.set()

    stopper = asyncio.ensure_future(watch_stop())
    try:
        if elector is not None:
            acquire = asyncio.ensure_future(elector.acquire())
            await asyncio.wait({acquire, stopper}, return_when="FIRST_COMPLETED")
            if not acquire.done():
                acquire.cancel()
                return 0
            keeper = asyncio.ensure_future(elector.keep(lost))

        async def until_stopped() -> None:
            await asyncio.wait(
                {asyncio.ensure_future(lost.wait()), asyncio.ensure_future(stop.wait())},
                return_when="FIRST_COMPLETED",
            )

        settings = kopf.OperatorSettings()
        if options.namespace:
            # Namespaced: no cluster-wide reads at all (kopf would list namespaces and CRDs);
            # the kinds served at start are the ones watched (docs/operator.md).
            settings.scanning.disabled = True
        kopf_stop = asyncio.Event()
        relay = asyncio.ensure_future(until_stopped())
        relay.add_done_callback(lambda _: kopf_stop.set())
        await kopf.operator(
            identity=identity,  # type: ignore[arg-type]  # kopf's NewType of str
            settings=settings,
            standalone=True,  # leadership is the Lease's business, not kopf's peering
            clusterwide=not options.namespace,
            namespaces=options.namespace,
            ready_flag=health.kopf_ready,
            stop_flag=kopf_stop,
        )
        relay.cancel()
        return 1 if lost.is_set() else 0
    finally:
        stopper.cancel()
        if keeper is not None:
            keeper.cancel()
        if elector is not None:
            await elector.release()
        if lease_kube is not None:
            await lease_kube.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    start_http_server(options.metrics_port, registry=metrics.REGISTRY)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    import signal

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(asyncio.run(run(options, stop)))


if __name__ == "__main__":
    main()
