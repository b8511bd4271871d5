"""The shipped Prometheus config and alert rules: valid, unit-tested, each alert documented."""

from __future__ import annotations

from typing import Any

import yaml

from tests.prometheus_tools import PROMETHEUS_DIR, README, github_anchors, promtool

ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_config() -> None:
    result = promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alert_rules()) + 1} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _alert_rules()}
    assert names - firing == set(), "alerts without a test that fires them"
    assert names - silent == set(), "alerts without a test that keeps them silent"
    assert (firing | silent) - names == set(), "tests of alerts that do not exist"


def test_every_alert_has_severity_summary_description_and_a_runbook_in_the_readme() -> None:
    anchors = github_anchors(README.read_text())
    for rule in _alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook"] == f"README.md#{name.lower()}", name
        assert name.lower() in anchors, f"README has no '{name}' section for the runbook link"


def test_scrape_config_has_a_job_per_service_on_its_port() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = {
        "leadflow-ingest": 8000,
        "leadflow-router": 8001,
        "leadflow-nurture": 8002,
        "leadflow-delivery": 8003,
    }
    assert set(jobs) == set(expected)
    for name, port in expected.items():
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
        (targets,) = [c["targets"] for c in jobs[name]["static_configs"]]
        assert [t.rsplit(":", 1)[1] for t in targets] == [str(port)], name
    assert config["rule_files"] == ["alerts.yml"]
