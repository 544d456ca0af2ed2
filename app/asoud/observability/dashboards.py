"""Grafana dashboards (JSON) built from code, so every query is checked against the metrics the
app exports. `asoud slo dashboards --out DIR` writes them; the repository keeps a copy in
`app/asoud/observability/dashboards/`, checked equal by a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asoud.observability.rules import RECORD, load_slos

DASHBOARD_DIR = Path(__file__).with_name("dashboards")
EXCLUDED = 'route!~"/livez|/readyz|/metrics"'


def _panel(
    title: str,
    exprs: list[tuple[str, str]],
    unit: str = "short",
    kind: str = "timeseries",
    width: int = 12,
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "gridPos": {"w": width, "h": 8, "x": 0, "y": 0},
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    x, y = 0, 0
    for panel in panels:  # lay panels out left to right, two per row
        width = panel["gridPos"]["w"]
        if x + width > 24:
            x, y = 0, y + 8
        panel["gridPos"].update(x=x, y=y)
        x += width
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "uid": uid,
        "title": title,
        "tags": ["asoud"],
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": panels,
    }


def slo_overview() -> dict[str, Any]:
    panels = []
    for slo in load_slos():
        budget = slo.error_budget
        panels.append(
            _panel(
                f"{slo.name}: error budget left (30 d)",
                [
                    (
                        f'1 - ({RECORD.format(window="3d")}{{slo="{slo.name}"}} / {budget})',
                        "budget left",
                    )
                ],
                unit="percentunit",
                kind="stat",
                width=6,
            )
        )
        panels.append(
            _panel(
                f"{slo.name}: burn rate",
                [
                    (f'{RECORD.format(window=w)}{{slo="{slo.name}"}} / {budget}', w)
                    for w in ("5m", "1h", "6h", "1d")
                ],
                width=18,
            )
        )
    return _dashboard("asoud-slo", "ASOUD / SLO overview", panels)


def api_red() -> dict[str, Any]:
    return _dashboard(
        "asoud-api",
        "ASOUD / API (rate, errors, duration)",
        [
            _panel(
                "Requests per second by route",
                [
                    (
                        f"sum by (route) (rate(asoud_http_requests_total{{{EXCLUDED}}}[5m]))",
                        "{{route}}",
                    )
                ],
                "reqps",
            ),
            _panel(
                "Error ratio by route (5xx)",
                [
                    (
                        f'sum by (route) (rate(asoud_http_requests_total{{status="5xx",{EXCLUDED}}}[5m])) / '
                        f"sum by (route) (rate(asoud_http_requests_total{{{EXCLUDED}}}[5m]))",
                        "{{route}}",
                    )
                ],
                "percentunit",
            ),
            _panel(
                "p95 latency by route",
                [
                    (
                        f"histogram_quantile(0.95, sum by (route, le) "
                        f"(rate(asoud_http_request_duration_seconds_bucket{{{EXCLUDED}}}[5m])))",
                        "{{route}}",
                    )
                ],
                "s",
            ),
            _panel("In flight", [("sum(asoud_http_requests_in_flight)", "in flight")]),
        ],
    )


def workers() -> dict[str, Any]:
    return _dashboard(
        "asoud-workers",
        "ASOUD / Workers",
        [
            _panel(
                "Backlog (stream lag + pending)",
                [("sum by (queue) (asoud_task_queue_backlog)", "{{queue}}")],
            ),
            _panel(
                "Tasks per second by result",
                [("sum by (result) (rate(asoud_tasks_total[5m]))", "{{result}}")],
                "ops",
            ),
            _panel(
                "Task duration p95 by task",
                [
                    (
                        "histogram_quantile(0.95, sum by (task, le) (rate(asoud_task_duration_seconds_bucket[5m])))",
                        "{{task}}",
                    )
                ],
                "s",
            ),
            _panel(
                "Wait before start p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(asoud_task_wait_seconds_bucket[5m])))",
                        "p95",
                    )
                ],
                "s",
            ),
            _panel(
                "Dead letters (last hour)",
                [("sum by (task) (increase(asoud_task_dead_letters_total[1h]))", "{{task}}")],
            ),
            _panel(
                "Payments by gateway and result",
                [
                    (
                        "sum by (gateway, result) (rate(asoud_payments_total[5m]))",
                        "{{gateway}} {{result}}",
                    )
                ],
                "ops",
            ),
        ],
    )


def database_and_cache() -> dict[str, Any]:
    return _dashboard(
        "asoud-data",
        "ASOUD / Database and cache",
        [
            _panel(
                "SQL statements per request p95 by route",
                [
                    (
                        "histogram_quantile(0.95, sum by (route, le) (rate(asoud_db_queries_per_request_bucket[5m])))",
                        "{{route}}",
                    )
                ],
            ),
            _panel(
                "SQL statement duration p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(asoud_db_query_duration_seconds_bucket[5m])))",
                        "p95",
                    )
                ],
                "s",
            ),
            _panel(
                "Cache hit ratio by cache",
                [
                    (
                        'sum by (cache) (rate(asoud_cache_requests_total{result="hit"}[5m])) / '
                        "sum by (cache) (rate(asoud_cache_requests_total[5m]))",
                        "{{cache}}",
                    )
                ],
                "percentunit",
            ),
            _panel(
                "Orders by result",
                [("sum by (result) (rate(asoud_orders_total[5m]))", "{{result}}")],
                "ops",
            ),
        ],
    )


DASHBOARDS = {
    "slo-overview": slo_overview,
    "api": api_red,
    "workers": workers,
    "database-cache": database_and_cache,
}


def render_all() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


def write_all(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
