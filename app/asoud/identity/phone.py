"""Mobile numbers: Iranian ``09xxxxxxxxx`` and international E.164, normalised to E.164."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


# Persian (۰-۹) and Arabic-Indic (٠-٩) digits, as phone keyboards in Iran and the Arab world
# type them; spaces, dashes, parentheses and the invisible marks pasted numbers carry.
_ASCII_DIGITS = str.maketrans(
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩",
    "01234567890123456789",
    " -()\u00a0\u200c\u200d\u200e\u200f\u202a\u202b\u202c",
)


def normalise_phone(raw: str) -> str:
    """Return the E.164 form of a mobile number or raise ``ValueError("invalid_phone")``.
    Accepts Persian and Arabic-Indic digits and the usual separators."""
    text = raw.strip().translate(_ASCII_DIGITS)
    if text.startswith("00"):
        text = "+" + text[2:]
    region = None if text.startswith("+") else "IR"
    if region == "IR" and not (
        len(text) == 11 and text.startswith("09") and text.isascii() and text.isdigit()
    ):
        raise ValueError("invalid_phone")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise ValueError("invalid_phone") from None
    if (
        not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in _MOBILE_TYPES
    ):
        raise ValueError("invalid_phone")
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def mask_phone(phone: str) -> str:
    """For humans reading logs or screens: keep the country code and last two digits."""
    return phone[:3] + "*" * max(0, len(phone) - 5) + phone[-2:]
