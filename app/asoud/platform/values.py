"""Small value types the API's schemas share: times of day, time zones, e-mail addresses.

Each is checked by the server with exactly the rule its JSON Schema states (ASCII digits,
whole-string matches), so the OpenAPI document and the server never disagree.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import BeforeValidator, Field, WithJsonSchema

# What pydantic's str_strip_whitespace strips (Rust's char::is_whitespace, Unicode White_Space);
# spelled out because "\s" means something different in Python, ECMA-262 and Rust.
WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

TIME_OF_DAY = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
# A closing time may be midnight at the end of the day.
CLOSING_TIME = re.compile(r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
_EMAIL_PART = f"[^@\\x00{WHITESPACE}]+"
# An address, or empty for none; at most 200 characters.
EMAIL = re.compile(f"^(?:{_EMAIL_PART}@{_EMAIL_PART}\\.{_EMAIL_PART})?$")


def whole_match(pattern: re.Pattern[str], value: object, code: str) -> str:
    """``value`` if it is a string the pattern matches whole; else ValueError(message code)."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(code)
    return value


def matching(pattern: re.Pattern[str], code: str) -> Any:
    """A validator refusing (with the message code) anything but a whole-string match."""
    return BeforeValidator(lambda value: whole_match(pattern, value, code))


TimeOfDay = Annotated[
    str,
    matching(TIME_OF_DAY, "invalid_hours"),
    WithJsonSchema({"type": "string", "pattern": TIME_OF_DAY.pattern, "examples": ["22:00"]}),
]
ClosingTime = Annotated[
    str,
    matching(CLOSING_TIME, "invalid_hours"),
    WithJsonSchema({"type": "string", "pattern": CLOSING_TIME.pattern, "examples": ["24:00"]}),
]
EmailAddress = Annotated[
    str,
    matching(EMAIL, "invalid_email"),
    Field(max_length=200),
    WithJsonSchema({"type": "string", "maxLength": 200, "pattern": EMAIL.pattern}),
]


@cache
def time_zones() -> frozenset[str]:
    """IANA names from the tz database the process has (tzdata in the image)."""
    return frozenset(available_timezones())


def _time_zone(value: object) -> object:
    if not isinstance(value, str) or value not in time_zones():
        raise ValueError("invalid_time_zone")
    return value


TimeZone = Annotated[
    str,
    BeforeValidator(_time_zone),
    WithJsonSchema({"type": "string", "enum": sorted(time_zones()), "examples": ["Asia/Tehran"]}),
]
