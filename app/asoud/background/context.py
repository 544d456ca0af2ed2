"""The platform resources of a worker process, for task handlers."""

from __future__ import annotations

from asoud.runtime import Platform

_platform: Platform | None = None


def set_platform(platform: Platform | None) -> None:
    global _platform
    _platform = platform


def current_platform() -> Platform:
    if _platform is None:
        raise RuntimeError("no platform: tasks run inside `asoud worker` or the quick start")
    return _platform
