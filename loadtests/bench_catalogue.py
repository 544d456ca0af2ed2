"""Benchmark: catalogue reads as a ratio of the framework's ceiling, measured in the same run.

1. Loads a deterministic catalogue (50 published public markets × 2,000 products, about 90 %
   published, 20 leaf categories) into its own PostgreSQL database with COPY.
2. Starts the ceiling (`loadtests/ceiling_app.py`: bare Starlette answering pre-rendered bytes
   of the same size, one uvicorn process) and ASOUD (`asoud serve`, one process each with the
   cache on and off; JSON logs, metrics on their port, rate limits on with limits raised by
   configuration).
3. Drives each with wrk (one thread, 16 connections) for several interleaved rounds and
   prints req/s, p50, p99 and ASOUD's req/s as a ratio of the ceiling's for the same body
   size. A figure with any non-2xx answer is marked INVALID.

    python loadtests/bench_catalogue.py [--seconds 10] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from benchlib import bench_environment, drive_wrk, free_port, running_server
from rich.progress import Progress

from asoud.identity.models import User
from asoud.identity.tokens import start_session
from asoud.markets.models import Market, MarketStatus, MarketType
from asoud.platform import database
from asoud.platform.settings import load_settings
from asoud.runtime import Platform
from asoud.taxonomy.models import Category

MARKETS, PRODUCTS_PER_MARKET, LEAVES = 50, 2_000, 20
PUBLISHED_SHARE = 0.9
ZIPF_S = 1.1
MIX_PATHS = 200_000  # the Zipf mix's request sequence, replayed in order by wrk
SEED = 20261202

ADJECTIVES = [
    "Classic", "Handmade", "Organic", "Vintage", "Premium", "Compact", "Wireless", "Leather",
    "Ceramic", "Wooden", "Silk", "Cotton", "Steel", "Golden", "Persian", "Herbal", "Smart",
]  # fmt: skip
NOUNS = [
    "tea set", "saffron pack", "carpet", "notebook", "lamp", "scarf", "backpack", "kettle",
    "headphones", "vase", "pistachio box", "mug", "jacket", "wallet", "cutting board",
    "phone case", "candle", "rug", "watch", "sandals", "bookshelf", "honey jar",
]  # fmt: skip
DESCRIPTION = (
    "Carefully made and checked before shipping. Ships within two working days; returns "
    "accepted within seven days of delivery."
)


async def load_catalogue(env: dict[str, str]) -> dict[str, Any]:
    """Markets through the ORM (50 rows), products by COPY (100,000 rows), a buyer's token."""
    settings = load_settings(environ=env)
    orm = await database.init_database(settings)
    platform = Platform.create(settings)
    rng = random.Random(SEED)
    try:
        group = await Category.create(slug="bench", level=1, names={"en": "Bench"})
        leaves = []
        for c in range(4):
            parent = await Category.create(
                slug=f"bench-{c}", level=2, names={"en": f"Bench {c}"}, parent=group
            )
            for leaf in range(LEAVES // 4):
                leaves.append(
                    await Category.create(
                        slug=f"bench-{c}-{leaf}",
                        level=3,
                        names={"en": f"Bench {c}.{leaf}"},
                        parent=parent,
                        subscription_fee=Decimal(0),
                    )
                )
        owner = await User.create(phone="+989129990000")
        markets = [
            await Market.create(
                owner=owner,
                type=MarketType.shop,
                business_id=f"bench-market-{m:03d}",
                name=f"Bench market {m}",
                category=leaves[m % LEAVES],
                status=MarketStatus.published,
            )
            for m in range(MARKETS)
        ]
        buyer = await User.create(phone="+989120000001")
        token = (await start_session(platform, buyer)).access_token
    finally:
        await platform.http.aclose()
        await platform.redis.aclose()
        await database.close_database(orm)

    columns = [
        "id", "market_id", "kind", "name", "description", "price", "compare_at_price",
        "currency", "stock", "reserved", "status", "images", "keywords", "category_id",
        "translations", "search_text", "sales_count", "created_at", "updated_at",
    ]  # fmt: skip
    published: list[str] = []
    started = datetime.now(UTC) - timedelta(days=365)
    conn = await asyncpg.connect(database.asyncpg_dsn(settings.database_url))
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("loading products", total=MARKETS * PRODUCTS_PER_MARKET)
            for m, market in enumerate(markets):
                rows = []
                for p in range(PRODUCTS_PER_MARKET):
                    product_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {m}-{p}"
                    is_published = rng.random() < PUBLISHED_SHARE
                    if is_published:
                        published.append(str(product_id))
                    price = Decimal(round(rng.lognormvariate(13, 1.2), -3) + 1000)
                    created = started + timedelta(minutes=m * PRODUCTS_PER_MARKET + p)
                    rows.append(
                        (
                            product_id,
                            market.id,
                            "good",
                            name,
                            DESCRIPTION,
                            price,
                            None,
                            "IRT",
                            rng.randint(0, 500),
                            0,
                            "published" if is_published else "draft",
                            json.dumps([f"https://img.example/{product_id}.jpg"]),
                            json.dumps(name.lower().split()[:2]),
                            leaves[(m + p) % LEAVES].id,
                            "{}",
                            name.lower(),
                            rng.randint(0, 1000),
                            created,
                            created,
                        )
                    )
                await conn.copy_records_to_table("catalog_product", records=rows, columns=columns)
                progress.advance(task, len(rows))
        # as autovacuum would have by now (a 50-row table left unanalysed misleads the planner)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"markets": [str(m.id) for m in markets], "published": published, "token": token}


def zipf_sequence(items: list[str], count: int, rng: random.Random) -> list[str]:
    """``count`` draws from ``items`` with P(rank k) ∝ 1/k^s (the first item is the hottest)."""
    weights = itertools.accumulate(1 / (k**ZIPF_S) for k in range(1, len(items) + 1))
    cumulative = list(weights)
    total = cumulative[-1]
    return [items[bisect.bisect_left(cumulative, rng.random() * total)] for _ in range(count)]


def mix_paths(catalogue: dict[str, Any]) -> list[str]:
    rng = random.Random(SEED + 1)
    details = list(catalogue["published"])
    rng.shuffle(details)  # popularity unrelated to insertion order
    products = iter(zipf_sequence(details, MIX_PATHS, rng))
    pages = iter(zipf_sequence(list(catalogue["markets"]), MIX_PATHS, rng))
    return [
        f"/api/v1/products/{next(products)}"
        if rng.random() < 0.8
        else f"/api/v1/markets/{next(pages)}/products"
        for _ in range(MIX_PATHS)
    ]


@contextlib.asynccontextmanager
async def ceiling_server() -> AsyncIterator[str]:
    port = free_port()
    here = Path(__file__).parent
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "ceiling_app:app",
        "--app-dir",
        str(here),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--no-server-header",
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/bytes/10")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        await server.wait()


async def scrape(metrics_port: int) -> dict[str, float]:
    """The cache lookups counted by ASOUD's /metrics, by result."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("asoud_cache_requests_total{"):
            result = line.split('result="')[1].split('"')[0]
            counts[result] = counts.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


async def body_size(base: str, path: str, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.get(path, headers=headers)
        answer.raise_for_status()
        return len(answer.content)


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


async def main(seconds: float, rounds: int, connections: int) -> int:
    async with bench_environment() as env:
        began = time.perf_counter()
        catalogue = await load_catalogue(env)
        loaded = time.perf_counter() - began
        print(
            f"catalogue: {MARKETS} markets × {PRODUCTS_PER_MARKET} products "
            f"({len(catalogue['published'])} published) loaded in {loaded:.1f} s",
            flush=True,
        )
        # `asoud serve` as the README runs it: JSON logs (always), metrics on their own port,
        # rate limits on (raised by configuration in bench_environment).
        production_like: dict[str, str] = {}
        on_port, off_port = free_port(), free_port()
        market = catalogue["markets"][0]
        product = catalogue["published"][0]
        auth = {"Authorization": f"Bearer {catalogue['token']}"}
        paths = mix_paths(catalogue)
        async with (
            ceiling_server() as ceiling,
            running_server(env, **production_like, ASOUD_METRICS_PORT=str(on_port)) as cached,
            running_server(
                env,
                **production_like,
                ASOUD_METRICS_PORT=str(off_port),
                ASOUD_CACHE_ENABLED="false",
            ) as uncached,
        ):
            page_path = f"/api/v1/markets/{market}/products"
            detail_path = f"/api/v1/products/{product}"
            sizes = {
                "page": await body_size(cached, page_path, {}),
                "detail": await body_size(cached, detail_path, {}),
                "me": await body_size(cached, "/api/v1/me", auth),
            }
            # the mix's average body: a weighted blend of its two kinds
            sizes["mix"] = int(0.8 * sizes["detail"] + 0.2 * sizes["page"])
            workloads: list[tuple[str, str, str, dict[str, str], list[str] | None, str]] = [
                ("cached market page", cached, page_path, {}, None, "page"),
                ("cached product detail", cached, detail_path, {}, None, "detail"),
                ("Zipf mix, cache on", cached, "/", {}, paths, "mix"),
                ("uncached market page", uncached, page_path, {}, None, "page"),
                ("uncached product detail", uncached, detail_path, {}, None, "detail"),
                ("Zipf mix, cache off", uncached, "/", {}, paths, "mix"),
                ("GET /api/v1/me", cached, "/api/v1/me", auth, None, "me"),
            ]
            asoud_runs: dict[str, list[dict[str, float]]] = {w[0]: [] for w in workloads}
            ceiling_runs: dict[str, list[dict[str, float]]] = {w[0]: [] for w in workloads}
            hits: dict[str, float] = {}
            for base, path, headers, mix in ((w[1], w[2], w[3], w[4]) for w in workloads):
                await drive_wrk(base + path, headers, 2, connections, paths=mix)  # warm-up
            for round_number in range(1, rounds + 1):
                for label, base, path, headers, mix, size in workloads:
                    ceiling_url = f"{ceiling}/bytes/{sizes[size]}"
                    ceiling_runs[label].append(
                        await drive_wrk(ceiling_url, {}, seconds, connections)
                    )
                    before = await scrape(on_port) if label == "Zipf mix, cache on" else {}
                    asoud_runs[label].append(
                        await drive_wrk(base + path, headers, seconds, connections, paths=mix)
                    )
                    if before:
                        after = await scrape(on_port)
                        for result, value in after.items():
                            hits[result] = hits.get(result, 0) + value - before.get(result, 0)
                print(f"round {round_number}/{rounds} done", flush=True)

        print()
        print(
            f"ASOUD catalogue vs the same-run ceiling: one process each, wrk -t1 -c{connections}, "
            f"{seconds:.0f} s × {rounds} rounds (medians), {os.cpu_count()} cores shared"
        )
        print(
            f"{'workload':28} {'bytes':>6} {'ceiling r/s':>11} {'ASOUD r/s':>10} "
            f"{'ratio':>6} {'p50 ms':>7} {'p99 ms':>7}"
        )
        for label, *_rest, size in workloads:
            mine, top = summarise(asoud_runs[label]), summarise(ceiling_runs[label])
            ratio = mine["rps"] / top["rps"] if top["rps"] else 0.0
            verdict = "" if mine["errors"] == 0 else f"  INVALID: {mine['errors']:.0f} non-2xx"
            print(
                f"{label:28} {sizes[size]:>6} {top['rps']:>11.0f} {mine['rps']:>10.0f} "
                f"{ratio:>6.2f} {mine['p50_ms']:>7.2f} {mine['p99_ms']:>7.2f}{verdict}"
            )
        lookups = hits.get("hit", 0) + hits.get("miss", 0)
        if lookups:
            print(f"Zipf mix cache hit ratio: {hits.get('hit', 0) / lookups:.1%} of {lookups:.0f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.seconds, arguments.rounds, arguments.connections)))
