"""HTTP routes of the catalogue."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from asoud.catalog import services
from asoud.catalog.models import Product
from asoud.catalog.schemas import (
    AdminProductQuery,
    OwnerProductPage,
    ProductCreate,
    ProductListQuery,
    ProductOwnerView,
    ProductPage,
    ProductPatch,
    ProductPublic,
)
from asoud.markets.access import WRITE, Access, market_for
from asoud.platform.errors import NotFound, uuid_or_404
from asoud.platform.http import Api, Auth, Call, document_response
from asoud.platform.i18n import current_language
from asoud.platform.pagination import oldest_first

api = Api()
ANY_ROLE = frozenset(Access)


class PublicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publish: bool = True


async def _owned_product(call: Call[Any, Any], allowed: frozenset[Access]) -> Product:
    product = await Product.get_or_none(id=uuid_or_404(call.path["product_id"]))
    if product is None:
        raise NotFound()
    await market_for(call.principal.user, str(product.market_id), allowed)
    return product


@api.endpoint(
    "POST",
    "/api/v1/markets/{market_id}/products",
    summary="Create a product (draft)",
    tags=["catalogue"],
    auth=Auth.user,
    body=ProductCreate,
    responses={201: ProductOwnerView},
    errors=[404],
)
async def create_product(call: Call[ProductCreate, Any]) -> ProductOwnerView:
    market, _ = await market_for(call.principal.user, call.path["market_id"], WRITE)
    product = await services.create_product(call.platform, market, call.body)
    return services.owner_view(product, current_language.get())


async def _page_from_memory(call: Call[Any, Any]) -> Response | None:
    if call.principal is not None:
        return None
    document = services.page_from_memory(
        call.platform,
        call.path["market_id"],
        call.request.scope["query_string"].decode("latin-1"),
        current_language.get(),
    )
    if document is None:
        return None
    return document_response(call.request, document.body, document.etag, public=True)


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}/products",
    summary="A market's products",
    tags=["catalogue"],
    auth=Auth.optional,
    query=ProductListQuery,
    responses={200: ProductPage, 304: None},
    errors=[404],
    early=_page_from_memory,
)
async def list_market_products(call: Call[Any, ProductListQuery]) -> Response:
    """Published products of the market (by id or ``business_id``); filters, sort and cursor
    as in the catalogue search. Anonymous
    answers carry a strong ETag (If-None-Match → 304) and may be cached for a few seconds."""
    user = call.principal.user if call.principal else None
    document, public = await services.market_page_document(
        call.platform,
        user,
        call.path["market_id"],
        call.query,
        call.request.scope["query_string"].decode("latin-1"),
        current_language.get(),
    )
    return document_response(call.request, document.body, document.etag, public=public)


@api.endpoint(
    "GET",
    "/api/v1/markets/{market_id}/products/manage",
    summary="All products of a market (owner and colleagues)",
    tags=["catalogue"],
    auth=Auth.user,
    query=ProductListQuery,
    responses={200: OwnerProductPage},
    errors=[404],
)
async def list_owner_products(call: Call[Any, ProductListQuery]) -> OwnerProductPage:
    market, _ = await market_for(call.principal.user, call.path["market_id"], ANY_ROLE)
    rows, cursor = await services.list_products(Product.filter(market_id=market.id), call.query)
    language = current_language.get()
    return OwnerProductPage(
        items=[services.owner_view(p, language) for p in rows], next_cursor=cursor
    )


@api.endpoint(
    "GET",
    "/api/v1/products",
    summary="Search the catalogue",
    tags=["catalogue"],
    auth=Auth.optional,
    query=ProductListQuery,
    responses={200: ProductPage, 304: None},
)
async def search_products(call: Call[Any, ProductListQuery]) -> Response:
    """Published products of every market the caller may browse. ``q`` searches names,
    descriptions and keywords in every language."""
    user = call.principal.user if call.principal else None
    document, public = await services.catalogue_page_document(
        call.platform,
        user,
        call.query,
        call.request.scope["query_string"].decode("latin-1"),
        current_language.get(),
    )
    return document_response(call.request, document.body, document.etag, public=public)


@api.endpoint(
    "GET",
    "/api/v1/products/{product_id}",
    summary="A product",
    tags=["catalogue"],
    auth=Auth.optional,
    responses={200: ProductPublic, 304: None},
    errors=[404],
)
async def get_product(call: Call[Any, Any]) -> Response:
    """Anonymous answers carry a strong ETag (If-None-Match → 304) and may be cached for a
    few seconds by browsers and CDNs."""
    user = call.principal.user if call.principal else None
    document, public = await services.product_document(
        call.platform, user, call.path["product_id"], current_language.get()
    )
    return document_response(call.request, document.body, document.etag, public=public)


@api.endpoint(
    "GET",
    "/api/v1/products/{product_id}/manage",
    summary="A product, owner view",
    tags=["catalogue"],
    auth=Auth.user,
    responses={200: ProductOwnerView},
    errors=[404],
)
async def get_owner_product(call: Call[Any, Any]) -> ProductOwnerView:
    product = await _owned_product(call, ANY_ROLE)
    return services.owner_view(product, current_language.get())


@api.endpoint(
    "PATCH",
    "/api/v1/products/{product_id}",
    summary="Edit a product",
    tags=["catalogue"],
    auth=Auth.user,
    body=ProductPatch,
    responses={200: ProductOwnerView},
    errors=[404, 409],
)
async def edit_product(call: Call[ProductPatch, Any]) -> ProductOwnerView:
    """Price and stock edits keep a product published; content edits send it back to staff."""
    product = await _owned_product(call, WRITE)
    product = await services.update_product(call.platform, product, call.body)
    return services.owner_view(product, current_language.get())


@api.endpoint(
    "DELETE",
    "/api/v1/products/{product_id}",
    summary="Archive a product",
    tags=["catalogue"],
    auth=Auth.user,
    responses={204: None},
    errors=[404],
)
async def archive_product(call: Call[Any, Any]) -> None:
    product = await _owned_product(call, WRITE)
    await services.update_product(call.platform, product, ProductPatch(status="archived"))


@api.endpoint(
    "POST",
    "/api/v1/admin/products/{product_id}/publish",
    summary="Publish or withdraw a product",
    tags=["admin"],
    auth=Auth.staff,
    body=PublicationIn,
    responses={200: ProductOwnerView},
    errors=[404, 409],
)
async def publish_product(call: Call[PublicationIn, Any]) -> ProductOwnerView:
    product = await _owned_product(
        call, frozenset({Access.staff, Access.owner, Access.manager, Access.editor, Access.viewer})
    )
    product = await services.set_publication(call.platform, product, call.body.publish)
    return services.owner_view(product, current_language.get())


@api.endpoint(
    "GET",
    "/api/v1/admin/products",
    summary="Products by status: drafts waiting to be published",
    tags=["admin"],
    auth=Auth.staff,
    query=AdminProductQuery,
    responses={200: OwnerProductPage},
)
async def admin_products(call: Call[Any, AdminProductQuery]) -> OwnerProductPage:
    """Drafts by default, oldest first; filter by market and by text in the name."""
    query = call.query
    qs = Product.filter(status=query.status)
    if query.market_id is not None:
        qs = qs.filter(market_id=query.market_id)
    if query.q:
        qs = qs.filter(name__icontains=query.q)
    rows, cursor = await oldest_first(qs, query.limit, query.cursor)
    language = current_language.get()
    return OwnerProductPage(
        items=[services.owner_view(p, language) for p in rows], next_cursor=cursor
    )
