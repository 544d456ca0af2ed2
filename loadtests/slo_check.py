"""Load test with an SLO verdict: the whole stack on this machine, Locust for a bounded time,
then every SLO computed by PromQL from a real Prometheus beside Locust's own percentiles.

Starts: a throwaway PostgreSQL database and Redis prefix, the fake Zarinpal, `asoud serve`,
`asoud worker`, and `prometheus` (Debian package) scraping the API every 2 s with the generated
SLO rules loaded. Then `locust --headless` drives the journeys in locustfile.py. Loopback only.
Exits 1 when an SLO is missed. Usage:

    python loadtests/slo_check.py [--users 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_marketplace import seed
from benchlib import bench_environment, free_port, running_server
from tests.support.fake_gateways import FakeZarinpal
from tests.support.servers import serve

from asoud.identity.models import User
from asoud.identity.tokens import start_session
from asoud.markets.models import Market
from asoud.observability.rules import rule_groups
from asoud.platform import database
from asoud.platform.settings import load_settings
from asoud.runtime import Platform

PROBES = 'route!~"/livez|/readyz|/metrics"'
# The API and worker start fresh for each run, so their counters are the run's totals.
# PromQL over those totals rather than rate() over the run: rate() loses the increase of a
# series born during the run (before its first scrape), which hid a burst of 5xx at start-up.
SLOS = [
    # name, PromQL, objective, comparison
    (
        "p95 latency (s)",
        f"histogram_quantile(0.95, sum by (le) (asoud_http_request_duration_seconds_bucket{{{PROBES}}}))",
        0.2,
        "<=",
    ),
    (
        "error rate",
        f'(sum(asoud_http_requests_total{{status="5xx",{PROBES}}}) or vector(0)) / sum(asoud_http_requests_total{{{PROBES}}})',
        0.001,
        "<=",
    ),
    (
        "requests with <= 10 queries",
        'sum(asoud_db_queries_per_request_bucket{le="10.0"}) / sum(asoud_db_queries_per_request_count)',
        0.99,
        ">=",
    ),
    (
        "cache hit ratio",
        'sum(asoud_cache_requests_total{cache=~"catalog-list|product",result="hit"}) / sum(asoud_cache_requests_total{cache=~"catalog-list|product"})',
        0.85,
        ">=",
    ),
    (
        "payment success",
        'sum(asoud_payments_total{result="succeeded"}) / sum(asoud_payments_total{result=~"succeeded|failed"})',
        0.98,
        ">=",
    ),
]


async def owner_token(env: dict[str, str]) -> tuple[str, str]:
    settings = load_settings(environ=env)
    orm = await database.init_database(settings)
    platform = Platform.create(settings)
    try:
        market = await Market.filter(business_id="bench-market-000").first()
        assert market is not None
        owner = await User.get(id=market.owner_id)
        return str(market.id), (await start_session(platform, owner)).access_token
    finally:
        await platform.close()
        await database.close_database(orm)


async def query(prometheus: str, promql: str) -> float | None:
    async with httpx.AsyncClient() as http:
        answer = (await http.get(f"{prometheus}/api/v1/query", params={"query": promql})).json()
    result = answer.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


async def query_vector(prometheus: str, promql: str) -> dict[str, float]:
    """An instant PromQL vector as {route: value}."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{prometheus}/api/v1/query", params={"query": promql})
    return {
        row["metric"].get("route", ""): float(row["value"][1])
        for row in answer.json()["data"]["result"]
        if row["value"][1] not in ("NaN", "+Inf")
    }


