"""Catalogue rules: products, staff publication, listing with filters, search and caching."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic_core
from tortoise.contrib.postgres.search import SearchRank
from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from asoud.catalog import cache as catalog_cache
from asoud.catalog import search
from asoud.catalog.models import Product, ProductKind, ProductStatus
from asoud.catalog.schemas import (
    ProductCreate,
    ProductListQuery,
    ProductOwnerView,
    ProductPage,
    ProductPatch,
    ProductPublic,
)
from asoud.identity.models import User
from asoud.markets.access import visible_markets_filter
from asoud.markets.models import Market, MarketStatus, Visibility
from asoud.platform import pagination
from asoud.platform.cache import CACHE_REQUESTS
from asoud.platform.database import fetch_sql, on_postgres, save_changes
from asoud.platform.errors import Conflict, NotFound, field_error, uuid_or_404
from asoud.platform.i18n import DEFAULT_LANGUAGE
from asoud.platform.local_cache import Entry
from asoud.platform.money import check_amount_precision, quantize
from asoud.platform.pagination import cursor_value, decode_cursor, encode_cursor
from asoud.runtime import Platform
from asoud.taxonomy.models import Category

# Edits that change what the product *is* send it back to staff; price and stock do not.
CONTENT_FIELDS = {
    "name",
    "description",
    "images",
    "keywords",
    "category_id",
    "translations",
    "kind",
}
# The fields search_text is made of.
SEARCHED_FIELDS = {"name", "description", "keywords", "translations"}


def _search_text(product: Product) -> str:
    """What search indexes, normalised as queries are (catalog.search)."""
    parts = [product.name, product.description, *product.keywords]
    for translation in product.translations.values():
        parts += [translation.get("name", ""), translation.get("description", "")]
    return search.normalise(" ".join(part for part in parts if part))


def localise(product: Product | ProductRow, language: str) -> tuple[str, str]:
    translation = product.translations.get(language)
    if translation and language != DEFAULT_LANGUAGE:
        return translation["name"], translation.get("description") or product.description
    return product.name, product.description


def public_view(product: Product, language: str) -> ProductPublic:
    return ProductPublic.model_validate(_public_item(product, language))


def owner_view(product: Product, language: str) -> ProductOwnerView:
    return ProductOwnerView(
        **public_view(product, language).model_dump(),
        status=product.status,
        stock=product.stock,
        reserved=product.reserved,
        sales_count=product.sales_count,
        translations=product.translations,
        updated_at=product.updated_at,
    )


async def _check(data: dict[str, Any], currency: str) -> None:
    for name in ("price", "compare_at_price"):
        if data.get(name) is not None:
            try:
                check_amount_precision(data[name], currency)
            except ValueError:
                raise field_error(f"body.{name}", "too_many_decimals") from None
    if data.get("category_id") is not None and not await Category.exists(id=data["category_id"]):
        raise field_error("body.category_id", "unknown_category")


def _compare_at_above_price(price: Decimal, compare_at: Decimal | None) -> None:
    """A "was" price shown struck through must be higher than the price, or it misleads."""
    if compare_at is not None and compare_at <= price:
        raise field_error("body.compare_at_price", "compare_at_not_above_price")


async def create_product(platform: Platform, market: Market, data: ProductCreate) -> Product:
    values = data.model_dump(exclude_none=True, mode="python")
    await _check(values, market.currency)
    _compare_at_above_price(values["price"], values.get("compare_at_price"))
    if "translations" in values:
        values["translations"] = data.model_dump(mode="json")["translations"]
    product = Product(market_id=market.id, currency=market.currency, **values)
    product.search_text = _search_text(product)
    await product.save()
    return product  # drafts are invisible to customers: no cache to invalidate


async def update_product(platform: Platform, product: Product, patch: ProductPatch) -> Product:
    """Apply an owner's edit to the product row as it is now, writing only what changed.

    The row is locked and re-read: the rules below (archived, back to staff) look at its
    current status, and the stock/reserved/sales counters that checkouts move concurrently are
    never written from a stale read."""
    changes = patch.model_dump(exclude_unset=True, mode="python")
    await _check(changes, product.currency)
    if "translations" in changes:
        changes["translations"] = patch.model_dump(mode="json", exclude_unset=True)["translations"]
    async with in_transaction():
        product = await Product.filter(id=product.id).select_for_update().get()
        _compare_at_above_price(
            changes.get("price", product.price),
            changes.get("compare_at_price", product.compare_at_price),
        )
        if product.status is ProductStatus.archived and changes.get("status") != "draft":
            raise Conflict(
                "transition_not_allowed", entity="product", current="archived", action="edited"
            )
        if "stock" in changes and changes["stock"] < product.reserved:
            # Units held by open orders cannot disappear: accepting them would go negative.
            raise Conflict(
                "stock_below_reserved",
                reserved=product.reserved,
                extra={"reserved": product.reserved},
            )
        if product.status is ProductStatus.published and CONTENT_FIELDS & changes.keys():
            changes["status"] = ProductStatus.draft  # back to staff for publication
        if SEARCHED_FIELDS & changes.keys():
            for name in SEARCHED_FIELDS & changes.keys():
                setattr(product, name, changes[name])
            changes["search_text"] = _search_text(product)
        await save_changes(product, changes)
    await catalog_cache.invalidate(platform, [str(product.market_id)], [str(product.id)])
    return product


async def set_publication(platform: Platform, product: Product, publish: bool) -> Product:
    """Staff: publish a draft, or withdraw a published product."""
    source, target = (
        (ProductStatus.draft, ProductStatus.published)
        if publish
        else (ProductStatus.published, ProductStatus.draft)
    )
    updated = await Product.filter(id=product.id, status=source).update(status=target)
    if not updated:
        raise Conflict(
            "transition_not_allowed",
            entity="product",
            current=product.status.value,
            action="published" if publish else "withdrawn",
        )
    await product.refresh_from_db()
    await catalog_cache.invalidate(platform, [str(product.market_id)], [str(product.id)])
    return product


RANKED_MATCHES = 500
_ORDERINGS: dict[str, tuple[str, str, bool, Callable[[Any], Any]]] = {
    # sort -> (column, direction, descending, parser of the cursor value)
    "newest": ("created_at", "-", True, pagination.timestamp),
    "price_asc": ("price", "", False, pagination.decimal_value),
    "price_desc": ("price", "-", True, pagination.decimal_value),
    "popular": ("sales_count", "-", True, pagination.int4),
    # the search's rank (an annotation; on SQLite the same order as newest)
    "relevance": ("rank", "-", True, float),
}


def _apply_filters(qs: QuerySet[Product], query: ProductListQuery) -> QuerySet[Product]:
    if query.category_id is not None:
        qs = qs.filter(category_id=query.category_id)
    if query.min_price is not None:
        qs = qs.filter(price__gte=query.min_price)
    if query.max_price is not None:
        qs = qs.filter(price__lte=query.max_price)
    if query.in_stock:
        qs = qs.filter(stock__gt=F("reserved"))
    if query.q:
        if on_postgres():
            wanted = search.text_query(query.q)
            if wanted is None:  # nothing but punctuation: nothing matches
                return qs.filter(id__isnull=True)
            if query.ordering() == "relevance":
                # Ranked among the newest RANKED_MATCHES matches: a one-word query can match
                # thousands of products, and ranking them all cost ~28 ms of PostgreSQL per
                # query (bench_search). Cover density divided by 1 + log(length): a match in
                # a short product (its name) ranks above one lost in a long description.
                newest_matches = (
                    Product.filter(status=ProductStatus.published, search_vector__search=wanted)
                    .order_by("-created_at")
                    .limit(RANKED_MATCHES)
                    .values("id")
                )
                qs = qs.filter(id__in=Subquery(newest_matches)).annotate(
                    rank=SearchRank(F("search_vector"), wanted, normalization=1, cover_density=True)
                )
            else:
                qs = qs.filter(search_vector__search=wanted)
        else:  # the embedded SQLite mode: every normalised word as a substring, no stemming
            for word in search.words(query.q) or [query.q]:
                qs = qs.filter(search_text__icontains=word)
    return qs


async def list_products(
    qs: QuerySet[Product], query: ProductListQuery
) -> tuple[list[Product], str | None]:
    """One query whatever the page size: filters, keyset cursor, limit + 1 to see if more."""
    ordering = query.ordering()
    if ordering == "relevance" and not (on_postgres() and search.words(query.q or "")):
        ordering = "newest"  # nothing ranked: no words, or the embedded SQLite
    column, direction, descending, parse = _ORDERINGS[ordering]
    qs = _apply_filters(qs, query)
    if query.cursor:
        raw_value, raw_id = decode_cursor(query.cursor, 2)
        value, last_id = cursor_value(raw_value, parse), cursor_value(raw_id, pagination.uuid_value)
        after = "lt" if descending else "gt"
        qs = qs.filter(
            Q(**{f"{column}__{after}": value}) | Q(**{column: value, f"id__{after}": last_id})
        )
    rows = await qs.order_by(f"{direction}{column}", f"{direction}id").limit(query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = None
    if more:
        last = rows[-1]
        value = getattr(last, column)
        cursor = encode_cursor(
            [value.isoformat() if hasattr(value, "isoformat") else str(value), str(last.id)]
        )
    return rows, cursor


def published_in_visible_markets(user: User | None) -> QuerySet[Product]:
    return Product.filter(
        status=ProductStatus.published,
        market_id__in=Subquery(Market.filter(visible_markets_filter(user)).values("id")),
    )


async def cached_page(
    platform: Platform, scope: str, params: dict[str, Any], load: Callable[[], Awaitable[bytes]]
) -> bytes:
    """A rendered list page, from Redis under the scope's current generation, or loaded."""
    generation = await catalog_cache.generation(
        platform, scope, popular=params.get("sort") == "popular"
    )
    if generation is None:  # the cache cannot be trusted right now: PostgreSQL answers
        return await load()
    key = catalog_cache.list_key(scope, generation, params)
    page = await platform.cache.get_bytes(catalog_cache.LIST_CACHE, key)
    if page is None:
        page = await load()
        await platform.cache.set_bytes(
            catalog_cache.LIST_CACHE, key, page, catalog_cache.TTL_SECONDS
        )
    return page


