"""`asoud-operator`: run the operator (metrics on :9090/metrics, liveness on :8080/healthz)."""

from __future__ import annotations

import argparse
import os

import kopf
from prometheus_client import start_http_server

from asoud_operator import handlers, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespace", action="append", default=[], help="watch only these")
    parser.add_argument(
        "--metrics-port", type=int, default=int(os.environ.get("METRICS_PORT", "9090"))
    )
    parser.add_argument("--liveness", default="http://0.0.0.0:8080/healthz")
    args = parser.parse_args()
    assert handlers.RESOURCE  # the handlers are registered on import
    start_http_server(args.metrics_port, registry=metrics.REGISTRY)
    kopf.run(
        standalone=True,  # one replica (Recreate): no peering objects needed
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )


if __name__ == "__main__":
    main()
