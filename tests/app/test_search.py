"""Search that finds: one spelling per letter on both sides, stems in English, Turkish and
Arabic, the last word as a prefix while people type, every word required, best match first."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asoud.catalog.search import normalise, words
from tests.support.market import GENEROUS_LIMITS, Actor, published_market, published_product


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS}


def test_one_spelling_per_letter_and_digit() -> None:
    # Arabic kaf and yeh, a zero-width non-joiner, Persian digits, upper case
    assert normalise("كتاب‌هاي ۱۲ Books") == normalise("کتابهای 12 books") == "کتابهای 12 books"
    assert normalise("مدرسة إسلامية") == "مدرسه اسلامیه"
    assert words("  saff!!  ") == ["saff"] and words("!!!") == []


@pytest.fixture
async def catalogue(client: httpx.AsyncClient, owner: Actor, staff: Actor) -> str:
    market = await published_market(client, owner, staff, "search-shop")
    for fields in (
        {"name": "Cotton threads", "description": "Strong threads for sewing"},
        {"name": "Silk thread spool", "description": "One spool"},
        {"name": "Saffron 4.6 g", "translations": {"fa": {"name": "زعفران ممتاز"}}},
        {"name": "Children's books", "translations": {"fa": {"name": "کتاب‌های کودک"}}},
        {"name": "Eski kitaplar", "description": "İkinci el"},
        {
            "name": "Notebook",
            "description": "Lined paper in a hard cover; the spine is sewn with one thread",
        },
    ):
        await published_product(client, owner, staff, market["id"], **fields)
    return str(market["id"])


async def _names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/v1/products", params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_stems_prefixes_and_persian_spellings_find_the_same_products(
    client: httpx.AsyncClient, catalogue: str
) -> None:
    # English stems: "thread" finds "threads", and the reverse
    assert set(await _names(client, q="thread")) == {
        "Cotton threads",
        "Silk thread spool",
        "Notebook",
    }
    assert "Silk thread spool" in await _names(client, q="threads")
    # the last word as a prefix while typing; every word must match
    assert await _names(client, q="saff") == ["Saffron 4.6 g"]
    assert await _names(client, q="cotton thr") == ["Cotton threads"]
    assert await _names(client, q="cotton saff") == []
    # Persian typed with Arabic letters and without the zero-width non-joiner
    assert await _names(client, q="كتابهاي") == ["Children's books"]
    assert await _names(client, q="كتاب‌های کودک") == ["Children's books"]
    assert await _names(client, q="زعفران") == ["Saffron 4.6 g"]
    # Turkish stems: "kitap" finds "kitaplar"
    assert await _names(client, q="kitap") == ["Eski kitaplar"]
    # nothing to search for is no match, not an error
    assert await _names(client, q="!!!") == []


async def test_results_come_best_match_first_and_page_in_that_order(
    client: httpx.AsyncClient, catalogue: str
) -> None:
    ranked = await _names(client, q="thread")
    # twice in the product over once in a long description
    assert ranked[0] == "Cotton threads" and ranked[-1] == "Notebook"
    first = await client.get("/api/v1/products", params={"q": "thread", "limit": 2})
    rest = await client.get(
        "/api/v1/products",
        params={"q": "thread", "limit": 2, "cursor": first.json()["next_cursor"]},
    )
    paged = [i["name"] for i in first.json()["items"] + rest.json()["items"]]
    assert paged == ranked and rest.json()["next_cursor"] is None
    # another order on request
    newest = await _names(client, q="thread", sort="newest")
    assert newest == ["Notebook", "Silk thread spool", "Cotton threads"]
    # in a market's own page too
    inside = await client.get(f"/api/v1/markets/{catalogue}/products", params={"q": "saff"})
    assert [i["name"] for i in inside.json()["items"]] == ["Saffron 4.6 g"]