def _from_memory(platform: Platform, key: str, cache: str) -> Entry | None:
    """An anonymous answer this process rendered before and still knows to be current."""
    hit = catalog_cache.local(platform).get(key)
    if hit is not None:
        CACHE_REQUESTS.labels(cache, "hit").inc()
    return hit


def _page_key(market_id: uuid.UUID, raw_query: str, language: str) -> str:
    return f"page:{market_id}:{language}:{raw_query}"


async def product_document(
    platform: Platform, user: User | None, product_id: str, language: str
) -> tuple[Entry, bool]:
    """A product as rendered JSON with its ETag, and whether anyone may be given it (an
    anonymous answer, hence a public market). Anonymous answers come from this process's
    memory while their market's generation is unchanged (see asoud.platform.local_cache)."""
    key = f"product:{product_id}:{language}"
    if user is None and (hit := _from_memory(platform, key, catalog_cache.DETAIL_CACHE)):
        return hit, True
    local = catalog_cache.local(platform)
    since = local.version  # read before the product is
    data = await visible_product(platform, user, product_id, language)
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    public = user is None
    entry = local.put(
        key, body, data["market_id"], since if public else None, catalog_cache.TTL_SECONDS
    )
    return entry, public


def page_from_memory(
    platform: Platform, market_id: str, raw_query: str, language: str
) -> Entry | None:
    """An anonymous market page this process rendered for exactly this query, if still
    current (asked before the query is parsed: only validated queries were ever stored)."""
    try:
        market_uuid = uuid.UUID(market_id)
    except ValueError:
        return None
    key = _page_key(market_uuid, raw_query, language)
    return _from_memory(platform, key, catalog_cache.LIST_CACHE)


