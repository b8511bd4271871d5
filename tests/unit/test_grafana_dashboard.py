"""The Grafana dashboard: provisioned, every panel's PromQL valid and naming only real metrics."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

from tests.prometheus_tools import PROMETHEUS_DIR, REPO, check_expressions

GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "leadflow.json"

CATALOGUES = [
    "services.ingest.metrics",
    "services.router.metrics",
    "services.nurture.metrics",
    "services.delivery.metrics",
    "shared.kafka.consumer",
    "shared.kafka.dlq_watch",
    "shared.kafka.producer",
    "shared.outbox",
]
# Grafana's variables, replaced by what they stand for before promtool sees an expression.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s"}
METRIC = re.compile(r"\b(leadflow_[a-z0-9_]+)")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panel_queries() -> dict[str, str]:
    """'<panel title> <refId>' -> PromQL with Grafana's variables substituted."""
    queries = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, value)
            queries[f"{panel['title']} {target['refId']}"] = expr
    return queries


def catalogue() -> set[str]:
    """Every series name the services expose (histograms by their base name)."""
    for module in CATALOGUES:
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("leadflow_"):
            names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    names |= {f"leadflow_{svc}_http_requests_total" for svc in ("ingest", "router", "nurture")}
    names |= {
        f"leadflow_{svc}_http_request_duration_seconds" for svc in ("ingest", "router", "nurture")
    }
    return names


def unknown_metrics(expr: str, known: set[str]) -> set[str]:
    unknown = set()
    for name in METRIC.findall(expr):
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        if name not in known and base not in known:
            unknown.add(name)
    return unknown


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    queries = panel_queries()
    assert len(queries) >= 30
    result = check_expressions(queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_catches_invalid_promql(tmp_path: Path) -> None:
    result = check_expressions({"bad": "sum by (le (rate(x[5m]))"}, tmp_path)
    assert result.returncode != 0


def test_every_metric_named_exists_in_a_catalogue() -> None:
    known = catalogue()
    problems = {key: unknown_metrics(expr, known) for key, expr in panel_queries().items()}
    assert {k: v for k, v in problems.items() if v} == {}
    assert unknown_metrics("rate(leadflow_router_leads_routd_total[1m])", known) == {
        "leadflow_router_leads_routd_total"
    }


def test_every_alert_names_existing_metrics() -> None:
    known = catalogue()
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert unknown_metrics(rule["expr"], known) == set(), rule.get("alert", rule.get("record"))


def test_the_dashboard_covers_what_sres_watch() -> None:
    text = " ".join(panel_queries().values())
    for metric in (
        "leadflow_router_time_to_first_touch_seconds_bucket",
        "leadflow_router_sla_events_total",
        "leadflow_router_leads_routed_total",
        "leadflow_ingest_leads_accepted_total",
        "leadflow_router_intake_to_assignment_seconds_bucket",
        "leadflow_router_dedupe_merges_total",
        "leadflow_router_lead_score_bucket",
        "leadflow_consumer_lag",
        "leadflow_dlq_messages",
        "leadflow_nurture_steps_emitted_total",
        "leadflow_nurture_step_lateness_seconds_bucket",
    ):
        assert metric in text, metric
    assert "by (le, team, source)" in text  # first-touch percentiles by team and source


def test_the_funnel_row_shows_the_lifecycle_metrics() -> None:
    """Transitions by stage, time in stage, recycled and disqualified by reason, dispositions:
    a row of its own, with the lifecycle metrics of the router's catalogue."""
    panels = dashboard()["panels"]
    rows = [p for p in panels if p["type"] == "row"]
    funnel_row = next(p for p in rows if p["title"].startswith("Funnel"))
    below = [
        p for p in panels if p["type"] != "row" and p["gridPos"]["y"] > funnel_row["gridPos"]["y"]
    ]
    text = " ".join(t["expr"] for p in below for t in p["targets"])
    for metric in (
        "leadflow_router_lifecycle_transitions_total",
        "leadflow_router_time_in_stage_seconds_bucket",
        "leadflow_router_recycled_total",
        "leadflow_router_disqualified_total",
        "leadflow_router_dispositions_total",
    ):
        assert metric in text, metric
    assert "by (from_stage, to_stage)" in text and "by (le, stage)" in text
    assert text.count("by (reason)") == 2


def test_panels_use_the_provisioned_datasource_and_fit_the_grid() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    (uid,) = [d["uid"] for d in datasources if d["type"] == "prometheus"]
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]


def test_the_provider_loads_the_dashboards_folder() -> None:
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "leadflow.yml").read_text()
    )["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]


def test_consumer_lag_is_shown_by_lane_as_the_alerts_see_it() -> None:
    """Real-time and bulk lag never share a panel (100,000 behind on an import would flatten
    a real-time line of 50), and the panels split topics exactly as the lag alerts do."""
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    rules = {r["alert"]: r["expr"] for g in groups for r in g["rules"] if "alert" in r}
    bulk_lane = re.search(r'topic=~"([^"]+)"', rules["LeadflowBulkLaneStalled"])
    assert bulk_lane is not None
    real_time = f'topic!~"{bulk_lane.group(1)}"'
    bulk = f'topic=~"{bulk_lane.group(1)}"'
    assert real_time in rules["LeadflowConsumerLagGrowing"]
    assert real_time in rules["LeadflowConsumerStalled"]

    lanes: dict[str, set[str]] = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            if "leadflow_consumer_lag" in target["expr"]:
                has_real_time, has_bulk = real_time in target["expr"], bulk in target["expr"]
                assert has_real_time != has_bulk, (panel["title"], target["expr"])
                lanes.setdefault(panel["title"], set()).add(
                    "real-time" if has_real_time else "bulk"
                )
    assert sorted(lanes.values(), key=sorted) == [{"bulk"}, {"real-time"}], lanes
