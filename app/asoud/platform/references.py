"""References to things outside the API: images people see in apps and on web pages.

Only ``https://`` URLs are accepted (empty clears a reference): a ``javascript:`` or
``data:`` URL in a product image or a market logo would run in, or mislead, every client
that renders it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from asoud.platform.values import WHITESPACE

# No controls, spaces or quotes inside a URL; spelled without "\s", which Python, ECMA-262 and
# Rust (pydantic's engine) read differently.
IMAGE_REF_PATTERN = f"^(?:https://[^\\x00-\\x20\\x7f<>\"'`{WHITESPACE}]+)?$"

ImageRef = Annotated[
    str,
    Field(
        max_length=300,
        pattern=IMAGE_REF_PATTERN,
        description="an https:// URL of an image (empty: none)",
        examples=["https://cdn.example.com/p/42.jpg"],
    ),
]
