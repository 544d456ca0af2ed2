"""Benchmark: catalogue search on 100,000 products, in English and Persian.

The catalogue of bench_catalogue.py (50 markets × 2,000 products), each product also named in
Persian; one `asoud serve` process with the cache off (every search runs its query), driven by
wrk (one thread, 16 connections, 10 s per kind) replaying five different queries of each kind:
single words, prefixes as people type them, two-word queries. Prints req/s and p50/p99 per
kind against the latency SLO (p95 < 200 ms). Usage:

    python loadtests/bench_search.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any
from urllib.parse import quote

import asyncpg
from bench_catalogue import ADJECTIVES, NOUNS, load_catalogue
from benchlib import bench_environment, drive_wrk, print_header, print_row, running_server

from asoud.catalog.search import normalise
from asoud.platform import database
from asoud.platform.settings import load_settings

PERSIAN_ADJECTIVES = dict(
    zip(
        ADJECTIVES,
        [
            "کلاسیک", "دست‌ساز", "ارگانیک", "قدیمی", "ممتاز", "جمع‌وجور", "بی‌سیم", "چرمی",
            "سرامیکی", "چوبی", "ابریشمی", "نخی", "فولادی", "طلایی", "ایرانی", "گیاهی", "هوشمند",
        ],
        strict=True,
    )
)  # fmt: skip
PERSIAN_NOUNS = dict(
    zip(
        NOUNS,
        [
            "سرویس چای", "بسته زعفران", "فرش", "دفترچه", "چراغ", "روسری", "کوله‌پشتی", "کتری",
            "هدفون", "گلدان", "جعبه پسته", "لیوان", "کاپشن", "کیف پول", "تخته برش", "قاب گوشی",
            "شمع", "گلیم", "ساعت", "صندل", "قفسه کتاب", "ظرف عسل",
        ],
        strict=True,
    )
)  # fmt: skip
QUERIES = {
    "English word": ["carpet", "lamp", "kettle", "scarf", "vase"],
    "English prefix": ["carp", "kett", "headph", "pist", "sand"],
    "English two words": ["silk scarf", "wooden bookshelf", "golden watch", "leather wallet",
                          "herbal tea"],
    "Persian word": ["فرش", "چراغ", "کتری", "شمع", "گلدان"],
    "Persian prefix": ["زعفر", "هدفو", "کتر", "صند", "گلدا"],
    # the last typed with Arabic kaf and yeh, as an Arabic keyboard gives them
    "Persian two words": ["فرش ایرانی", "شمع گیاهی", "ساعت طلایی", "روسری ابریشمی",
                          "كتري فولادي"],
}  # fmt: skip


async def add_persian_names(env: dict[str, str]) -> float:
    """Every product gets its Persian name (translation and search text): one UPDATE per
    adjective-noun pair, the search vector rebuilt by the trigger."""
    settings = load_settings(environ=env)
    conn = await asyncpg.connect(database.asyncpg_dsn(settings.database_url))
    began = time.perf_counter()
    try:
        for adjective, adjective_fa in PERSIAN_ADJECTIVES.items():
            for noun, noun_fa in PERSIAN_NOUNS.items():
                name_fa = f"{noun_fa} {adjective_fa}"
                await conn.execute(
                    "UPDATE catalog_product SET translations = jsonb_build_object('fa', "
                    "jsonb_build_object('name', $1::text, 'description', '')), "
                    "search_text = search_text || ' ' || $2 WHERE name LIKE $3",
                    name_fa,
                    normalise(name_fa),
                    f"{adjective} {noun} %",
                )
        await conn.execute("ANALYZE catalog_product")
    finally:
        await conn.close()
    return time.perf_counter() - began


async def main(seconds: float, connections: int) -> int:
    async with bench_environment() as env:
        catalogue = await load_catalogue(env)
        took = await add_persian_names(env)
        print(
            f"catalogue: {len(catalogue['published'])} published products, Persian names added "
            f"in {took:.1f} s",
            flush=True,
        )
        async with running_server(env, ASOUD_CACHE_ENABLED="false") as base:
            print_header(
                f"search on 100,000 products, cache off, wrk -t1 -c{connections}, "
                f"{seconds:.0f} s per kind (SLO: p95 < 200 ms)"
            )
            found: dict[str, Any] = {}
            for label, queries in QUERIES.items():
                paths = [f"/api/v1/products?q={quote(q)}&limit=20" for q in queries]
                await drive_wrk(base, {}, 2, connections, paths=paths)  # warm-up
                result = await drive_wrk(base, {}, seconds, connections, paths=paths)
                print_row(label, result)
                found[label] = result
            bad = [label for label, r in found.items() if r["errors"]]
            if bad:
                print(f"non-2xx answers in: {', '.join(bad)} (those figures do not count)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.seconds, arguments.connections)))
