"""A real Prometheus (Debian's binary) scrapes the running services; the dashboard's queries answer.

Leads go through ingest to the router, reps touch two of them, a poison message is
dead-lettered; then the PromQL of the Grafana dashboard, run by that Prometheus, must show
exactly what happened."""

from __future__ import annotations

import asyncio
import collections
import importlib.metadata
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.events.registry import LEAD_ASSIGNED, LEAD_RECEIVED
from shared.kafka.replay import read_dead_letters, skip_letter
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.prometheus_tools import REPO, PrometheusServer
from tests.router_env import sales_ready
from tests.signing import signed_request

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "leadflow.json"
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "10m", "$__interval": "1s"}


def dashboard_queries() -> dict[str, list[str]]:
    """Panel title -> its PromQL, with Grafana's variables replaced."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries: dict[str, list[str]] = {}
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, replacement in GRAFANA_VARIABLES.items():
                expr = expr.replace(var, replacement)
            queries.setdefault(panel["title"], []).append(expr)
    return queries


def by_labels(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(series["metric"].get(label, "") for label in labels): float(series["value"][1])
        for series in result
    }


async def touch(client: httpx.AsyncClient, decision: dict[str, Any]) -> None:
    body, headers = signed_request(
        {
            "kind": "touch",
            "touch_channel": "call",
            "rep_id": decision["rep_id"],
            "occurred_at": datetime.now(UTC).isoformat(),
        },
        source="crm",
    )
    response = await client.post(
        f"/v1/leads/{decision['lead_id']}/activities", content=body, headers=headers
    )
    assert response.status_code == 202, response.text


@pytest.fixture
async def services(env, tmp_path):
    """Every service the stack defines, as real processes on the test environment."""
    procs = []
    try:
        for spec in SERVICES:
            proc = ServiceProcess(
                spec,
                env.env(LEADFLOW_ROUTER_DLQ_WATCH_SECONDS="1"),
                port=free_port(),
                log=tmp_path / f"{spec.name}.log",
            )
            procs.append(proc)
            await asyncio.to_thread(proc.start)
            await asyncio.to_thread(proc.wait_ready)
        yield {proc.spec.name: proc for proc in procs}
    finally:
        for proc in reversed(procs):
            await asyncio.to_thread(proc.stop)


@pytest.fixture
async def prometheus(services, tmp_path):
    server = PrometheusServer(
        tmp_path / "prometheus",
        [
            {
                "job_name": f"leadflow-{name}",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{proc.port}"]}],
            }
            for name, proc in services.items()
        ],
    )
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


async def query(prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(prometheus.query, expr)


async def eventually(prometheus, expr: str, check, timeout: float = 30.0):
    """Poll an instant query until ``check(result)`` holds; returns the result."""
    seen: list[Any] = []

    async def attempt():
        result = await query(prometheus, expr)
        seen[:] = [result]
        return result if check(result) else None

    try:
        return await wait_for(attempt, timeout=timeout, interval=0.5)
    except AssertionError:
        raise AssertionError(f"{expr} never matched; last answer: {seen}") from None


async def test_prometheus_scrapes_the_stack_and_the_dashboard_shows_what_happened(
    env, services, prometheus, producer, stack
):
    jobs = {f"leadflow-{name}" for name in services}
    assert {"leadflow-ingest", "leadflow-router", "leadflow-nurture", "leadflow-delivery"} <= jobs
    up = await eventually(
        prometheus,
        'up{job=~"leadflow-.*"}',
        lambda r: {s["metric"]["job"] for s in r if s["value"][1] == "1"} == jobs,
    )
    assert len(up) == len(services)
    # Each process says which build it runs: the installed package's version.
    builds = await eventually(
        prometheus,
        "leadflow_build_info",
        lambda r: {s["metric"]["service"] for s in r} == set(services),
    )
    assert {s["metric"]["version"] for s in builds} == {importlib.metadata.version("leadflow")}

    ingest = services["ingest"]
    tag = uuid.uuid4().hex[:8]
    web = [sales_ready(f"web{n}.{tag}@megacorp{n}.example", last_name=f"L{n}") for n in range(3)]
    duplicate = {**web[0], "email": web[0]["email"].upper()}  # the same person again
    bought = sales_ready(f"bought.{tag}@list.example")
    async with (
        TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned,
        httpx.AsyncClient(base_url=ingest.url, timeout=30) as client,
    ):
        submissions = []
        for payload, source in [*((p, "website") for p in web), (duplicate, "website"), (bought, "purchased-lists")]:  # fmt: skip
            body, headers = signed_request(payload, source=source)
            response = await client.post("/v1/leads", content=body, headers=headers)
            assert response.status_code == 202, response.text
            submissions.append(response.json()["lead_id"])
        records = await assigned.read(until=lambda rs: len(rs) >= len(submissions), timeout=30)
        decisions = [value(r)["data"] for r in records]
        assert {d["submission_id"] for d in decisions} == set(submissions)

        # Reps touch three web leads (the CRM reports it): one first, so that the histogram's
        # series exist in Prometheus before the other two touches, as in a running system.
        touched = [d for d in decisions if d["submission_id"] in submissions[:3]]
        assert len(touched) == 3
        await touch(client, touched[0])
        await eventually(
            prometheus,
            "sum(leadflow_router_time_to_first_touch_seconds_count)",
            lambda r: [s["value"][1] for s in r] == ["1"],
        )
        for decision in touched[1:]:
            await touch(client, decision)

    # A poison message: dead-lettered, counted as awaiting replay.
    await producer.publish_raw(env.topic(LEAD_RECEIVED.topic), b"poison", b"not json")

    dashboard = dashboard_queries()
    # The metric counts purchased-list names apart (outcome "name"), as the README says.
    routed = collections.Counter(
        ("name" if d["purchased_list"] else d["outcome"], d["team_id"] or "none") for d in decisions
    )
    touched_teams = collections.Counter((d["team_id"], "web") for d in touched)
    assert routed[("assigned", "core")] >= 3 and touched_teams == {("core", "web"): 3}

    # Time to first touch: exactly the three observations, by team and source ...
    await eventually(
        prometheus,
        "sum by (team, source) (leadflow_router_time_to_first_touch_seconds_count)",
        lambda r: by_labels(r, "team", "source") == {k: float(v) for k, v in touched_teams.items()},
    )
    # ... and the dashboard's percentiles put them in the first bucket (under a minute).
    for expr in dashboard["Time to first touch by team and source (p50, p90, p99)"]:
        result = await eventually(prometheus, expr, lambda r: len(r) == 1)
        ((team_source, seconds),) = by_labels(result, "team", "source").items()
        assert team_source == ("core", "web") and 0 < seconds <= 60, (expr, result)
    (first_touches,) = dashboard["First touches by team and source"]
    result = await eventually(prometheus, first_touches, lambda r: len(r) == 1)
    assert by_labels(result, "team", "source").keys() == {("core", "web")}

    # Leads by source and outcome: the counters match what was sent and decided ...
    await eventually(
        prometheus,
        "sum by (source_kind, channel) (leadflow_ingest_leads_accepted_total)",
        lambda r: (
            by_labels(r, "source_kind", "channel")
            == {("signed", "web"): 4.0, ("list", "purchased_list"): 1.0}
        ),
    )
    await eventually(
        prometheus,
        "sum by (outcome, team) (leadflow_router_leads_routed_total)",
        lambda r: by_labels(r, "outcome", "team") == {k: float(v) for k, v in routed.items()},
    )
    # ... and the dashboard's panel shows the same series.
    accepted_expr, routed_expr = dashboard["Leads by source and outcome"]
    result = await eventually(prometheus, accepted_expr, lambda r: len(r) == 2)
    assert by_labels(result, "source_kind", "channel").keys() == {
        ("signed", "web"),
        ("list", "purchased_list"),
    }
    result = await eventually(prometheus, routed_expr, lambda r: len(r) == len(routed))
    assert by_labels(result, "outcome", "team").keys() == routed.keys()

    # Routing latency, dedupe, scores, consumers, DLQ, ingest statuses, targets.
    for expr in dashboard["Routing latency: intake to assignment (p50, p95, p99)"]:
        result = await eventually(prometheus, expr, lambda r: len(r) == 1)
        assert 0 < float(result[0]["value"][1]) < 30, (expr, result)
    await eventually(
        prometheus,
        "sum by (match_rule) (leadflow_router_dedupe_merges_total)",
        lambda r: list(by_labels(r, "match_rule").values()) == [1.0],
    )
    merges, reviews, shared = dashboard["Dedupe: merges by rule, reviews, shared identities"]
    await eventually(prometheus, merges, lambda r: len(r) == 1)
    for expr in (reviews, shared):  # nothing doubtful or shared happened: valid, and empty
        assert await query(prometheus, expr) == [], expr
    (scores,) = dashboard["Score distribution"]
    result = await eventually(prometheus, scores, lambda r: len(r) > 1)
    assert "+Inf" in {s["metric"]["le"] for s in result}
    (lag,) = dashboard["Consumer lag, real-time lanes, by group and topic"]
    result = await eventually(prometheus, lag, lambda r: len(r) >= 2)
    assert {(env.prefix + "router", env.topic(LEAD_RECEIVED.topic))} <= by_labels(
        result, "group", "topic"
    ).keys()
    for expr in dashboard["Consumer lag, bulk lane, and time to drain"]:  # answers, bulk only
        bulk = await query(prometheus, expr)
        assert {s["metric"]["topic"] for s in bulk} <= {env.topic("leads.bulk.v1")}, bulk
    (throughput,) = dashboard["Consumer throughput by outcome"]
    await eventually(
        prometheus,
        throughput,
        lambda r: (
            {(env.topic(LEAD_RECEIVED.topic), "ok"), (env.topic(LEAD_RECEIVED.topic), "dlq")}
            <= by_labels(r, "topic", "outcome").keys()
        ),
    )
    (dlq,) = dashboard["Dead letters awaiting replay"]
    await eventually(
        prometheus,
        dlq,
        lambda r: by_labels(r, "topic").get((env.topic(LEAD_RECEIVED.topic) + ".dlq",)) == 1.0,
    )
    # Marked handled with `leadflow dlq replay --skip`: the gauge (and so the alert) clears.
    dlq_topic = env.topic(LEAD_RECEIVED.topic) + ".dlq"
    (letter,) = await read_dead_letters(stack.bootstrap, dlq_topic, limit=5)
    skipped = await skip_letter(stack.bootstrap, dlq_topic, letter.partition, letter.offset)
    assert skipped.key == letter.key
    await eventually(
        prometheus,
        dlq,
        lambda r: by_labels(r, "topic").get((env.topic(LEAD_RECEIVED.topic) + ".dlq",)) == 0.0,
    )
    (statuses,) = dashboard["Ingest API requests by status"]
    await eventually(prometheus, statuses, lambda r: ("202",) in by_labels(r, "status"))
    (targets,) = dashboard["Targets up"]
    result = await query(prometheus, targets)
    assert by_labels(result, "job") == {(job,): 1.0 for job in jobs}

    # Every query of the dashboard runs on the real server (PromQL errors raise).
    for exprs in dashboard.values():
        for expr in exprs:
            await query(prometheus, expr)
