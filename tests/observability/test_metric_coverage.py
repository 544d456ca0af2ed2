"""Every metric the SLO rules read is one the running app really exports."""

from __future__ import annotations

import re

import httpx
from prometheus_client import REGISTRY

from asoud.observability import rules


def _rule_metrics() -> set[str]:
    names: set[str] = set()
    for group in rules.rule_groups()["groups"]:
        for rule in group["rules"]:
            names |= set(re.findall(r"\b(asoud_[a-z_]+)\{", rule["expr"]))
            names |= set(re.findall(r"absent\((asoud_[a-z_]+)", rule["expr"]))
    return names


async def test_rules_only_use_exported_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/livez")
    exposition = (await client.get("/metrics")).text
    registered = set(REGISTRY._names_to_collectors)  # every series name the process can export
    used = _rule_metrics()
    assert {
        "asoud_http_requests_total",
        "asoud_payments_total",
        "asoud_cache_requests_total",
        "asoud_db_queries_per_request_bucket",
        "asoud_http_request_duration_seconds_bucket",
    } <= used
    missing = sorted(name for name in used if name not in registered)
    assert missing == [], f"rules use metrics nobody exports: {missing}"
    assert "asoud_http_requests_total{" in exposition
