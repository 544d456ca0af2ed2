"""References to things outside the API: images people see in apps and on web pages.

Only ``https://`` URLs are accepted (empty clears a reference): a ``javascript:`` or
``data:`` URL in a product image or a market logo would run in, or mislead, every client
that renders it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

IMAGE_REF_PATTERN = r"^(https://[^\s<>\"'`]+)?$"

ImageRef = Annotated[
    str,
    Field(
        max_length=300,
        pattern=IMAGE_REF_PATTERN,
        description="an https:// URL of an image (empty: none)",
        examples=["https://cdn.example.com/p/42.jpg"],
    ),
]