async def main(users: int, seconds: int) -> int:
    if not shutil.which("prometheus") or not shutil.which(
        "locust", path=str(Path(sys.executable).parent)
    ):
        print("needs the Debian package 'prometheus' and the Python package 'locust'")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="asoud-slo-"))
    fake = FakeZarinpal()
    async with bench_environment() as env:
        product_ids, tokens = await seed(env)
        with serve(fake.app()) as zarinpal:
            env = {
                **env,
                "ASOUD_ZARINPAL_API_URL": zarinpal,
                "ASOUD_ZARINPAL_MERCHANT_ID": fake.merchant_id,
                "ASOUD_ZARINPAL_STARTPAY_URL": f"{zarinpal}/pg/StartPay/",
                "ASOUD_PUBLIC_BASE_URL": "http://127.0.0.1",
            }
            market_id, owner = await owner_token(env)
            async with running_server(env) as base:
                worker_metrics = free_port()
                worker = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "asoud",
                    "worker",
                    env={**os.environ, **env, "ASOUD_METRICS_PORT": str(worker_metrics)},
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                (workdir / "rules.yml").write_text(yaml.safe_dump(rule_groups()))
                (workdir / "prometheus.yml").write_text(
                    yaml.safe_dump(
                        {
                            "global": {"scrape_interval": "2s", "evaluation_interval": "5s"},
                            "rule_files": [str(workdir / "rules.yml")],
                            "scrape_configs": [
                                {
                                    "job_name": "asoud-api",
                                    "static_configs": [{"targets": [base.removeprefix("http://")]}],
                                },
                                {
                                    "job_name": "asoud-worker",
                                    "static_configs": [
                                        {"targets": [f"127.0.0.1:{worker_metrics}"]}
                                    ],
                                },
                            ],
                        }
                    )
                )
                prometheus_port = free_port()
                prometheus = await asyncio.create_subprocess_exec(
                    "prometheus",
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                prom_url = f"http://127.0.0.1:{prometheus_port}"
                try:
                    await asyncio.sleep(5)  # first scrapes before the load starts
                    started = time.time()
                    locust = await asyncio.create_subprocess_exec(
                        str(Path(sys.executable).parent / "locust"),
                        "-f",
                        str(Path(__file__).with_name("locustfile.py")),
                        "--headless",
                        "-u",
                        str(users),
                        "-r",
                        str(max(1, users // 5)),
                        "-t",
                        f"{seconds}s",
                        "--host",
                        base,
                        "--csv",
                        str(workdir / "locust"),
                        "--only-summary",
                        env={
                            **os.environ,
                            "ASOUD_LOAD_PRODUCTS": json.dumps(product_ids),
                            "ASOUD_LOAD_MARKET": market_id,
                            "ASOUD_LOAD_MARKET_PRODUCTS": json.dumps(
                                product_ids[:5]
                            ),  # market 000's
                            "ASOUD_LOAD_BUYERS": json.dumps(tokens),
                            "ASOUD_LOAD_OWNER": owner,
                        },
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                    await locust.wait()
                    await asyncio.sleep(5)  # the last scrape after the load
                    window = f"{int(time.time() - started)}s"
                    with (workdir / "locust_stats.csv").open() as handle:
                        rows = list(csv.DictReader(handle))
                    total = next(row for row in rows if row["Name"] == "Aggregated")
                    checkouts = sum(
                        int(row["Request Count"])
                        for row in rows
                        if row["Name"] == "/api/v1/checkout"
                    )
                    print(
                        f"Locust: {users} users for {seconds} s against one API process and one worker, "
                        f"{os.cpu_count()} cores shared with PostgreSQL, Redis, Prometheus and Locust"
                    )
                    print(
                        f"  {float(total['Requests/s']):.0f} req/s, {total['Request Count']} requests, "
                        f"{total['Failure Count']} failures, p50 {total['50%']} ms, p95 {total['95%']} ms, "
                        f"p99 {total['99%']} ms"
                    )
                    if checkouts:
                        every = int(total["Request Count"]) / checkouts
                        print(f"  {checkouts} checkouts: one order per {every:.0f} requests")
                    print(f"SLOs computed by Prometheus from the run's totals ({window}):")
                    missed = 0
                    for name, promql, objective, comparison in SLOS:
                        value = await query(prom_url, promql)
                        ok = value is not None and (
                            value <= objective if comparison == "<=" else value >= objective
                        )
                        missed += not ok
                        shown = "no data" if value is None else f"{value:.4f}"
                        print(
                            f"  {'OK  ' if ok else 'MISS'} {name:30} {shown:>10}  (objective {comparison} {objective})"
                        )
                    succeeded = await query(
                        prom_url,
                        'sum(asoud_tasks_total{result="success"})',
                    )
                    failed = await query(
                        prom_url,
                        'sum(asoud_tasks_total{result=~"retry|dead"})',
                    )
                    wait = await query(
                        prom_url,
                        "histogram_quantile(0.95, sum by (le) (asoud_task_wait_seconds_bucket))",
                    )
                    print(
                        f"Worker (scraped from its own /metrics): {succeeded or 0:.0f} tasks succeeded, "
                        f"{failed or 0:.0f} retried or dead, p95 queue wait "
                        + ("n/a" if wait is None or wait != wait else f"{wait * 1000:.0f} ms")
                    )
                    print("Routes over the query budget (mean SQL statements, share above 10):")
                    over = await query_vector(
                        prom_url,
                        "sum by (route) (asoud_db_queries_per_request_sum)"
                        " / sum by (route) (asoud_db_queries_per_request_count)",
                    )
                    for route, mean in sorted(over.items(), key=lambda item: -item[1]):
                        if mean > 5:
                            print(f"  {route:45} {mean:5.1f}")
                    return 1 if missed else 0
                finally:
                    for process in (prometheus, worker):
                        process.send_signal(signal.SIGTERM)
                        await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.users, arguments.seconds)))
