"""A store's SLOs: its objectives applied to the platform's SLO definitions (for its
PrometheusRule), and its burn rates read back from Prometheus (SLOMet, rollout halting)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from asoud.observability.rules import BURN_ALERTS, RECORD, Slo, load_slos
from asoud_operator.spec import StoreSpec

# spec.slo field -> SLO name in app/asoud/observability/slos.yaml
OBJECTIVES = {
    "availability": "availability",
    "latencyObjective": "latency",
    "paymentSuccess": "payments",
    "cacheHitRatio": "cache",
}
# The latency histogram's bucket bounds, as prometheus_client writes them in `le`.
BUCKET_LABELS = {50: "0.05", 100: "0.1", 200: "0.2", 300: "0.3", 500: "0.5", 1000: "1.0"}
# Page-level burn: the fast-burn thresholds of the multi-window alerts (14.4x and 6x).
FAST_BURN = {long: factor for level, factor, long, _ in BURN_ALERTS if level == "page"}


def store_slos(spec: StoreSpec) -> list[Slo]:
    """The platform's SLOs with this store's objectives and latency threshold."""
    threshold = BUCKET_LABELS[int(spec.slo.get("latencyThresholdMs", 200))]
    result = []
    for slo in load_slos():
        field = next((f for f, name in OBJECTIVES.items() if name == slo.name), None)
        if field and field in spec.slo:
            slo = replace(slo, objective=float(spec.slo[field]))
        if slo.name == "latency":
            slo = replace(slo, bad=slo.bad.replace('le="0.2"', f'le="{threshold}"'))
        result.append(slo)
    return result


@dataclass(frozen=True)
class BurnRates:
    burn_1h: float
    burn_6h: float
    budget_remaining: float

    @property
    def fast(self) -> bool:
        return self.burn_1h > FAST_BURN["1h"] or self.burn_6h > FAST_BURN["6h"]


async def _query(session: aiohttp.ClientSession, url: str, promql: str) -> list[dict[str, Any]]:
    async with session.get(f"{url.rstrip('/')}/api/v1/query", params={"query": promql}) as response:
        response.raise_for_status()
        payload = await response.json()
    if payload.get("status") != "success":
        raise ValueError("Prometheus answered with an error")
    return list(payload["data"]["result"])


async def read_burn_rates(
    url: str, store: str, selector: str, slos: list[Slo], window: str
) -> BurnRates | None:
    """The worst burn rate over 1 h and 6 h across the store's SLOs, and the smallest error
    budget left over the SLO window; None when Prometheus cannot answer."""
    budgets = {slo.name: slo.error_budget for slo in slos}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            burns = {}
            for window_name in ("1h", "6h"):
                rows = await _query(
                    session, url, f'{RECORD.format(window=window_name)}{{asoud_store="{store}"}}'
                )
                burns[window_name] = max(
                    (
                        float(row["value"][1]) / budgets[row["metric"]["slo"]]
                        for row in rows
                        if row["metric"].get("slo") in budgets and row["value"][1] not in ("NaN",)
                    ),
                    default=0.0,
                )
            remaining = 1.0
            for objective in slos:
                bad = _windowed(objective.bad, window, selector)
                total = _windowed(objective.total, window, selector)
                rows = await _query(session, url, f"({bad}) / ({total})")
                if rows and rows[0]["value"][1] not in ("NaN",):
                    spent = float(rows[0]["value"][1]) / objective.error_budget
                    remaining = min(remaining, 1 - spent)
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        return None
    return BurnRates(burns["1h"], burns["6h"], round(remaining, 4))


def _windowed(template: str, window: str, selector: str) -> str:
    return (
        template.replace("$window", window)
        .replace(",$selector", f",{selector}")
        .replace("{$selector}", f"{{{selector}}}")
    )
