"""Prometheus rules generated from `slos.yaml`: SLI recording rules for every window, and
multi-window multi-burn-rate alerts (Google SRE workbook: page at 14.4× over 1h/5m and 6× over
6h/30m, ticket at 3× over 1d/2h and 1× over 3d/6h), plus an alert when the SLI goes missing.

The same functions produce the platform-wide rule file and the operator's per-store
`PrometheusRule` (with a label selector), so both always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SLO_FILE = Path(__file__).with_name("slos.yaml")
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, burn-rate factor, long window, short window)
BURN_ALERTS = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 3.0, "1d", "2h"),
    ("ticket", 1.0, "3d", "6h"),
)
RECORD = "asoud_slo:error_ratio:rate{window}"


@dataclass(frozen=True)
class Slo:
    name: str
    description: str
    objective: float  # percent of good events
    page: bool
    bad: str
    total: str

    @property
    def error_budget(self) -> float:
        return round(1 - self.objective / 100, 6)


def load_slos(path: Path = SLO_FILE) -> list[Slo]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Slo(
            name=s["name"],
            description=s["description"],
            objective=float(s["objective"]),
            page=bool(s["page"]),
            bad=" ".join(s["bad"].split()),
            total=" ".join(s["total"].split()),
        )
        for s in document["slos"]
    ]


def _expr(template: str, window: str, selector: str) -> str:
    return (
        template.replace("$window", window)
        .replace(",$selector", f",{selector}" if selector else "")
        .replace("{$selector}", f"{{{selector}}}" if selector else "")
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def recording_rules(slo: Slo, selector: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    recordings = []
    for window in WINDOWS:
        bad, total = _expr(slo.bad, window, selector), _expr(slo.total, window, selector)
        recordings.append(
            {
                "record": RECORD.format(window=window),
                "expr": f"({bad}) / ({total})",
                "labels": {"slo": slo.name, **labels},
            }
        )
    return recordings


def alert_rules(slo: Slo, labels: dict[str, str]) -> list[dict[str, Any]]:
    matcher = ",".join([f'slo="{slo.name}"', *(f'{k}="{v}"' for k, v in labels.items())])
    rules = []
    for severity in ("page", "ticket"):
        if severity == "page" and not slo.page:
            continue
        conditions = [
            f"("
            f"{RECORD.format(window=long)}{{{matcher}}} > ({factor} * {slo.error_budget})"
            f" and {RECORD.format(window=short)}{{{matcher}}} > ({factor} * {slo.error_budget}))"
            for level, factor, long, short in BURN_ALERTS
            if level == severity
        ]
        rules.append(
            {
                "alert": f"Asoud{_camel(slo.name)}BudgetBurn",
                "expr": " or ".join(conditions),
                "for": "2m" if severity == "page" else "15m",
                "labels": {"severity": severity, "slo": slo.name, **labels},
                "annotations": {
                    "summary": f"{slo.name} SLO ({slo.objective}% {slo.description}) "
                    "is burning its error budget",
                    "description": f"The {slo.name} error ratio is above the {severity} burn rate "
                    f"for both windows; at this pace the 30-day budget runs out early.",
                },
            }
        )
    return rules


def absent_rule(selector: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "alert": "AsoudSLIAbsent",
        "expr": f"absent(asoud_http_requests_total{{{selector}}})"
        if selector
        else "absent(asoud_http_requests_total)",
        "for": "10m",
        "labels": {"severity": "ticket", **labels},
        "annotations": {"summary": "ASOUD exports no HTTP metrics: the SLOs cannot be judged"},
    }


def rule_groups(
    selector: str = "", labels: dict[str, str] | None = None, slos: list[Slo] | None = None
) -> dict[str, Any]:
    labels = labels or {}
    slos = slos if slos is not None else load_slos()
    recordings = [rule for slo in slos for rule in recording_rules(slo, selector, labels)]
    alerts = [rule for slo in slos for rule in alert_rules(slo, labels)]
    return {
        "groups": [
            {"name": "asoud-slo-recordings", "interval": "30s", "rules": recordings},
            {"name": "asoud-slo-alerts", "rules": [*alerts, absent_rule(selector, labels)]},
        ]
    }


def prometheus_rule(
    name: str,
    namespace: str,
    selector: str = "",
    labels: dict[str, str] | None = None,
    slos: list[Slo] | None = None,
) -> dict[str, Any]:
    """The same rules as a prometheus-operator `PrometheusRule` resource."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "asoud",
                "app.kubernetes.io/component": "slo-rules",
            },
        },
        "spec": rule_groups(selector, labels, slos),
    }
