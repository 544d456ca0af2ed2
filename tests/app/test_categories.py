"""The category tree run by staff: over HTTP and with `asoud categories`, on a deployment that
starts with no categories at all, every change visible in the public tree at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from asoud.taxonomy.models import Category
from tests.app.test_cli import _asoud, _env
from tests.support.market import GENEROUS_LIMITS, Actor

NAMES = {"en": "Goods", "fa": "کالا", "ar": "سلع", "tr": "Ürünler"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**GENEROUS_LIMITS}


def _names(en: str) -> dict[str, str]:
    return {"en": en, "fa": f"{en} fa", "ar": f"{en} ar", "tr": f"{en} tr"}


async def _create(client: httpx.AsyncClient, staff: Actor, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/admin/categories", json=body, headers=staff.headers)


async def _tree(client: httpx.AsyncClient, language: str = "en") -> list[dict[str, Any]]:
    response = await client.get("/api/v1/categories", headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.json()["items"]  # type: ignore[no-any-return]


def _slugs(tree: list[dict[str, Any]]) -> list[str]:
    return [n["slug"] for n in tree] + [s for n in tree for s in _slugs(n["children"])]


async def _three_levels(client: httpx.AsyncClient, staff: Actor) -> tuple[int, int, int]:
    group = (await _create(client, staff, slug="goods", names=NAMES)).json()
    category = (
        await _create(client, staff, slug="books", names=_names("Books"), parent_id=group["id"])
    ).json()
    leaf = await _create(
        client,
        staff,
        slug="books-new",
        names=_names("New books"),
        parent_id=category["id"],
        subscription_fee={"amount": "500000", "currency": "IRT"},
    )
    assert leaf.status_code == 201, leaf.text
    return group["id"], category["id"], leaf.json()["id"]


async def test_staff_build_a_tree_on_a_fresh_deployment_and_a_market_opens_in_it(
    client: httpx.AsyncClient, staff: Actor, owner: Actor
) -> None:
    assert await _tree(client) == []  # warms the cached (empty) tree
    _group, _category, leaf = await _three_levels(client, staff)
    tree = await _tree(client, "fa")  # visible at once, in the caller's language
    assert tree[0]["name"] == "کالا" and tree[0]["children"][0]["children"][0]["id"] == leaf
    assert tree[0]["children"][0]["children"][0]["subscription_fee"] == {
        "amount": "500000",
        "currency": "IRT",
    }
    market = await client.post(
        "/api/v1/markets",
        json={"type": "shop", "business_id": "new-books", "name": "New", "category_id": leaf},
        headers=owner.headers,
    )
    assert market.status_code == 201, market.text
    listed = await client.get("/api/v1/admin/categories", headers=staff.headers)
    assert [c["level"] for c in listed.json()["items"]] == [1, 2, 3]
    assert listed.json()["items"][0]["names"] == NAMES


async def test_bad_category_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, staff: Actor, owner: Actor
) -> None:
    _group, _category, leaf = await _three_levels(client, staff)
    before = await Category.all().count()
    assert (await _create(client, owner, slug="x", names=NAMES)).status_code == 403
    no_turkish = await _create(client, staff, slug="x", names={**NAMES, "tr": ""})
    assert no_turkish.status_code == 422
    assert no_turkish.json()["errors"][0]["field"] == "body.names.tr"
    fee_on_group = await _create(
        client, staff, slug="x", names=NAMES, subscription_fee={"amount": "1", "currency": "IRT"}
    )
    assert fee_on_group.json()["errors"][0]["code"] == "fee_only_on_leaves"
    under_leaf = await _create(client, staff, slug="x", names=NAMES, parent_id=leaf)
    assert under_leaf.json()["errors"][0]["code"] == "leaf_cannot_have_children"
    unknown_parent = await _create(client, staff, slug="x", names=NAMES, parent_id=999_999)
    assert unknown_parent.json()["errors"][0]["code"] == "unknown_category"
    bad_slug = await _create(client, staff, slug="Not A Slug", names=NAMES)
    assert bad_slug.status_code == 422
    taken = await client.post(
        "/api/v1/admin/categories",
        json={"slug": "books", "names": NAMES},
        headers={**staff.headers, "Accept-Language": "fa"},
    )
    assert taken.status_code == 409 and taken.json()["code"] == "category_slug_taken"
    assert "books" in taken.json()["detail"] and "دسته" in taken.json()["detail"]
    assert await Category.all().count() == before


async def test_rename_move_fee_and_reorder_show_at_once(
    client: httpx.AsyncClient, staff: Actor
) -> None:
    group, category, leaf = await _three_levels(client, staff)
    other = (
        await _create(client, staff, slug="music", names=_names("Music"), parent_id=group)
    ).json()["id"]
    await _tree(client, "fa")  # cached
    renamed = await client.patch(
        f"/api/v1/admin/categories/{leaf}",
        json={"names": {"fa": "کتاب نو"}},
        headers=staff.headers,
    )
    assert renamed.status_code == 200
    assert renamed.json()["names"] == {**_names("New books"), "fa": "کتاب نو"}
    assert (await _tree(client, "fa"))[0]["children"][0]["children"][0]["name"] == "کتاب نو"

    moved = await client.patch(
        f"/api/v1/admin/categories/{leaf}", json={"parent_id": other}, headers=staff.headers
    )
    assert moved.status_code == 200 and moved.json()["parent_id"] == other
    music = next(n for n in (await _tree(client))[0]["children"] if n["slug"] == "music")
    assert [c["slug"] for c in music["children"]] == ["books-new"]

    # a leaf moved under a group would become a category: markets in it would be invalid
    level_change = await client.patch(
        f"/api/v1/admin/categories/{leaf}", json={"parent_id": group}, headers=staff.headers
    )
    assert level_change.status_code == 409 and level_change.json()["code"] == "category_level_fixed"
    assert (await Category.get(id=leaf)).parent_id == other

    fee = await client.patch(
        f"/api/v1/admin/categories/{leaf}",
        json={"subscription_fee": {"amount": "25.50", "currency": "USD"}},
        headers=staff.headers,
    )
    assert fee.json()["subscription_fee"] == {"amount": "25.50", "currency": "USD"}
    cleared = await client.patch(
        f"/api/v1/admin/categories/{leaf}", json={"subscription_fee": None}, headers=staff.headers
    )
    assert cleared.json()["subscription_fee"] is None
    fee_on_category = await client.patch(
        f"/api/v1/admin/categories/{category}",
        json={"subscription_fee": {"amount": "1", "currency": "IRT"}},
        headers=staff.headers,
    )
    assert fee_on_category.status_code == 422
    missing = await client.patch(
        "/api/v1/admin/categories/999999", json={"position": 1}, headers=staff.headers
    )
    assert missing.status_code == 404


async def test_a_retired_category_leaves_the_tree_and_new_choices_but_not_its_markets(
    client: httpx.AsyncClient, staff: Actor, owner: Actor
) -> None:
    _group, category, leaf = await _three_levels(client, staff)
    market = await client.post(
        "/api/v1/markets",
        json={"type": "shop", "business_id": "old-books", "name": "Old", "category_id": leaf},
        headers=owner.headers,
    )
    assert market.status_code == 201
    await _tree(client)
    retired = await client.post(
        f"/api/v1/admin/categories/{category}/retire", headers=staff.headers
    )
    assert retired.status_code == 200 and retired.json()["retired_at"]
    assert _slugs(await _tree(client)) == ["goods"]  # the leaf under it went too
    refused = await client.post(
        "/api/v1/markets",
        json={"type": "shop", "business_id": "more-books", "name": "More", "category_id": leaf},
        headers=owner.headers,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "retired_category"
    still = await client.get(f"/api/v1/markets/{market.json()['id']}", headers=owner.headers)
    assert still.status_code == 200
    restored = await client.post(
        f"/api/v1/admin/categories/{category}/restore", headers=staff.headers
    )
    assert restored.json()["retired_at"] is None
    assert _slugs(await _tree(client)) == ["goods", "books", "books-new"]


def _import_body(leaf_name: str = "New books") -> dict[str, Any]:
    return {
        "items": [
            {
                "slug": "goods",
                "names": NAMES,
                "children": [
                    {
                        "slug": "books",
                        "names": _names("Books"),
                        "children": [
                            {
                                "slug": "books-new",
                                "names": _names(leaf_name),
                                "subscription_fee": {"amount": "500000", "currency": "IRT"},
                            },
                            {"slug": "books-used", "names": _names("Used books")},
                        ],
                    }
                ],
            }
        ]
    }


async def test_import_creates_updates_and_is_all_or_nothing(
    client: httpx.AsyncClient, staff: Actor
) -> None:
    url = "/api/v1/admin/categories/import"
    first = await client.post(url, json=_import_body(), headers=staff.headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "created": ["goods", "books", "books-new", "books-used"],
        "updated": [],
        "unchanged": 0,
    }
    again = await client.post(url, json=_import_body(), headers=staff.headers)
    assert again.json() == {"created": [], "updated": [], "unchanged": 4}
    renamed = await client.post(url, json=_import_body("Fresh books"), headers=staff.headers)
    assert renamed.json()["updated"] == ["books-new"]
    assert "Fresh books" in str(await _tree(client))

    too_deep = _import_body()
    too_deep["items"][0]["children"][0]["children"][0]["children"] = [
        {"slug": "deeper", "names": NAMES}
    ]
    deep = await client.post(url, json=too_deep, headers=staff.headers)
    assert deep.status_code == 422 and deep.json()["errors"][0]["code"] == "tree_too_deep"

    # "books" exists as a category; filed as a group it would change level: nothing is written
    moved = {"items": [{"slug": "new-group", "names": NAMES}, {"slug": "books", "names": NAMES}]}
    refused = await client.post(url, json=moved, headers=staff.headers)
    assert refused.status_code == 409 and refused.json()["code"] == "category_level_fixed"
    assert not await Category.exists(slug="new-group")


async def test_the_asoud_categories_command_edits_the_tree_the_api_serves(
    client: httpx.AsyncClient, settings: Any, tmp_path: Path
) -> None:
    env = _env(settings)
    tree_file = tmp_path / "tree.yaml"
    tree_file.write_text(
        """