async def market_page_document(
    platform: Platform,
    user: User | None,
    market_id: str,
    query: ProductListQuery,
    raw_query: str,
    language: str,
) -> tuple[Entry, bool]:
    """A market's page as rendered JSON with its ETag (see :func:`product_document`)."""
    from asoud.markets.access import market_id_of, visible_market

    market_uuid = await market_id_of(market_id)  # the form invalidation uses (id or slug)
    key = _page_key(market_uuid, raw_query, language)
    if user is None and (hit := _from_memory(platform, key, catalog_cache.LIST_CACHE)):
        return hit, True
    local = catalog_cache.local(platform)
    since = local.version
    if user is None and query.q is None and on_postgres():
        # Anonymous: the market's visibility and its page in one statement, behind Redis.
        params = {**query.model_dump(mode="json"), "lang": language}
        page = await cached_page(
            platform,
            str(market_uuid),
            params,
            lambda: _public_market_page(market_uuid, query, language),
        )
    else:
        market = await visible_market(user, market_id)
        page = await market_page(platform, market, query, language)
    public = user is None  # an anonymous caller sees only public, published markets
    scope = str(market_uuid) + (catalog_cache.POPULAR if query.ordering() == "popular" else "")
    return local.put(key, page, scope, since if public else None, catalog_cache.TTL_SECONDS), public


