"""What notifications say, per kind and language (placeholders filled at creation)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "order_placed": {
        "en": ("New order", "A new order of {total} for {market}."),
        "fa": ("سفارش جدید", "سفارش جدیدی به مبلغ {total} برای {market} ثبت شد."),
        "ar": ("طلب جديد", "طلب جديد بقيمة {total} في {market}."),
        "tr": ("Yeni sipariş", "{market} için {total} tutarında yeni bir sipariş."),
    },
    "order_status": {
        "en": ("Order update", "Your order at {market} is now {status}."),
        "fa": ("وضعیت سفارش", "سفارش شما در {market} اکنون «{status}» است."),
        "ar": ("تحديث الطلب", "طلبك في {market} أصبح الآن {status}."),
        "tr": ("Sipariş güncellemesi", "{market} siparişiniz artık {status}."),
    },
    "payment_status": {
        "en": ("Payment {status}", "Your payment of {amount} is {status}."),
        "fa": ("پرداخت", "پرداخت {amount} شما «{status}» است."),
        "ar": ("الدفع", "دفعتك بقيمة {amount} حالتها {status}."),
        "tr": ("Ödeme", "{amount} tutarındaki ödemeniz {status}."),
    },
}


def render(kind: str, language: str, **params: str) -> tuple[str, str]:
    entry = TEXTS[kind]
    title, body = entry.get(language) or entry["en"]
    return title.format(**params), body.format(**params)
