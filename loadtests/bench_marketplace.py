"""Benchmark: the product list with a warm cache and with the cache off, and checkout.

One uvicorn process against a throwaway PostgreSQL database with 1,000 published products in
20 markets; the product list is driven by wrk, checkout (add to cart + checkout, one cart per
buyer at a time) by concurrent Python clients, since every checkout needs a fresh cart. Usage:

    python loadtests/bench_marketplace.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from decimal import Decimal
from typing import Any

import httpx
from benchlib import (
    bench_environment,
    drive_python,
    drive_wrk,
    print_header,
    print_row,
    running_server,
)

from asoud.catalog.models import Product, ProductStatus
from asoud.demo import seed_taxonomy
from asoud.identity.models import User
from asoud.identity.tokens import start_session
from asoud.markets.models import Market, MarketStatus, MarketType
from asoud.platform import database
from asoud.platform.settings import load_settings
from asoud.runtime import Platform
from asoud.taxonomy.models import Category

MARKETS, PRODUCTS_PER_MARKET, BUYERS = 20, 50, 64


async def seed(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Markets, products and buyers with access tokens (directly through the services)."""
    settings = load_settings(environ=env)
    orm = await database.init_database(settings)
    platform = Platform.create(settings)
    try:
        await seed_taxonomy()
        leaf = await Category.get(slug="books-new")
        owner = await User.create(phone="+989129990000")
        product_ids = []
        for m in range(MARKETS):
            market = await Market.create(
                owner=owner,
                type=MarketType.shop,
                business_id=f"bench-market-{m:03d}",
                name=f"Bench market {m}",
                category=leaf,
                status=MarketStatus.published,
            )
            products = [
                Product(
                    market=market,
                    name=f"Book {m}-{p}",
                    price=Decimal(10_000 + p * 100),
                    currency="IRT",
                    stock=1_000_000,
                    status=ProductStatus.published,
                    keywords=["bench"],
                    search_text=f"book bench {m} {p}",
                )
                for p in range(PRODUCTS_PER_MARKET)
            ]
            await Product.bulk_create(products)
            product_ids += [str(p.id) for p in await Product.filter(market=market).limit(5)]
        tokens = []
        for b in range(BUYERS):
            buyer = await User.create(phone=f"+98912{b:07d}")
            tokens.append((await start_session(platform, buyer)).access_token)
        return product_ids, tokens
    finally:
        await platform.http.aclose()
        await platform.redis.aclose()
        await database.close_database(orm)


async def main(seconds: float, concurrency: int) -> int:
    async with bench_environment() as env:
        product_ids, tokens = await seed(env)
        title = (
            f"ASOUD marketplace benchmark: {MARKETS * PRODUCTS_PER_MARKET} products, "
            f"{seconds:.0f} s per scenario, {concurrency} connections, one uvicorn process, "
            f"PostgreSQL + Redis on loopback, {os.cpu_count()} cores shared with the load generator"
        )
        print_header(title)
        list_url = "/api/v1/products?limit=20&sort=price_asc"
        for label, extra in [
            ("GET /api/v1/products (warm cache)", {}),
            ("GET /api/v1/products (cache off)", {"ASOUD_CACHE_ENABLED": "false"}),
        ]:
            async with running_server(env, **extra) as base:
                await drive_wrk(base + list_url, {}, min(2.0, seconds), concurrency)  # warm-up
                print_row(label, await drive_wrk(base + list_url, {}, seconds, concurrency))

        async with running_server(env) as base:
            market_id = (
                await httpx.AsyncClient(base_url=base).get(f"/api/v1/products/{product_ids[0]}")
            ).json()["market_id"]

            async def add_and_checkout(http: httpx.AsyncClient, index: int) -> bool:
                auth = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
                added = await http.post(
                    "/api/v1/cart/items",
                    headers=auth,
                    json={"product_id": product_ids[index % 5], "quantity": 1},
                )
                if added.status_code != 201:
                    return False
                order = await http.post(
                    "/api/v1/checkout", headers=auth, json={"market_id": market_id}
                )
                return order.status_code == 201

            workers = min(concurrency, len(tokens))
            await drive_python(add_and_checkout, base, min(2.0, seconds), workers)  # warm-up
            result: dict[str, Any] = await drive_python(add_and_checkout, base, seconds, workers)
            print_row("add to cart + POST /api/v1/checkout", result)
            print(f"(checkouts/s = {result['rps']:.0f}; each figure covers both requests)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.seconds, arguments.concurrency)))