- slug: services
  names: {en: Services, fa: خدمات, ar: خدمات, tr: Hizmetler}
  children:
    - slug: repairs
      names: {en: Repairs, fa: تعمیرات, ar: تصليح, tr: Onarım}
      children:
        - slug: phone-repair
          names: {en: Phone repair, fa: تعمیر گوشی, ar: تصليح الهواتف, tr: Telefon onarımı}
          subscription_fee: {amount: "600000", currency: IRT}
""",
        encoding="utf-8",
    )
    imported = _asoud("categories", "import", str(tree_file), env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "created 3, updated 0, unchanged 0"
    assert _slugs(await _tree(client)) == ["services", "repairs", "phone-repair"]  # now cached

    csv_file = tmp_path / "more.csv"
    csv_file.write_text(
        "slug,parent,en,fa,ar,tr,fee,currency\n"
        "laptop-repair,repairs,Laptop repair,تعمیر لپ‌تاپ,تصليح الحواسيب,Dizüstü onarımı,700000,IRT\n"
        "repairs,services,Repairs,تعمیرات,تصليح,Onarım,,\n"
        "services,,Services,خدمات,خدمات,Hizmetler,,\n",
        encoding="utf-8",
    )
    from_csv = _asoud("categories", "import", str(csv_file), env=env)
    assert from_csv.returncode == 0, from_csv.stderr
    assert from_csv.stdout.startswith("created 1, updated")
    renamed = _asoud("categories", "rename", "phone-repair", "--fa", "تعمیر موبایل", env=env)
    assert renamed.returncode == 0, renamed.stderr
    # the API process sees both at once, though it had the tree cached
    tree = await _tree(client, "fa")
    leaves = {n["slug"]: n["name"] for n in tree[0]["children"][0]["children"]}
    assert leaves == {"phone-repair": "تعمیر موبایل", "laptop-repair": "تعمیر لپ‌تاپ"}

    assert _asoud("categories", "retire", "laptop-repair", env=env).returncode == 0
    assert "laptop-repair" not in _slugs(await _tree(client))
    listed = _asoud("categories", "list", env=env)
    assert "laptop-repair" in listed.stdout and "(retired)" in listed.stdout

    assert _asoud("categories", "retire", "no-such-slug", env=env).returncode == 1
    moved = _asoud("categories", "move", "phone-repair", "--parent", "services", env=env)
    assert moved.returncode == 1 and "same level" in moved.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("- slug: x\n  names: {en: X}\n", encoding="utf-8")
    refused = _asoud("categories", "import", str(bad), env=env)
    assert refused.returncode == 2 and "names.fa" in refused.stderr
