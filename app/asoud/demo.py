"""Demo data for the embedded quick start (idempotent: running it twice changes nothing)."""

from __future__ import annotations

from asoud.identity.models import User

DEMO_STAFF_PHONE = "+989120000000"
DEMO_CUSTOMER_PHONE = "+989121111111"


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
    return created
