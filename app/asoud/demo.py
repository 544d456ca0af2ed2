"""Demo data for the embedded quick start (idempotent: running it twice changes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from asoud.catalog.models import Product, ProductStatus
from asoud.catalog.search import normalise
from asoud.identity.models import User
from asoud.markets.models import Market, MarketStatus, MarketType
from asoud.taxonomy.models import Category

DEMO_STAFF_PHONE = "+989120000000"
DEMO_CUSTOMER_PHONE = "+989121111111"
DEMO_OWNER_PHONE = "+989122222222"

# group -> category -> [(leaf slug, names, monthly fee in toman)]
TAXONOMY: list[
    tuple[
        str, dict[str, str], list[tuple[str, dict[str, str], list[tuple[str, dict[str, str], int]]]]
    ]
] = [
    (
        "goods",
        {"en": "Goods", "fa": "کالا", "ar": "سلع", "tr": "Ürünler"},
        [
            (
                "books",
                {"en": "Books", "fa": "کتاب", "ar": "كتب", "tr": "Kitaplar"},
                [
                    (
                        "books-new",
                        {
                            "en": "New books",
                            "fa": "کتاب نو",
                            "ar": "كتب جديدة",
                            "tr": "Yeni kitaplar",
                        },
                        500_000,
                    ),
                    (
                        "books-used",
                        {
                            "en": "Used books",
                            "fa": "کتاب دست دوم",
                            "ar": "كتب مستعملة",
                            "tr": "İkinci el kitaplar",
                        },
                        300_000,
                    ),
                ],
            ),
            (
                "food",
                {"en": "Food", "fa": "خوراکی", "ar": "طعام", "tr": "Gıda"},
                [
                    (
                        "food-dried-fruit",
                        {
                            "en": "Dried fruit and nuts",
                            "fa": "خشکبار",
                            "ar": "فواكه مجففة ومكسرات",
                            "tr": "Kuru meyve ve kuruyemiş",
                        },
                        400_000,
                    ),
                    (
                        "food-saffron",
                        {
                            "en": "Saffron and spices",
                            "fa": "زعفران و ادویه",
                            "ar": "زعفران وتوابل",
                            "tr": "Safran ve baharat",
                        },
                        400_000,
                    ),
                ],
            ),
        ],
    ),
    (
        "services",
        {"en": "Services", "fa": "خدمات", "ar": "خدمات", "tr": "Hizmetler"},
        [
            (
                "repair",
                {"en": "Repair", "fa": "تعمیرات", "ar": "تصليح", "tr": "Onarım"},
                [
                    (
                        "repair-phones",
                        {
                            "en": "Phone repair",
                            "fa": "تعمیر موبایل",
                            "ar": "تصليح الهواتف",
                            "tr": "Telefon onarımı",
                        },
                        600_000,
                    ),
                ],
            ),
        ],
    ),
]


async def seed_taxonomy() -> int:
    created = 0
    for g_pos, (g_slug, g_names, categories) in enumerate(TAXONOMY):
        group, new = await Category.get_or_create(
            slug=g_slug, defaults={"level": 1, "names": g_names, "position": g_pos}
        )
        created += new
        for c_pos, (c_slug, c_names, leaves) in enumerate(categories):
            category, new = await Category.get_or_create(
                slug=c_slug,
                defaults={"level": 2, "names": c_names, "parent": group, "position": c_pos},
            )
            created += new
            for l_pos, (l_slug, l_names, fee) in enumerate(leaves):
                _, new = await Category.get_or_create(
                    slug=l_slug,
                    defaults={
                        "level": 3,
                        "names": l_names,
                        "parent": category,
                        "subscription_fee": Decimal(fee),
                        "position": l_pos,
                    },
                )
                created += new
    return created


async def seed_demo_data() -> list[str]:
    created = []
    staff, was_created = await User.get_or_create(
        phone=DEMO_STAFF_PHONE, defaults={"display_name": "Demo staff", "is_staff": True}
    )
    if was_created:
        created.append(f"staff user {staff.phone}")
    customer, was_created = await User.get_or_create(
        phone=DEMO_CUSTOMER_PHONE, defaults={"display_name": "Demo customer", "language": "fa"}
    )
    if was_created:
        created.append(f"customer {customer.phone}")
    if count := await seed_taxonomy():
        created.append(f"{count} categories")
    owner, _ = await User.get_or_create(
        phone=DEMO_OWNER_PHONE, defaults={"display_name": "Demo owner"}
    )
    leaf = await Category.get(slug="food-saffron")
    market, was_created = await Market.get_or_create(
        business_id="saffron-house",
        defaults={
            "owner": owner,
            "type": MarketType.shop,
            "name": "Saffron House",
            "description": "Saffron, barberries and dried fruit from Khorasan.",
            "category": leaf,
            "status": MarketStatus.published,
            "city": "Mashhad",
            "address": "Imam Reza St. 12",
            "latitude": Decimal("36.297"),
            "longitude": Decimal("59.606"),
            "contact_phone": "+985138000000",
            "fee_paid_at": datetime.now(UTC),
            "fee_paid_amount": leaf.subscription_fee or Decimal(0),
            "fee_paid_currency": leaf.fee_currency,
            "published_at": datetime.now(UTC),
        },
    )
    if was_created:
        for name, fa, price, stock in [
            ("Saffron 4.6 g", "زعفران ۴.۶ گرمی", 1_250_000, 40),
            ("Barberries 500 g", "زرشک ۵۰۰ گرمی", 320_000, 25),
            ("Pistachios 1 kg", "پسته یک کیلویی", 2_900_000, 3),
        ]:
            await Product.create(
                market=market,
                name=name,
                price=Decimal(price),
                currency="IRT",
                stock=stock,
                status=ProductStatus.published,
                keywords=["khorasan"],
                translations={"fa": {"name": fa, "description": ""}},
                search_text=normalise(f"{name} {fa} khorasan"),
            )
        created.append(f"market {market.business_id} with 3 products")
    return created
