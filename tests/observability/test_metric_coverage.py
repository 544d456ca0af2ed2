"""Every metric the SLO rules read is one the running app really exports."""

from __future__ import annotations

import re
from typing import Any

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


def test_committed_dashboards_are_the_generated_ones() -> None:
    from asoud.observability import dashboards

    for name, text in dashboards.render_all().items():
        committed = (dashboards.DASHBOARD_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run `asoud slo dashboards`"


async def test_dashboards_only_use_exported_metrics(client: httpx.AsyncClient) -> None:
    import json

    from asoud.observability import dashboards

    await client.get("/metrics")  # also measures the task backlog
    registered = set(REGISTRY._names_to_collectors)
    used: set[str] = set()
    for text in dashboards.render_all().values():
        for panel in json.loads(text)["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"\b(asoud_[a-z_]+)\b(?!:)", target["expr"]))
    assert {
        "asoud_task_queue_backlog",
        "asoud_tasks_total",
        "asoud_payments_total",
        "asoud_http_request_duration_seconds_bucket",
    } <= used
    assert sorted(name for name in used if name not in registered) == []


async def test_backlog_gauge_counts_lag_and_pending(
    client: httpx.AsyncClient, platform: Any
) -> None:
    from asoud.background.broker import enqueue

    for _ in range(3):
        await enqueue(platform.tasks, "catalog.warm_cache")
    text = (await client.get("/metrics")).text
    assert 'asoud_task_queue_backlog{queue="tasks"} 3.0' in text
