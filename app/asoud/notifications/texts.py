"""What notifications say, per kind and language (placeholders filled at creation)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "order_placed": {
        "en": ("New order", "A new order of {total} for {market}."),
        "fa": ("سفارش جدید", "سفارش جدیدی به مبلغ {total} برای {market} ثبت شد."),
        "ar": ("طلب جديد", "طلب جديد بقيمة {total} في {market}."),
        "tr": ("Yeni sipariş", "{market} için {total} tutarında yeni bir sipariş."),
    },
    "order_paid": {
        "en": ("Order paid", "An order of {total} at {market} is paid: prepare it."),
        "fa": (
            "سفارش پرداخت شد",
            "سفارشی به مبلغ {total} در {market} پرداخت شد؛ آن را آماده کنید.",
        ),
        "ar": ("تم دفع الطلب", "تم دفع طلب بقيمة {total} في {market}؛ جهّزه."),
        "tr": ("Sipariş ödendi", "{market} için {total} tutarındaki sipariş ödendi: hazırlayın."),
    },
    "market_approved": {
        "en": ("Market approved", "{market} is published: customers can find it now."),
        "fa": ("بازارچه تأیید شد", "{market} منتشر شد و اکنون مشتریان آن را می‌بینند."),
        "ar": ("تمت الموافقة على المتجر", "تم نشر {market} ويمكن للعملاء رؤيته الآن."),
        "tr": ("Pazar onaylandı", "{market} yayında: müşteriler artık onu görebilir."),
    },
    "market_rejected": {
        "en": ("Market not approved", "{market} was not approved: {reason}"),
        "fa": ("بازارچه تأیید نشد", "{market} تأیید نشد: {reason}"),
        "ar": ("لم تتم الموافقة على المتجر", "لم تتم الموافقة على {market}: {reason}"),
        "tr": ("Pazar onaylanmadı", "{market} onaylanmadı: {reason}"),
    },
    "market_changes_requested": {
        "en": ("Changes requested", "Staff ask for changes to {market}: {reason}"),
        "fa": ("درخواست اصلاح", "کارشناسان برای {market} اصلاحاتی خواسته‌اند: {reason}"),
        "ar": ("مطلوب تعديلات", "يطلب الموظفون تعديلات على {market}: {reason}"),
        "tr": ("Değişiklik istendi", "Personel {market} için değişiklik istiyor: {reason}"),
    },
    "revision_approved": {
        "en": ("Edit approved", "Your edit of {market} is live."),
        "fa": ("ویرایش تأیید شد", "ویرایش شما در {market} اعمال شد."),
        "ar": ("تمت الموافقة على التعديل", "أصبح تعديلك على {market} ساريًا."),
        "tr": ("Düzenleme onaylandı", "{market} düzenlemeniz yayında."),
    },
    "revision_rejected": {
        "en": ("Edit not approved", "Your edit of {market} was not approved: {reason}"),
        "fa": ("ویرایش تأیید نشد", "ویرایش شما در {market} تأیید نشد: {reason}"),
        "ar": ("لم تتم الموافقة على التعديل", "لم تتم الموافقة على تعديلك على {market}: {reason}"),
        "tr": ("Düzenleme onaylanmadı", "{market} düzenlemeniz onaylanmadı: {reason}"),
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
