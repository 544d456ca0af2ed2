"""Benchmark: the product list with a warm cache and with the cache off, and checkout.

One uvicorn process against a throwaway PostgreSQL database with 1,000 published products in
20 markets, all driven by wrk. Checkout is a journey (add to cart, then check out that cart):
each wrk thread owns one connection and replays its buyers' journeys in order, so a checkout
always follows its own add. Two shapes: buyers spread over 100 products in 20 markets, and every
buyer on the same 5 products of one market (the stock rows' locks serialise those holds). Usage:

    python loadtests/bench_marketplace.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from decimal import Decimal
from typing import Any

from benchlib import (
    bench_environment,
    drive_wrk,
    drive_wrk_threads,
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

MARKETS, PRODUCTS_PER_MARKET, BUYERS_PER_CONNECTION = 20, 50, 8


async def seed(env: dict[str, str], buyers: int) -> tuple[list[tuple[str, str]], list[str]]:
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
            product_ids += [
                (str(p.id), str(market.id))
                for p in await Product.filter(market=market).order_by("id").limit(5)
            ]
        tokens = []
        for b in range(buyers):
            buyer = await User.create(phone=f"+98912{b:07d}")
            tokens.append((await start_session(platform, buyer)).access_token)
        return product_ids, tokens
    finally:
        await platform.http.aclose()
        await platform.redis.aclose()
        await database.close_database(orm)


# Per wrk thread (= connection): its buyers take turns; each journey adds one product and
# checks that cart out, moving through the products so no buyer piles up open orders in one
# market (the hold caps would refuse them).
JOURNEYS = """
tokens, products = {%s}, {%s}
per_connection = %d
setup = function(thread)
  thread_count = (thread_count or 0) + 1
  thread:set("first_buyer", (thread_count - 1) * per_connection)
end
init = function(args) sent = 0 end
request = function()
  -- wrk calls the first thread's request() once to check it and never sends that request:
  -- that call must not move the journey on
  if first_buyer == 0 and not checked then
    checked = true
    return wrk.format("GET", "/livez")
  end
  local journey = math.floor(sent / 2)
  local buyer = first_buyer + journey %% per_connection
  local turn = math.floor(journey / per_connection)
  local product = products[(buyer * 7 + turn) %% #products + 1]
  local headers = {["Authorization"] = "Bearer " .. tokens[buyer + 1],
                   ["Content-Type"] = "application/json"}
  sent = sent + 1
  if sent %% 2 == 1 then
    return wrk.format("POST", "/api/v1/cart/items", headers,
      '{"product_id": "' .. product[1] .. '", "quantity": 1}')
  end
  return wrk.format("POST", "/api/v1/checkout", headers, '{"market_id": "' .. product[2] .. '"}')
end
"""


def journeys(products: list[tuple[str, str]], tokens: list[str]) -> str:
    return JOURNEYS % (
        ",".join(f'"{t}"' for t in tokens),
        ",".join(f'{{"{p}","{m}"}}' for p, m in products),
        BUYERS_PER_CONNECTION,
    )


async def main(seconds: float, concurrency: int) -> int:
    async with bench_environment() as env:
        products, tokens = await seed(env, concurrency * BUYERS_PER_CONNECTION)
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
            for label, shape in [
                ("add + checkout, 100 products", products),
                ("add + checkout, 5 products of 1 market", products[:5]),
            ]:
                script = journeys(shape, tokens)
                await drive_wrk_threads(base, script, concurrency, min(2.0, seconds))  # warm-up
                # a checkout wrk left in flight would otherwise take a cart the next run fills
                await asyncio.sleep(1)
                result: dict[str, Any] = await drive_wrk_threads(base, script, concurrency, seconds)
                print_row(label, result)
                print(f"  = {result['rps'] / 2:.0f} checkouts/s (each a cart add + a checkout)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.seconds, arguments.concurrency)))
