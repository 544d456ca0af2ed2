"""Languages and the message catalogue for user-facing texts.

Messages are keyed by a stable machine code (the same ``code`` the problem documents carry),
each with a title and a detail in every supported language. Detail texts may hold
``{placeholders}`` filled from the error's parameters.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

SUPPORTED_LANGUAGES: Final = ("en", "fa", "ar", "tr")
DEFAULT_LANGUAGE: Final = "en"
RTL_LANGUAGES: Final = frozenset({"fa", "ar"})

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


def negotiate_language(accept_language: str | None) -> str:
    """Pick the best supported language from an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        # earlier entries win ties, as clients list preferences in order
        score = q - position * 1e-6
        if primary in SUPPORTED_LANGUAGES and q > 0 and score > best_q:
            best, best_q = primary, score
    return best


# code -> language -> (title, detail)
MESSAGES: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "validation_failed": {
        "en": ("Invalid request", "Some fields are missing or invalid."),
        "fa": ("درخواست نامعتبر", "برخی از فیلدها وارد نشده یا نامعتبر هستند."),
        "ar": ("طلب غير صالح", "بعض الحقول مفقودة أو غير صالحة."),
        "tr": ("Geçersiz istek", "Bazı alanlar eksik veya geçersiz."),
    },
    "malformed_json": {
        "en": ("Malformed body", "The request body is not valid JSON."),
        "fa": ("بدنه نادرست", "بدنه درخواست یک JSON معتبر نیست."),
        "ar": ("محتوى تالف", "محتوى الطلب ليس JSON صالحًا."),
        "tr": ("Bozuk gövde", "İstek gövdesi geçerli bir JSON değil."),
    },
    "unsupported_media_type": {
        "en": ("Unsupported media type", "Send the request body as application/json."),
        "fa": ("نوع محتوا پشتیبانی نمی‌شود", "بدنه درخواست را با نوع application/json بفرستید."),
        "ar": ("نوع وسائط غير مدعوم", "أرسل محتوى الطلب بصيغة application/json."),
        "tr": ("Desteklenmeyen içerik türü", "İstek gövdesini application/json olarak gönderin."),
    },
    "body_too_large": {
        "en": ("Body too large", "The request body exceeds {limit} bytes."),
        "fa": ("بدنه بیش از حد بزرگ", "بدنه درخواست از {limit} بایت بیشتر است."),
        "ar": ("المحتوى كبير جدًا", "محتوى الطلب يتجاوز {limit} بايت."),
        "tr": ("Gövde çok büyük", "İstek gövdesi {limit} baytı aşıyor."),
    },
    "json_too_deep": {
        "en": ("Body nested too deeply", "The request body nests more than {limit} levels."),
        "fa": ("بدنه بیش از حد تودرتو", "بدنه درخواست بیش از {limit} سطح تودرتو است."),
        "ar": ("المحتوى متداخل جدًا", "محتوى الطلب متداخل لأكثر من {limit} مستوى."),
        "tr": ("Gövde çok iç içe", "İstek gövdesi {limit} düzeyden fazla iç içe."),
    },
    "amount_too_large": {
        "en": ("Amount too large", "The total would exceed what one order can hold."),
        "fa": ("مبلغ بیش از حد بزرگ", "جمع کل از سقف مجاز یک سفارش بیشتر می‌شود."),
        "ar": ("المبلغ كبير جدًا", "سيتجاوز المجموع ما يمكن أن يحمله طلب واحد."),
        "tr": ("Tutar çok büyük", "Toplam, bir siparişin taşıyabileceğini aşar."),
    },
    "revision_stale": {
        "en": (
            "Edit out of date",
            "The market changed after this edit was filed; it was closed without applying it.",
        ),
        "fa": (
            "ویرایش قدیمی است",
            "فروشگاه پس از ثبت این ویرایش تغییر کرده است؛ ویرایش بدون اعمال بسته شد.",
        ),
        "ar": (
            "التعديل قديم",
            "تغيّر المتجر بعد تقديم هذا التعديل؛ أُغلق دون تطبيقه.",
        ),
        "tr": (
            "Düzenleme güncel değil",
            "Mağaza bu düzenleme gönderildikten sonra değişti; uygulanmadan kapatıldı.",
        ),
    },
    "cannot_disable_yourself": {
        "en": ("Not your own account", "Staff cannot disable their own account."),
        "fa": ("حساب خودتان نه", "کارمندان نمی‌توانند حساب خودشان را غیرفعال کنند."),
        "ar": ("ليس حسابك", "لا يمكن للموظفين تعطيل حساباتهم."),
        "tr": ("Kendi hesabınız değil", "Personel kendi hesabını devre dışı bırakamaz."),
    },
    "category_slug_taken": {
        "en": ("Slug taken", "Another category already uses the slug {slug}."),
        "fa": ("شناسه تکراری", "دسته دیگری از شناسه {slug} استفاده می‌کند."),
        "ar": ("المعرّف مستخدم", "هناك فئة أخرى تستخدم المعرّف {slug}."),
        "tr": ("Kısa ad kullanımda", "{slug} kısa adı başka bir kategoride kullanılıyor."),
    },
    "category_level_fixed": {
        "en": (
            "Level cannot change",
            "A category moves only under a parent of the same level, so a leaf stays a leaf.",
        ),
        "fa": (
            "سطح دسته تغییر نمی‌کند",
            "دسته فقط زیر والدی هم‌سطح والد فعلی منتقل می‌شود تا دسته سطح سوم، سطح سوم بماند.",
        ),
        "ar": (
            "لا يمكن تغيير المستوى",
            "تُنقل الفئة فقط تحت أصل من المستوى نفسه، لتبقى الفئة الفرعية فرعية.",
        ),
        "tr": (
            "Düzey değişemez",
            "Bir kategori yalnızca aynı düzeydeki bir üst kategorinin altına taşınır; "
            "yaprak kategori yaprak kalır.",
        ),
    },
    "not_found": {
        "en": ("Not found", "The requested resource does not exist."),
        "fa": ("یافت نشد", "منبع درخواست‌شده وجود ندارد."),
        "ar": ("غير موجود", "المورد المطلوب غير موجود."),
        "tr": ("Bulunamadı", "İstenen kaynak mevcut değil."),
    },
    "method_not_allowed": {
        "en": ("Method not allowed", "This method is not allowed on this resource."),
        "fa": ("روش مجاز نیست", "این روش برای این منبع مجاز نیست."),
        "ar": ("الطريقة غير مسموح بها", "هذه الطريقة غير مسموح بها لهذا المورد."),
        "tr": ("Yönteme izin verilmiyor", "Bu kaynakta bu yönteme izin verilmiyor."),
    },
    "internal_error": {
        "en": ("Internal error", "Something went wrong on our side. Reference: {request_id}."),
        "fa": ("خطای داخلی", "مشکلی در سمت ما رخ داد. شناسه پیگیری: {request_id}."),
        "ar": ("خطأ داخلي", "حدث خطأ من جانبنا. المرجع: {request_id}."),
        "tr": ("İç hata", "Bizim tarafımızda bir sorun oluştu. Referans: {request_id}."),
    },
    "service_unavailable": {
        "en": ("Service unavailable", "A required service is unavailable. Try again shortly."),
        "fa": ("سرویس در دسترس نیست", "یکی از سرویس‌های لازم در دسترس نیست. کمی بعد تلاش کنید."),
        "ar": ("الخدمة غير متاحة", "خدمة مطلوبة غير متاحة. حاول مرة أخرى بعد قليل."),
        "tr": (
            "Hizmet kullanılamıyor",
            "Gerekli bir hizmet kullanılamıyor. Birazdan tekrar deneyin.",
        ),
    },
    "rate_limited": {
        "en": ("Too many requests", "Too many requests. Try again in {retry_after} seconds."),
        "fa": (
            "درخواست‌های بیش از حد",
            "تعداد درخواست‌ها زیاد است. {retry_after} ثانیه دیگر تلاش کنید.",
        ),
        "ar": ("طلبات كثيرة جدًا", "طلبات كثيرة جدًا. حاول مرة أخرى بعد {retry_after} ثانية."),
        "tr": ("Çok fazla istek", "Çok fazla istek. {retry_after} saniye sonra tekrar deneyin."),
    },
    "invalid_phone": {
        "en": (
            "Invalid phone number",
            "Enter a mobile number such as 09121234567 or +14155550123.",
        ),
        "fa": (
            "شماره تلفن نامعتبر",
            "یک شماره موبایل مانند 09121234567 یا +14155550123 وارد کنید.",
        ),
        "ar": ("رقم هاتف غير صالح", "أدخل رقم جوال مثل 09121234567 أو ‎+14155550123."),
        "tr": (
            "Geçersiz telefon numarası",
            "09121234567 veya +14155550123 gibi bir cep numarası girin.",
        ),
    },
    "otp_recently_sent": {
        "en": (
            "Code already sent",
            "A code was just sent. Request a new one in {retry_after} seconds.",
        ),
        "fa": (
            "کد ارسال شده است",
            "کدی همین حالا ارسال شد. {retry_after} ثانیه دیگر کد جدید بخواهید.",
        ),
        "ar": ("تم إرسال الرمز", "تم إرسال رمز للتو. اطلب رمزًا جديدًا بعد {retry_after} ثانية."),
        "tr": (
            "Kod zaten gönderildi",
            "Az önce bir kod gönderildi. {retry_after} saniye sonra yenisini isteyin.",
        ),
    },
    "otp_delivery_failed": {
        "en": ("Code not delivered", "We could not send the code. Try again shortly."),
        "fa": ("کد ارسال نشد", "ارسال کد ممکن نشد. کمی بعد دوباره تلاش کنید."),
        "ar": ("لم يتم إرسال الرمز", "تعذّر إرسال الرمز. حاول مرة أخرى بعد قليل."),
        "tr": ("Kod gönderilemedi", "Kodu gönderemedik. Birazdan tekrar deneyin."),
    },
    "otp_new_code_needed": {
        "en": (
            "New code needed",
            "Too many wrong codes: this code no longer works. Request a new code.",
        ),
        "fa": (
            "کد جدید لازم است",
            "کد اشتباه بیش از حد وارد شد و این کد دیگر کار نمی‌کند. کد جدید بخواهید.",
        ),
        "ar": (
            "يلزم رمز جديد",
            "أُدخلت رموز خاطئة كثيرة: لم يعد هذا الرمز صالحًا. اطلب رمزًا جديدًا.",
        ),
        "tr": (
            "Yeni kod gerekli",
            "Çok fazla yanlış kod girildi: bu kod artık geçerli değil. Yeni bir kod isteyin.",
        ),
    },
    "otp_invalid": {
        "en": ("Invalid code", "The code is wrong, used or expired. Request a new code if needed."),
        "fa": ("کد نامعتبر", "کد اشتباه، استفاده‌شده یا منقضی است. در صورت نیاز کد جدید بخواهید."),
        "ar": (
            "رمز غير صالح",
            "الرمز خاطئ أو مستخدم أو منتهي الصلاحية. اطلب رمزًا جديدًا عند الحاجة.",
        ),
        "tr": (
            "Geçersiz kod",
            "Kod yanlış, kullanılmış veya süresi dolmuş. Gerekirse yeni kod isteyin.",
        ),
    },
    "account_inactive": {
        "en": ("Account disabled", "This account is disabled. Contact support."),
        "fa": ("حساب غیرفعال", "این حساب غیرفعال است. با پشتیبانی تماس بگیرید."),
        "ar": ("الحساب معطّل", "هذا الحساب معطّل. تواصل مع الدعم."),
        "tr": ("Hesap devre dışı", "Bu hesap devre dışı. Destek ile iletişime geçin."),
    },
    "not_authenticated": {
        "en": (
            "Authentication required",
            "Send a valid access token as 'Authorization: Bearer …'.",
        ),
        "fa": ("احراز هویت لازم است", "یک توکن دسترسی معتبر با 'Authorization: Bearer …' بفرستید."),
        "ar": ("المصادقة مطلوبة", "أرسل رمز وصول صالحًا في 'Authorization: Bearer …'."),
        "tr": (
            "Kimlik doğrulama gerekli",
            "Geçerli bir erişim belirtecini 'Authorization: Bearer …' ile gönderin.",
        ),
    },
    "token_invalid": {
        "en": ("Invalid token", "The access token is invalid or expired. Refresh it and retry."),
        "fa": (
            "توکن نامعتبر",
            "توکن دسترسی نامعتبر یا منقضی است. آن را تازه کنید و دوباره تلاش کنید.",
        ),
        "ar": ("رمز غير صالح", "رمز الوصول غير صالح أو منتهي. جدّده وأعد المحاولة."),
        "tr": (
            "Geçersiz belirteç",
            "Erişim belirteci geçersiz veya süresi dolmuş. Yenileyip tekrar deneyin.",
        ),
    },
    "refresh_token_invalid": {
        "en": (
            "Invalid refresh token",
            "The refresh token is invalid, expired or revoked. Log in again.",
        ),
        "fa": (
            "توکن تازه‌سازی نامعتبر",
            "توکن تازه‌سازی نامعتبر، منقضی یا باطل شده است. دوباره وارد شوید.",
        ),
        "ar": ("رمز تحديث غير صالح", "رمز التحديث غير صالح أو منتهي أو ملغى. سجّل الدخول مجددًا."),
        "tr": (
            "Geçersiz yenileme belirteci",
            "Yenileme belirteci geçersiz, süresi dolmuş veya iptal edilmiş. Tekrar giriş yapın.",
        ),
    },
    "refresh_token_reused": {
        "en": (
            "Refresh token reused",
            "This refresh token was already used; the login was ended for safety. Log in again.",
        ),
        "fa": (
            "توکن تازه‌سازی تکراری",
            "این توکن قبلاً استفاده شده و برای امنیت، نشست پایان یافت. دوباره وارد شوید.",
        ),
        "ar": (
            "إعادة استخدام رمز التحديث",
            "استُخدم هذا الرمز من قبل؛ أُنهيت الجلسة للأمان. سجّل الدخول مجددًا.",
        ),
        "tr": (
            "Yenileme belirteci yeniden kullanıldı",
            "Bu belirteç zaten kullanıldı; güvenlik için oturum kapatıldı. Tekrar giriş yapın.",
        ),
    },
    "forbidden": {
        "en": ("Forbidden", "You are not allowed to do this."),
        "fa": ("غیرمجاز", "شما اجازه انجام این کار را ندارید."),
        "ar": ("ممنوع", "غير مسموح لك بهذا الإجراء."),
        "tr": ("Yasak", "Bunu yapmaya yetkiniz yok."),
    },
    "conflict": {
        "en": ("Conflict", "The request conflicts with the current state."),
        "fa": ("تعارض", "درخواست با وضعیت فعلی در تعارض است."),
        "ar": ("تعارض", "الطلب يتعارض مع الحالة الحالية."),
        "tr": ("Çakışma", "İstek mevcut durumla çakışıyor."),
    },
    "transition_not_allowed": {
        "en": ("Not allowed now", "This {entity} is '{current}': it cannot be {action}."),
        "fa": ("اکنون مجاز نیست", "{entity} در وضعیت «{current}» را نمی‌توان {action} کرد."),
        "ar": ("غير مسموح الآن", "لا يمكن تنفيذ {action} على {entity} في الحالة '{current}'."),
        "tr": (
            "Şu an izin verilmiyor",
            "'{current}' durumundaki {entity} için {action} yapılamaz.",
        ),
    },
    "business_id_taken": {
        "en": ("Address taken", "Another market already uses this business id."),
        "fa": ("نشانی تکراری", "بازارچه دیگری از این شناسه کسب‌وکار استفاده می‌کند."),
        "ar": ("العنوان مستخدم", "متجر آخر يستخدم معرّف النشاط هذا."),
        "tr": ("Adres alınmış", "Başka bir pazar bu işletme kimliğini kullanıyor."),
    },
    "subscription_fee_unpaid": {
        "en": (
            "Subscription fee unpaid",
            "Pay the market's subscription fee before submitting it for review.",
        ),
        "fa": ("حق اشتراک پرداخت نشده", "پیش از ارسال برای بررسی، حق اشتراک بازارچه را بپردازید."),
        "ar": ("رسوم الاشتراك غير مدفوعة", "ادفع رسوم اشتراك المتجر قبل إرساله للمراجعة."),
        "tr": (
            "Abonelik ücreti ödenmedi",
            "İncelemeye göndermeden önce pazarın abonelik ücretini ödeyin.",
        ),
    },
    "market_not_ready": {
        "en": (
            "Not ready for review",
            "Pay the subscription fee and complete the contact and location details; "
            "the list says what is missing.",
        ),
        "fa": (
            "آماده بررسی نیست",
            "حق اشتراک را بپردازید و اطلاعات تماس و موقعیت را کامل کنید؛ فهرست، موارد کم را نشان می‌دهد.",
        ),
        "ar": (
            "غير جاهز للمراجعة",
            "ادفع رسوم الاشتراك وأكمل بيانات التواصل والموقع؛ القائمة تبيّن ما ينقص.",
        ),
        "tr": (
            "İncelemeye hazır değil",
            "Abonelik ücretini ödeyin, iletişim ve konum bilgilerini tamamlayın; eksikler listede.",
        ),
    },
    "market_profile_incomplete": {
        "en": ("Profile incomplete", "Add the market's contact and location before submitting it."),
        "fa": ("نمایه ناقص", "پیش از ارسال، اطلاعات تماس و موقعیت بازارچه را وارد کنید."),
        "ar": ("الملف غير مكتمل", "أضف بيانات التواصل والموقع للمتجر قبل إرساله."),
        "tr": ("Profil eksik", "Göndermeden önce pazarın iletişim ve konum bilgilerini ekleyin."),
    },
    "revision_pending": {
        "en": (
            "Edit awaiting review",
            "An earlier edit of this market is still waiting for review.",
        ),
        "fa": ("ویرایش در انتظار بررسی", "ویرایش قبلی این بازارچه هنوز در انتظار بررسی است."),
        "ar": ("تعديل قيد المراجعة", "تعديل سابق لهذا المتجر ما زال بانتظار المراجعة."),
        "tr": (
            "Düzenleme incelemede",
            "Bu pazarın önceki bir düzenlemesi hâlâ incelemeyi bekliyor.",
        ),
    },
    "member_exists": {
        "en": (
            "Already a colleague",
            "This person is already the owner or a colleague of the market.",
        ),
        "fa": ("همکار موجود", "این شخص مالک یا همکار این بازارچه است."),
        "ar": ("زميل بالفعل", "هذا الشخص مالك المتجر أو زميل فيه بالفعل."),
        "tr": ("Zaten çalışma arkadaşı", "Bu kişi zaten pazarın sahibi veya çalışma arkadaşı."),
    },
    "invite_invalid": {
        "en": ("Invite not valid", "This invite link is unknown, expired, used up or revoked."),
        "fa": ("دعوت‌نامه نامعتبر", "این پیوند دعوت ناشناخته، منقضی، تمام‌شده یا لغوشده است."),
        "ar": ("دعوة غير صالحة", "رابط الدعوة هذا غير معروف أو منتهٍ أو مستنفد أو ملغى."),
        "tr": (
            "Davet geçersiz",
            "Bu davet bağlantısı bilinmiyor, süresi dolmuş, tükenmiş veya iptal edilmiş.",
        ),
    },
    "product_unavailable": {
        "en": ("Product unavailable", "This product is not on sale right now."),
        "fa": ("کالا در دسترس نیست", "این کالا در حال حاضر برای فروش نیست."),
        "ar": ("المنتج غير متاح", "هذا المنتج غير معروض للبيع حاليًا."),
        "tr": ("Ürün mevcut değil", "Bu ürün şu anda satışta değil."),
    },
    "insufficient_stock": {
        "en": ("Not enough stock", "Only {available} left of '{product}'."),
        "fa": ("موجودی کافی نیست", "از «{product}» فقط {available} عدد باقی مانده است."),
        "ar": ("المخزون غير كافٍ", "تبقّى {available} فقط من '{product}'."),
        "tr": ("Stok yetersiz", "'{product}' üründen yalnızca {available} adet kaldı."),
    },
    "stock_below_reserved": {
        "en": (
            "Stock below held units",
            "Open orders hold {reserved} units of this product: stock cannot be set lower.",
        ),
        "fa": (
            "موجودی کمتر از واحدهای رزروشده",
            "سفارش‌های باز {reserved} واحد از این کالا را نگه داشته‌اند: موجودی نمی‌تواند کمتر باشد.",
        ),
        "ar": (
            "المخزون أقل من الوحدات المحجوزة",
            "تحجز الطلبات المفتوحة {reserved} وحدة من هذا المنتج: لا يمكن تعيين مخزون أقل.",
        ),
        "tr": (
            "Stok ayrılmış birimlerin altında",
            "Açık siparişler bu üründen {reserved} birim ayırmış: stok daha düşük olamaz.",
        ),
    },
    "usage_limit_below_uses": {
        "en": (
            "Limit below uses",
            "This code is already used or held {uses} times: the limit cannot be set lower.",
        ),
        "fa": (
            "سقف کمتر از استفاده‌ها",
            "این کد تاکنون {uses} بار استفاده یا رزرو شده است: سقف نمی‌تواند کمتر باشد.",
        ),
        "ar": (
            "الحد أقل من الاستخدامات",
            "استُخدم هذا الرمز أو حُجز {uses} مرة: لا يمكن تعيين حد أقل.",
        ),
        "tr": (
            "Sınır kullanımın altında",
            "Bu kod zaten {uses} kez kullanıldı veya ayrıldı: sınır daha düşük olamaz.",
        ),
    },
    "cart_empty": {
        "en": ("Cart empty", "Add products to the cart before checking out."),
        "fa": ("سبد خالی است", "پیش از تسویه، کالا به سبد اضافه کنید."),
        "ar": ("السلة فارغة", "أضف منتجات إلى السلة قبل الدفع."),
        "tr": ("Sepet boş", "Ödemeden önce sepete ürün ekleyin."),
    },
    "cart_changed": {
        "en": ("Cart changed", "Some products in the cart are no longer on sale. Review the cart."),
        "fa": ("سبد تغییر کرده است", "برخی کالاهای سبد دیگر فروخته نمی‌شوند. سبد را بازبینی کنید."),
        "ar": ("تغيّرت السلة", "بعض المنتجات في السلة لم تعد معروضة. راجع السلة."),
        "tr": (
            "Sepet değişti",
            "Sepetteki bazı ürünler artık satışta değil. Sepeti gözden geçirin.",
        ),
    },
    "discount_invalid": {
        "en": ("Code not valid", "This discount code cannot be used: {reason}."),
        "fa": ("کد نامعتبر", "این کد تخفیف قابل استفاده نیست: {reason}."),
        "ar": ("رمز غير صالح", "لا يمكن استخدام رمز الخصم هذا: {reason}."),
        "tr": ("Kod geçersiz", "Bu indirim kodu kullanılamaz: {reason}."),
    },
    "idempotency_key_invalid": {
        "en": (
            "Bad Idempotency-Key",
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
        ),
        "fa": (
            "کلید Idempotency-Key نامعتبر",
            "سرآیند Idempotency-Key باید ۱ تا ۲۵۵ نویسه قابل چاپ ASCII باشد.",
        ),
        "ar": (
            "مفتاح Idempotency-Key غير صالح",
            "يجب أن يكون Idempotency-Key من 1 إلى 255 حرفًا قابلًا للطباعة من ASCII.",
        ),
        "tr": (
            "Geçersiz Idempotency-Key",
            "Idempotency-Key başlığı 1-255 yazdırılabilir ASCII karakter olmalıdır.",
        ),
    },
    "idempotency_key_reused": {
        "en": (
            "Idempotency-Key reused",
            "This Idempotency-Key was used with a different request body.",
        ),
        "fa": ("کلید تکراری", "این Idempotency-Key پیش‌تر با بدنه دیگری استفاده شده است."),
        "ar": ("مفتاح مُعاد استخدامه", "استُخدم مفتاح Idempotency-Key هذا مع محتوى طلب مختلف."),
        "tr": (
            "Idempotency-Key yeniden kullanıldı",
            "Bu Idempotency-Key farklı bir istek gövdesiyle kullanıldı.",
        ),
    },
    "idempotency_in_progress": {
        "en": (
            "Still in progress",
            "The first request with this Idempotency-Key is still running. Retry shortly.",
        ),
        "fa": (
            "در حال انجام",
            "درخواست نخست با این Idempotency-Key هنوز در حال اجراست. کمی بعد تلاش کنید.",
        ),
        "ar": (
            "قيد التنفيذ",
            "الطلب الأول بهذا المفتاح ما زال قيد التنفيذ. أعد المحاولة بعد قليل.",
        ),
        "tr": (
            "Hâlâ sürüyor",
            "Bu Idempotency-Key ile ilk istek hâlâ işleniyor. Birazdan tekrar deneyin.",
        ),
    },
    "insufficient_funds": {
        "en": ("Insufficient balance", "Your {currency} balance is not enough for this payment."),
        "fa": ("موجودی کافی نیست", "موجودی {currency} شما برای این پرداخت کافی نیست."),
        "ar": ("الرصيد غير كافٍ", "رصيدك بعملة {currency} لا يكفي لهذه العملية."),
        "tr": ("Yetersiz bakiye", "{currency} bakiyeniz bu ödeme için yeterli değil."),
    },
    "recipient_not_found": {
        "en": ("Unknown recipient", "No ASOUD account uses this mobile number."),
        "fa": ("گیرنده ناشناس", "هیچ حساب آسودی با این شماره موبایل وجود ندارد."),
        "ar": ("مستلم غير معروف", "لا يوجد حساب آسود بهذا الرقم."),
        "tr": ("Bilinmeyen alıcı", "Bu cep numarasını kullanan bir ASOUD hesabı yok."),
    },
    "currency_mismatch": {
        "en": ("Wrong currency", "This payment must be made in {currency}."),
        "fa": ("ارز نادرست", "این پرداخت باید به {currency} انجام شود."),
        "ar": ("عملة خاطئة", "يجب أن تتم هذه العملية بعملة {currency}."),
        "tr": ("Yanlış para birimi", "Bu ödeme {currency} ile yapılmalıdır."),
    },
    "payment_gateway_unavailable": {
        "en": (
            "Payment gateway unavailable",
            "The payment gateway did not answer. Nothing was charged; try again shortly.",
        ),
        "fa": (
            "درگاه پرداخت در دسترس نیست",
            "درگاه پرداخت پاسخ نداد. مبلغی کسر نشد؛ کمی بعد دوباره تلاش کنید.",
        ),
        "ar": ("بوابة الدفع غير متاحة", "لم تستجب بوابة الدفع. لم يُخصم أي مبلغ؛ حاول بعد قليل."),
        "tr": (
            "Ödeme ağ geçidi kullanılamıyor",
            "Ödeme ağ geçidi yanıt vermedi. Ücret alınmadı; birazdan tekrar deneyin.",
        ),
    },
    "already_paid": {
        "en": ("Already paid", "This has been paid already."),
        "fa": ("قبلاً پرداخت شده", "این مورد پیش‌تر پرداخت شده است."),
        "ar": ("مدفوع مسبقًا", "تم دفع هذا من قبل."),
        "tr": ("Zaten ödendi", "Bu zaten ödendi."),
    },
    "too_many_open_orders": {
        "en": (
            "Too many unpaid orders",
            "You have {limit} unpaid orders in this market. Pay or cancel one first.",
        ),
        "fa": (
            "سفارش‌های پرداخت‌نشده زیاد است",
            "شما {limit} سفارش پرداخت‌نشده در این فروشگاه دارید. ابتدا یکی را پرداخت یا لغو کنید.",
        ),
        "ar": (
            "طلبات غير مدفوعة كثيرة",
            "لديك {limit} طلبات غير مدفوعة في هذا المتجر. ادفع أو ألغِ واحدًا أولًا.",
        ),
        "tr": (
            "Ödenmemiş sipariş çok fazla",
            "Bu mağazada {limit} ödenmemiş siparişiniz var. Önce birini ödeyin veya iptal edin.",
        ),
    },
    "too_many_units_held": {
        "en": (
            "Too many items held",
            "Your unpaid orders in this market may hold at most {limit} items.",
        ),
        "fa": (
            "اقلام رزروشده زیاد است",
            "سفارش‌های پرداخت‌نشده شما در این فروشگاه حداکثر {limit} قلم را می‌توانند نگه دارند.",
        ),
        "ar": (
            "عناصر محجوزة كثيرة",
            "يمكن لطلباتك غير المدفوعة في هذا المتجر حجز {limit} عنصرًا على الأكثر.",
        ),
        "tr": (
            "Çok fazla ürün ayrılmış",
            "Bu mağazadaki ödenmemiş siparişleriniz en fazla {limit} ürün ayırabilir.",
        ),
    },
    "payment_in_progress": {
        "en": (
            "Payment in progress",
            "A payment of this is open at another gateway. Finish it there, or wait until "
            "it is closed.",
        ),
        "fa": (
            "پرداخت در جریان است",
            "پرداختی برای این مورد در درگاه دیگری باز است. آن را تمام کنید یا تا بسته شدنش صبر کنید.",
        ),
        "ar": (
            "الدفع قيد التنفيذ",
            "هناك دفعة مفتوحة لهذا في بوابة أخرى. أكملها هناك أو انتظر حتى تُغلق.",
        ),
        "tr": (
            "Ödeme sürüyor",
            "Bunun için başka bir ödeme sağlayıcısında açık bir ödeme var. Orada tamamlayın "
            "veya kapanmasını bekleyin.",
        ),
    },
    "refund_refused": {
        "en": ("Refund refused", "The payment gateway refused this refund; nothing was moved."),
        "fa": ("بازپرداخت رد شد", "درگاه پرداخت این بازپرداخت را نپذیرفت؛ مبلغی جابه‌جا نشد."),
        "ar": ("رُفض الاسترداد", "رفضت بوابة الدفع هذا الاسترداد؛ لم يُنقل أي مبلغ."),
        "tr": ("İade reddedildi", "Ödeme sağlayıcısı bu iadeyi reddetti; para aktarılmadı."),
    },
    "refund_in_doubt": {
        "en": (
            "Refund being confirmed",
            "The gateway did not say whether this refund went through; asking again could "
            "refund twice. Staff will confirm it with the gateway.",
        ),
        "fa": (
            "بازپرداخت در حال تأیید",
            "درگاه اعلام نکرد این بازپرداخت انجام شد یا نه؛ درخواست دوباره ممکن است دو بار "
            "بازپرداخت کند. پشتیبانی آن را با درگاه تأیید می‌کند.",
        ),
        "ar": (
            "الاسترداد قيد التأكيد",
            "لم تُبلغ البوابة إن كان الاسترداد قد تم؛ قد يؤدي الطلب مجددًا إلى استرداد مزدوج. "
            "سيؤكده فريق الدعم مع البوابة.",
        ),
        "tr": (
            "İade doğrulanıyor",
            "Sağlayıcı bu iadenin yapılıp yapılmadığını bildirmedi; yeniden istemek iki kez "
            "iade edebilir. Ekibimiz sağlayıcıyla doğrulayacak.",
        ),
    },
    "webhook_signature_invalid": {
        "en": ("Bad signature", "The webhook signature is missing, wrong or too old."),
        "fa": ("امضای نامعتبر", "امضای وب‌هوک وجود ندارد، نادرست یا قدیمی است."),
        "ar": ("توقيع غير صالح", "توقيع الويب هوك مفقود أو خاطئ أو قديم."),
        "tr": ("Geçersiz imza", "Webhook imzası eksik, yanlış veya çok eski."),
    },
}