async def catalogue_page_document(
    platform: Platform, user: User | None, query: ProductListQuery, raw_query: str, language: str
) -> tuple[Entry, bool]:
    """The catalogue search as rendered JSON with its ETag (see :func:`product_document`);
    any catalogue write anywhere outdates what is kept (the global generation)."""
    key = f"search:{language}:{raw_query}"
    if user is None and (hit := _from_memory(platform, key, catalog_cache.LIST_CACHE)):
        return hit, True
    local = catalog_cache.local(platform)
    since = local.version
    page = await catalogue_page(platform, user, query, language)
    public = user is None
    scope = catalog_cache.GLOBAL + (catalog_cache.POPULAR if query.ordering() == "popular" else "")
    return local.put(key, page, scope, since if public else None, catalog_cache.TTL_SECONDS), public


async def visible_product(
    platform: Platform, user: User | None, product_id: str, language: str
) -> dict[str, Any]:
    """A published product of a market the caller may see (404 otherwise)."""
    from asoud.markets.access import can_view_storefront

    cache_key = f"{product_id}:{language}"
    if user is None and await platform.cache.settle():
        cached = await platform.cache.get(catalog_cache.DETAIL_CACHE, cache_key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
    wanted = uuid_or_404(product_id)
    if user is None and on_postgres():
        # The anonymous read in one prepared statement, rows to JSON without the ORM's query
        # building (a quarter of an uncached read's CPU; py-spy).
        data = await _public_product(wanted, language)
        if data is None:
            raise NotFound()
        await _keep_detail(platform, cache_key, data)
        return data
    product = await Product.get_or_none(id=wanted).select_related("market")
    if product is None or product.status is not ProductStatus.published:
        raise NotFound()
    market: Market = product.market  # type: ignore[assignment]
    if not await can_view_storefront(user, market) or market.status is not MarketStatus.published:
        raise NotFound()
    data = public_view(product, language).model_dump(mode="json")
    if market.visibility is Visibility.public:
        await _keep_detail(platform, cache_key, data)
    return data


async def _keep_detail(platform: Platform, cache_key: str, data: dict[str, Any]) -> None:
    await platform.cache.set(catalog_cache.DETAIL_CACHE, cache_key, data, catalog_cache.TTL_SECONDS)


# A published product of a public, published market: what anyone may see.
_PUBLIC_PRODUCT_SQL = (
    'SELECT p."id", p."market_id", p."kind", p."name", p."description", p."price", '
    'p."compare_at_price", p."currency", p."stock", p."reserved", p."images", p."keywords", '
    'p."category_id", p."translations", p."created_at" '
    'FROM "catalog_product" p JOIN "markets_market" m ON m."id" = p."market_id" '
    'WHERE p."id" = $1 AND p."status" = \'published\' AND m."status" = \'published\' '
    "AND m.\"visibility\" = 'public'"
)


async def _public_product(product_id: uuid.UUID, language: str) -> dict[str, Any] | None:
    rows = await fetch_sql(_PUBLIC_PRODUCT_SQL, [product_id])
    if not rows:
        return None
    data: dict[str, Any] = pydantic_core.to_jsonable_python(
        _public_item(_product_of(rows[0]), language)
    )
    return data


_PRODUCT_COLUMNS = (
    "id", "market_id", "kind", "name", "description", "price", "compare_at_price", "currency",
    "stock", "reserved", "images", "keywords", "category_id", "translations", "created_at",
    "sales_count",
)  # fmt: skip
# A public, published market's page in one statement: no row at all when the market is not
# such a market (404), one row with NULL products when it has none.
_PUBLIC_PAGE_SQL = (
    'SELECT {columns} FROM "markets_market" m LEFT JOIN LATERAL ('
    'SELECT * FROM "catalog_product" p WHERE p."market_id" = m."id" '
    "AND p.\"status\" = 'published'{filters} ORDER BY {order} LIMIT {limit}) p ON true "
    'WHERE m."id" = $1 AND m."status" = \'published\' AND m."visibility" = \'public\' '
    "ORDER BY {order}"
)


async def _public_market_page(
    market_id: uuid.UUID, query: ProductListQuery, language: str
) -> bytes:
    """The anonymous market page straight from SQL (the same filters, order and cursor as
    :func:`list_products`; full-text search stays with the ORM)."""
    column, _, descending, parse = _ORDERINGS[query.ordering()]
    params: list[Any] = [market_id]

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    filters = ""
    if query.category_id is not None:
        filters += f' AND p."category_id" = {param(query.category_id)}'
    if query.min_price is not None:
        filters += f' AND p."price" >= {param(query.min_price)}'
    if query.max_price is not None:
        filters += f' AND p."price" <= {param(query.max_price)}'
    if query.in_stock:
        filters += ' AND p."stock" > p."reserved"'
    if query.cursor:
        raw_value, raw_id = decode_cursor(query.cursor, 2)
        value, last_id = cursor_value(raw_value, parse), cursor_value(raw_id, pagination.uuid_value)
        after = "<" if descending else ">"
        at = param(value)
        filters += (
            f' AND (p."{column}" {after} {at} OR (p."{column}" = {at} '
            f'AND p."id" {after} {param(last_id)}))'
        )
    direction = " DESC" if descending else ""
    sql = _PUBLIC_PAGE_SQL.format(
        columns=", ".join(f'p."{name}"' for name in _PRODUCT_COLUMNS),
        filters=filters,
        order=f'p."{column}"{direction}, p."id"{direction}',
        limit=int(query.limit) + 1,
    )
    rows = await fetch_sql(sql, params)
    if not rows:
        raise NotFound()
    products = [_product_of(row) for row in rows if row["id"] is not None]
    more = len(products) > query.limit
    products = products[: query.limit]
    cursor = None
    if more:
        value = getattr(products[-1], column)
        cursor = encode_cursor(
            [value.isoformat() if hasattr(value, "isoformat") else str(value), str(products[-1].id)]
        )
    # Rendered as ProductPage would render it (the same core serialiser, without building
    # and validating twenty models: a third of an uncached page; a test compares the two).
    return pydantic_core.to_json(
        {"items": [_public_item(p, language) for p in products], "next_cursor": cursor}
    )


def _public_item(product: Product | ProductRow, language: str) -> dict[str, Any]:
    """What customers see of a product (ProductPublic), as plain values in its field order:
    the hot paths render these directly, :func:`public_view` validates them into the model."""
    name, description = localise(product, language)
    currency = product.currency
    compare_at = product.compare_at_price
    return {
        "id": product.id,
        "market_id": product.market_id,
        "kind": product.kind.value,
        "name": name,
        "description": description,
        "price": {"amount": format(quantize(product.price, currency), "f"), "currency": currency},
        "compare_at_price": None
        if compare_at is None
        else {"amount": format(quantize(compare_at, currency), "f"), "currency": currency},
        "in_stock": product.stock - product.reserved > 0,
        "images": product.images,
        "keywords": product.keywords,
        "category_id": product.category_id,
        "created_at": product.created_at,
    }


@dataclass(slots=True)
class ProductRow:
    """What the public views read of a product, from a hand-written statement's row: the
    ORM's model constructor was a quarter of an uncached page's CPU (py-spy)."""

    id: uuid.UUID
    market_id: uuid.UUID
    kind: ProductKind
    name: str
    description: str
    price: Decimal
    compare_at_price: Decimal | None
    currency: str
    stock: int
    reserved: int
    images: list[str]
    keywords: list[str]
    category_id: int | None
    translations: dict[str, dict[str, str]]
    created_at: datetime
    sales_count: int


def _product_of(row: dict[str, Any]) -> ProductRow:
    """JSON columns arrive as text from asyncpg."""
    return ProductRow(
        id=row["id"],
        market_id=row["market_id"],
        kind=ProductKind(row["kind"]),
        name=row["name"],
        description=row["description"],
        price=row["price"],
        compare_at_price=row["compare_at_price"],
        currency=row["currency"],
        stock=row["stock"],
        reserved=row["reserved"],
        images=json.loads(row["images"]),
        keywords=json.loads(row["keywords"]),
        category_id=row["category_id"],
        translations=json.loads(row["translations"]),
        created_at=row["created_at"],
        sales_count=row.get("sales_count") or 0,
    )


async def market_page(
    platform: Platform, market: Market, query: ProductListQuery, language: str
) -> bytes:
    """A page of a visible market's published products (cached for public markets)."""

    async def load() -> bytes:
        qs = Product.filter(market_id=market.id, status=ProductStatus.published)
        rows, cursor = await list_products(qs, query)
        page = ProductPage(items=[public_view(p, language) for p in rows], next_cursor=cursor)
        return page.model_dump_json().encode()

    if market.visibility is Visibility.public and market.status is MarketStatus.published:
        params = {**query.model_dump(mode="json"), "lang": language}
        return await cached_page(platform, str(market.id), params, load)
    return await load()


async def catalogue_page(
    platform: Platform, user: User | None, query: ProductListQuery, language: str
) -> bytes:
    """A page of the whole catalogue the caller may browse (cached for anonymous callers)."""

    async def load() -> bytes:
        rows, cursor = await list_products(published_in_visible_markets(user), query)
        page = ProductPage(items=[public_view(p, language) for p in rows], next_cursor=cursor)
        return page.model_dump_json().encode()

    if user is None:
        params = {**query.model_dump(mode="json"), "lang": language}
        return await cached_page(platform, catalog_cache.GLOBAL, params, load)
    return await load()


WARM_MARKETS = 100


async def warm_cache(platform: Platform) -> int:
    """Fill the first page of the catalogue and of the newest public markets, every language.

    Meant for the scheduler; returns the number of pages loaded or confirmed warm.
    """
    from asoud.platform.i18n import SUPPORTED_LANGUAGES

    first_page = ProductListQuery()
    markets = (
        await Market.filter(status=MarketStatus.published, visibility=Visibility.public)
        .order_by("-created_at")
        .limit(WARM_MARKETS)
    )
    pages = 0
    for language in SUPPORTED_LANGUAGES:
        await catalogue_page(platform, None, first_page, language)
        pages += 1
        for market in markets:
            await market_page(platform, market, first_page, language)
            pages += 1
    return pages
