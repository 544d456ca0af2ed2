"""SLO rules generated from slos.yaml, checked and unit-tested by promtool: which alerts fire
on synthetic series and which stay silent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from asoud.observability import rules

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is missing: install the Debian package 'prometheus' (.ci/run does)",
)


def _annotations(alert: str, severity: str) -> dict[str, str]:
    for group in rules.rule_groups()["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert and rule["labels"].get("severity") == severity:
                return rule["annotations"]  # type: ignore[no-any-return]
    raise AssertionError(alert)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False
    )


def _write(tmp_path: Path, tests: list[dict[str, Any]], selector: str = "") -> Path:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules.rule_groups(selector)))
    test_file = tmp_path / "tests.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    return test_file


def test_generated_rules_pass_promtool_check(tmp_path: Path) -> None:
    for selector in ("", 'namespace="shop",asoud_store="tehran"'):
        path = tmp_path / "rules.yml"
        path.write_text(yaml.safe_dump(rules.rule_groups(selector)))
        result = _promtool("check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 43 rules found" in result.stdout


def test_burn_rate_factors_follow_the_sre_workbook() -> None:
    [availability] = [s for s in rules.load_slos() if s.name == "availability"]
    page = rules.alert_rules(availability, {})[0]["expr"]
    assert (
        "rate1h" in page
        and "rate5m" in page
        and "(14.4 * 0.001)" in page
        and "(6.0 * 0.001)" in page
    )
    [payments] = [s for s in rules.load_slos() if s.name == "payments"]
    assert [r["labels"]["severity"] for r in rules.alert_rules(payments, {})] == [
        "ticket"
    ]  # never pages


PAGE = {"severity": "page", "slo": "availability"}
TICKET = {"severity": "ticket", "slo": "availability"}


def test_errors_page_and_ticket_while_a_healthy_service_stays_silent(tmp_path: Path) -> None:
    route = 'route="/api/v1/products",method="GET"'
    failing = {
        "interval": "1m",
        "input_series": [
            {"series": f'asoud_http_requests_total{{{route},status="2xx"}}', "values": "0+600x120"},
            {"series": f'asoud_http_requests_total{{{route},status="5xx"}}', "values": "0+60x120"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "70m",
                "alertname": "AsoudAvailabilityBudgetBurn",
                "exp_alerts": [
                    {
                        "exp_labels": PAGE,
                        "exp_annotations": _annotations("AsoudAvailabilityBudgetBurn", "page"),
                    },
                    {
                        "exp_labels": TICKET,
                        "exp_annotations": _annotations("AsoudAvailabilityBudgetBurn", "ticket"),
                    },
                ],
            },
            {"eval_time": "70m", "alertname": "AsoudSLIAbsent", "exp_alerts": []},
        ],
    }
    healthy = {
        "interval": "1m",
        "input_series": [
            {"series": f'asoud_http_requests_total{{{route},status="2xx"}}', "values": "0+600x120"},
            {"series": f'asoud_http_requests_total{{{route},status="5xx"}}', "values": "0+0x120"},
            # a 5xx on the health probes does not count against the SLO
            {
                "series": 'asoud_http_requests_total{route="/readyz",method="GET",status="5xx"}',
                "values": "0+60x120",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "70m", "alertname": "AsoudAvailabilityBudgetBurn", "exp_alerts": []},
        ],
    }
    slow = {
        "interval": "1m",
        "input_series": [
            {
                "series": f'asoud_http_request_duration_seconds_bucket{{{route},le="0.2"}}',
                "values": "0+400x120",
            },
            {
                "series": f"asoud_http_request_duration_seconds_count{{{route}}}",
                "values": "0+600x120",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "70m",
                "alertname": "AsoudLatencyBudgetBurn",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "page", "slo": "latency"},
                        "exp_annotations": _annotations("AsoudLatencyBudgetBurn", "page"),
                    },
                    {
                        "exp_labels": {"severity": "ticket", "slo": "latency"},
                        "exp_annotations": _annotations("AsoudLatencyBudgetBurn", "ticket"),
                    },
                ],
            },
        ],
    }
    absent = {
        "interval": "1m",
        "input_series": [{"series": 'up{job="asoud"}', "values": "1+0x30"}],
        "alert_rule_test": [
            {
                "eval_time": "15m",
                "alertname": "AsoudSLIAbsent",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "ticket"},
                        "exp_annotations": {
                            "summary": "ASOUD exports no HTTP metrics: the SLOs cannot be judged"
                        },
                    },
                ],
            }
        ],
    }
    result = _promtool("test", "rules", str(_write(tmp_path, [failing, healthy, slow, absent])))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """Guards the harness itself: promtool must report a missing alert."""
    silent = {
        "interval": "1m",
        "input_series": [
            {
                "series": 'asoud_http_requests_total{route="/x",method="GET",status="2xx"}',
                "values": "0+600x120",
            }
        ],
        "alert_rule_test": [
            {
                "eval_time": "70m",
                "alertname": "AsoudAvailabilityBudgetBurn",
                "exp_alerts": [{"exp_labels": PAGE}],
            }
        ],
    }
    result = _promtool("test", "rules", str(_write(tmp_path, [silent])))
    assert result.returncode != 0


def test_per_store_prometheus_rule() -> None:
    manifest = rules.prometheus_rule(
        "tehran-slo", "shop", 'namespace="shop"', {"asoud_store": "tehran"}
    )
    assert manifest["kind"] == "PrometheusRule" and manifest["metadata"]["namespace"] == "shop"
    recording = manifest["spec"]["groups"][0]["rules"][0]
    assert (
        'namespace="shop"' in recording["expr"] and recording["labels"]["asoud_store"] == "tehran"
    )
