"""The ceiling: a bare Starlette app answering pre-rendered JSON bytes of a requested size.

`GET /bytes/{size}` returns ``size`` bytes of JSON from memory, with no middleware, on the same
uvicorn (uvloop, httptools) as `asoud serve`. Whatever ASOUD does beyond this is its overhead;
the catalogue benchmark divides ASOUD's throughput by this app's in the same run.
"""

from __future__ import annotations

from functools import lru_cache

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@lru_cache(maxsize=64)
def _body(size: int) -> bytes:
    filler = max(0, size - len(b'{"items":[],"pad":""}'))
    return b'{"items":[],"pad":"' + b"x" * filler + b'"}'


async def pre_rendered(request: Request) -> Response:
    return Response(_body(int(request.path_params["size"])), media_type="application/json")


app = Starlette(routes=[Route("/bytes/{size:int}", pre_rendered)])