# Field-level validation messages by pydantic error type.
FIELD_MESSAGES: Final[dict[str, dict[str, str]]] = {
    "missing": {
        "en": "This field is required.",
        "fa": "این فیلد الزامی است.",
        "ar": "هذا الحقل مطلوب.",
        "tr": "Bu alan zorunludur.",
    },
    "string_too_short": {
        "en": "Too short.",
        "fa": "بیش از حد کوتاه است.",
        "ar": "قصير جدًا.",
        "tr": "Çok kısa.",
    },
    "string_too_long": {
        "en": "Too long.",
        "fa": "بیش از حد طولانی است.",
        "ar": "طويل جدًا.",
        "tr": "Çok uzun.",
    },
    "string_type": {
        "en": "Must be a string.",
        "fa": "باید متن باشد.",
        "ar": "يجب أن يكون نصًا.",
        "tr": "Metin olmalıdır.",
    },
    "extra_forbidden": {
        "en": "Unknown field.",
        "fa": "فیلد ناشناخته است.",
        "ar": "حقل غير معروف.",
        "tr": "Bilinmeyen alan.",
    },
    "literal_error": {
        "en": "Not one of the allowed values.",
        "fa": "جزو مقادیر مجاز نیست.",
        "ar": "ليست من القيم المسموح بها.",
        "tr": "İzin verilen değerlerden biri değil.",
    },
    "enum": {
        "en": "Not one of the allowed values.",
        "fa": "جزو مقادیر مجاز نیست.",
        "ar": "ليست من القيم المسموح بها.",
        "tr": "İzin verilen değerlerden biri değil.",
    },
    "invalid_phone": {
        "en": "Not a valid mobile number.",
        "fa": "شماره موبایل معتبر نیست.",
        "ar": "ليس رقم جوال صالحًا.",
        "tr": "Geçerli bir cep numarası değil.",
    },
    "otp_format": {
        "en": "The code is made of digits only.",
        "fa": "کد فقط از ارقام تشکیل شده است.",
        "ar": "الرمز يتكون من أرقام فقط.",
        "tr": "Kod yalnızca rakamlardan oluşur.",
    },
    "invalid_business_id": {
        "en": "Use 5-63 lowercase letters, digits or hyphens (not at the ends).",
        "fa": "از ۵ تا ۶۳ حرف کوچک لاتین، رقم یا خط تیره استفاده کنید.",
        "ar": "استخدم من 5 إلى 63 حرفًا لاتينيًا صغيرًا أو رقمًا أو شرطة.",
        "tr": "5-63 küçük harf, rakam veya kısa çizgi kullanın.",
    },
    "overlapping_hours": {
        "en": "Opening hours overlap on the same day.",
        "fa": "ساعات کاری در یک روز هم‌پوشانی دارند.",
        "ar": "ساعات العمل متداخلة في اليوم نفسه.",
        "tr": "Aynı gündeki çalışma saatleri çakışıyor.",
    },
    "invalid_hours": {
        "en": 'Use ["HH:MM", "HH:MM"] with opening before closing.',
        "fa": 'از قالب ["HH:MM", "HH:MM"] با شروع پیش از پایان استفاده کنید.',
        "ar": 'استخدم ["HH:MM", "HH:MM"] مع الفتح قبل الإغلاق.',
        "tr": 'Açılış kapanıştan önce olacak şekilde ["HH:MM", "HH:MM"] kullanın.',
    },
    "invalid_email": {
        "en": "Not a valid e-mail address.",
        "fa": "نشانی ایمیل معتبر نیست.",
        "ar": "ليس عنوان بريد إلكتروني صالحًا.",
        "tr": "Geçerli bir e-posta adresi değil.",
    },
    "invalid_time_zone": {
        "en": 'Not a known time zone; use an IANA name such as "Asia/Tehran".',
        "fa": 'منطقه زمانی شناخته‌شده نیست؛ نامی مانند "Asia/Tehran" به کار ببرید.',
        "ar": 'ليست منطقة زمنية معروفة؛ استخدم اسمًا مثل "Asia/Tehran".',
        "tr": 'Bilinen bir saat dilimi değil; "Asia/Tehran" gibi bir IANA adı kullanın.',
    },
    "invalid_coordinate": {
        "en": "Not a valid coordinate (degrees, up to 6 decimals, within range).",
        "fa": "مختصات معتبر نیست (درجه، حداکثر ۶ رقم اعشار، در محدوده).",
        "ar": "إحداثية غير صالحة (بالدرجات، حتى 6 منازل عشرية، ضمن النطاق).",
        "tr": "Geçerli bir koordinat değil (derece, en fazla 6 ondalık, aralık içinde).",
    },
    "invalid_rate": {
        "en": 'Send a positive rate as a string with up to 8 decimals, e.g. "0.0000165".',
        "fa": 'نرخ مثبت را به صورت رشته با حداکثر ۸ رقم اعشار بفرستید، مثلاً "0.0000165".',
        "ar": 'أرسل سعرًا موجبًا كنص بحد أقصى 8 منازل عشرية، مثل "0.0000165".',
        "tr": 'Pozitif kuru en fazla 8 ondalıklı metin olarak gönderin, örn. "0.0000165".',
    },
    "same_currency": {
        "en": "A rate needs two different currencies.",
        "fa": "نرخ به دو ارز متفاوت نیاز دارد.",
        "ar": "يحتاج السعر إلى عملتين مختلفتين.",
        "tr": "Bir kur iki farklı para birimi gerektirir.",
    },
    "gateway_currency_unsupported": {
        "en": "This payment gateway does not take this currency.",
        "fa": "این درگاه پرداخت این ارز را نمی‌پذیرد.",
        "ar": "بوابة الدفع هذه لا تقبل هذه العملة.",
        "tr": "Bu ödeme sağlayıcısı bu para birimini kabul etmiyor.",
    },
    "amount_below_gateway_minimum": {
        "en": "The amount is below the smallest this payment gateway takes.",
        "fa": "مبلغ کمتر از حداقل مبلغ قابل پذیرش این درگاه است.",
        "ar": "المبلغ أقل من الحد الأدنى الذي تقبله بوابة الدفع هذه.",
        "tr": "Tutar, bu ödeme sağlayıcısının kabul ettiği en küçük tutarın altında.",
    },
    "amount_as_string": {
        "en": 'Send amounts as strings, e.g. "125000".',
        "fa": 'مبلغ را به صورت رشته بفرستید، مثلاً "125000".',
        "ar": 'أرسل المبالغ كنصوص، مثل "125000".',
        "tr": 'Tutarları metin olarak gönderin, örn. "125000".',
    },
    "invalid_amount": {
        "en": "Not a valid amount.",
        "fa": "مبلغ معتبر نیست.",
        "ar": "مبلغ غير صالح.",
        "tr": "Geçerli bir tutar değil.",
    },
    "amount_too_large": {
        "en": "The amount is larger than the platform can carry.",
        "fa": "مبلغ از سقف قابل پردازش بیشتر است.",
        "ar": "المبلغ أكبر مما تستطيع المنصة التعامل معه.",
        "tr": "Tutar platformun taşıyabileceğinden büyük.",
    },
    "too_many_decimals": {
        "en": "Too many decimals for this currency.",
        "fa": "برای این ارز اعشار بیش از حد است.",
        "ar": "منازل عشرية كثيرة لهذه العملة.",
        "tr": "Bu para birimi için fazla ondalık.",
    },
    "invalid_cursor": {
        "en": "Invalid cursor: use next_cursor from the previous page.",
        "fa": "نشانگر نامعتبر: از next_cursor صفحه قبل استفاده کنید.",
        "ar": "مؤشر غير صالح: استخدم next_cursor من الصفحة السابقة.",
        "tr": "Geçersiz imleç: önceki sayfanın next_cursor değerini kullanın.",
    },
    "not_a_leaf_category": {
        "en": "Choose a third-level category.",
        "fa": "یک دسته سطح سوم انتخاب کنید.",
        "ar": "اختر فئة من المستوى الثالث.",
        "tr": "Üçüncü düzey bir kategori seçin.",
    },
    "retired_category": {
        "en": "This category has been retired; choose another.",
        "fa": "این دسته بازنشسته شده است؛ دسته دیگری انتخاب کنید.",
        "ar": "تم إيقاف هذه الفئة؛ اختر فئة أخرى.",
        "tr": "Bu kategori kullanımdan kaldırıldı; başka birini seçin.",
    },
    "leaf_cannot_have_children": {
        "en": "A third-level category cannot have categories under it.",
        "fa": "دسته سطح سوم نمی‌تواند زیردسته داشته باشد.",
        "ar": "لا يمكن أن تحتوي فئة من المستوى الثالث على فئات تحتها.",
        "tr": "Üçüncü düzey bir kategorinin altında kategori olamaz.",
    },
    "fee_only_on_leaves": {
        "en": "Only a third-level category carries a subscription fee.",
        "fa": "فقط دسته سطح سوم هزینه اشتراک دارد.",
        "ar": "رسوم الاشتراك للفئات من المستوى الثالث فقط.",
        "tr": "Abonelik ücreti yalnızca üçüncü düzey kategorilerde olur.",
    },
    "tree_too_deep": {
        "en": "The tree has three levels: groups, categories and their leaves.",
        "fa": "درخت سه سطح دارد: گروه، دسته و زیردسته.",
        "ar": "للشجرة ثلاثة مستويات: مجموعات وفئات وفئات فرعية.",
        "tr": "Ağacın üç düzeyi vardır: gruplar, kategoriler ve alt kategoriler.",
    },
    "duplicate_slug": {
        "en": "This slug appears more than once.",
        "fa": "این شناسه بیش از یک بار آمده است.",
        "ar": "هذا المعرّف مكرر.",
        "tr": "Bu kısa ad birden fazla kez geçiyor.",
    },
    "expiry_in_past": {
        "en": "This time has already passed; a code must expire in the future.",
        "fa": "این زمان گذشته است؛ انقضای کد باید در آینده باشد.",
        "ar": "هذا الوقت قد مضى؛ يجب أن ينتهي الرمز في المستقبل.",
        "tr": "Bu zaman geçti; kodun son kullanma zamanı gelecekte olmalı.",
    },
    "compare_at_not_above_price": {
        "en": "The compare-at price must be higher than the price.",
        "fa": "قیمت پیش از تخفیف باید از قیمت فروش بیشتر باشد.",
        "ar": "يجب أن يكون السعر قبل الخصم أعلى من سعر البيع.",
        "tr": "Karşılaştırma fiyatı satış fiyatından yüksek olmalı.",
    },
    "quiet_hours_need_both_ends": {
        "en": "Quiet hours need both a start and an end.",
        "fa": "ساعات سکوت هم شروع و هم پایان لازم دارد.",
        "ar": "ساعات الهدوء تحتاج إلى بداية ونهاية.",
        "tr": "Sessiz saatlerin hem başlangıcı hem bitişi olmalı.",
    },
    "quiet_hours_empty": {
        "en": "Quiet hours cannot start and end at the same time.",
        "fa": "ساعات سکوت نمی‌تواند در یک زمان شروع و تمام شود.",
        "ar": "لا يمكن أن تبدأ ساعات الهدوء وتنتهي في الوقت نفسه.",
        "tr": "Sessiz saatler aynı anda başlayıp bitemez.",
    },
    "email_needs_address": {
        "en": "Give an e-mail address to receive notifications by e-mail.",
        "fa": "برای دریافت اعلان با ایمیل، نشانی ایمیل را وارد کنید.",
        "ar": "أدخل عنوان بريد إلكتروني لتلقي الإشعارات عبره.",
        "tr": "E-posta ile bildirim almak için bir e-posta adresi girin.",
    },
    "unknown_category": {
        "en": "No such category.",
        "fa": "چنین دسته‌ای وجود ندارد.",
        "ar": "لا توجد فئة كهذه.",
        "tr": "Böyle bir kategori yok.",
    },
    "invalid_percentage": {
        "en": "A percentage is between 1 and 100.",
        "fa": "درصد باید بین ۱ و ۱۰۰ باشد.",
        "ar": "النسبة بين 1 و100.",
        "tr": "Yüzde 1 ile 100 arasında olmalıdır.",
    },
    "greater_than_equal": {
        "en": "Too small.",
        "fa": "بیش از حد کوچک است.",
        "ar": "صغير جدًا.",
        "tr": "Çok küçük.",
    },
    "less_than_equal": {
        "en": "Too large.",
        "fa": "بیش از حد بزرگ است.",
        "ar": "كبير جدًا.",
        "tr": "Çok büyük.",
    },
    "int_parsing": {
        "en": "Must be a whole number.",
        "fa": "باید عدد صحیح باشد.",
        "ar": "يجب أن يكون عددًا صحيحًا.",
        "tr": "Tam sayı olmalıdır.",
    },
    "uuid_parsing": {
        "en": "Must be an id (UUID).",
        "fa": "باید شناسه (UUID) باشد.",
        "ar": "يجب أن يكون معرّفًا (UUID).",
        "tr": "Bir kimlik (UUID) olmalıdır.",
    },
    "discount_unknown": {
        "en": "no such code in this market",
        "fa": "چنین کدی در این بازارچه نیست",
        "ar": "لا يوجد رمز كهذا في هذا المتجر",
        "tr": "bu pazarda böyle bir kod yok",
    },
    "discount_inactive": {
        "en": "the code was switched off",
        "fa": "کد غیرفعال شده است",
        "ar": "تم إيقاف الرمز",
        "tr": "kod devre dışı bırakıldı",
    },
    "discount_expired": {
        "en": "the code has expired",
        "fa": "کد منقضی شده است",
        "ar": "انتهت صلاحية الرمز",
        "tr": "kodun süresi doldu",
    },
    "discount_used_up": {
        "en": "the code has been used up",
        "fa": "ظرفیت کد تمام شده است",
        "ar": "استُنفد الرمز",
        "tr": "kodun kullanım hakkı bitti",
    },
    "discount_not_for_you": {
        "en": "the code is reserved for other customers",
        "fa": "کد برای مشتریان دیگری است",
        "ar": "الرمز مخصص لعملاء آخرين",
        "tr": "kod başka müşterilere ayrılmış",
    },
    "discount_already_used": {
        "en": "you have already used this code",
        "fa": "شما پیش‌تر از این کد استفاده کرده‌اید",
        "ar": "لقد استخدمت هذا الرمز من قبل",
        "tr": "bu kodu zaten kullandınız",
    },
    "discount_not_applicable": {
        "en": "the code does not apply to this cart",
        "fa": "کد برای این سبد کاربرد ندارد",
        "ar": "الرمز لا ينطبق على هذه السلة",
        "tr": "kod bu sepete uygulanamaz",
    },
    "self_transfer": {
        "en": "You cannot send money to yourself.",
        "fa": "نمی‌توانید به خودتان پول بفرستید.",
        "ar": "لا يمكنك إرسال المال إلى نفسك.",
        "tr": "Kendinize para gönderemezsiniz.",
    },
    "unsupported_currency": {
        "en": "This currency is not supported.",
        "fa": "این ارز پشتیبانی نمی‌شود.",
        "ar": "هذه العملة غير مدعومة.",
        "tr": "Bu para birimi desteklenmiyor.",
    },
    "unknown_gateway": {
        "en": "This payment gateway is not available.",
        "fa": "این درگاه پرداخت در دسترس نیست.",
        "ar": "بوابة الدفع هذه غير متاحة.",
        "tr": "Bu ödeme ağ geçidi kullanılamıyor.",
    },
    "invalid": {
        "en": "Invalid value.",
        "fa": "مقدار نامعتبر است.",
        "ar": "قيمة غير صالحة.",
        "tr": "Geçersiz değer.",
    },
}


def translate(code: str, language: str | None = None, **params: object) -> tuple[str, str]:
    """Return ``(title, detail)`` for a message code in the given (or current) language."""
    lang = language or current_language.get()
    entry = MESSAGES.get(code) or MESSAGES["internal_error"]
    title, detail = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    try:
        detail = detail.format(**params)
    except (KeyError, IndexError):
        detail = detail.replace("{", "").replace("}", "")
    return title, detail


def translate_field_error(error_type: str, language: str | None = None) -> str:
    lang = language or current_language.get()
    entry = FIELD_MESSAGES.get(error_type) or FIELD_MESSAGES["invalid"]
    return entry.get(lang) or entry[DEFAULT_LANGUAGE]
