"""A fake of Prometheus' HTTP query API (``GET /api/v1/query``) answering with the burn
rates a test sets, so the operator's real client code is exercised over HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakePrometheus:
    """``error_ratio`` per window for the availability SLO; budget queries get ``spent``."""

    error_ratio: dict[str, float] = field(default_factory=lambda: {"1h": 0.0, "6h": 0.0})
    spent_ratio: float = 0.0
    queries: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def query(request: Request) -> JSONResponse:
            promql = request.query_params["query"]
            self.queries.append(promql)
            now = time.time()
            if promql.startswith("asoud_slo:error_ratio:rate"):
                window = promql.removeprefix("asoud_slo:error_ratio:rate").split("{", 1)[0]
                store = promql.split('asoud_store="', 1)[1].split('"', 1)[0]
                result = [
                    {
                        "metric": {
                            "__name__": "asoud_slo:error_ratio",
                            "slo": slo,
                            "asoud_store": store,
                        },
                        "value": [
                            now,
                            str(
                                self.error_ratio.get(window, 0.0) if slo == "availability" else 0.0
                            ),
                        ],
                    }
                    for slo in ("availability", "latency")
                ]
            else:
                result = [{"metric": {}, "value": [now, str(self.spent_ratio)]}]
            return JSONResponse(
                {"status": "success", "data": {"resultType": "vector", "result": result}}
            )

        return Starlette(routes=[Route("/api/v1/query", query)])
