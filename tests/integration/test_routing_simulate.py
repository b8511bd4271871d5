"""``leadflow routing simulate`` on history made by the real router (Kafka in, PostgreSQL
rows out): the actual counts and the changed owners it reports, and that it writes nothing
(no row, no message on any topic)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from services.router.runtime import RouterRuntime
from services.router.settings import RouterSettings
from shared.cli import app
from shared.events.envelope import make_event
from shared.events.models import ActivityKind, ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY
from shared.kafka.errors import KafkaUnavailable
from shared.kafka.security import client_options
from shared.kafka.topics import all_topics
from tests.clock import ManualClock
from tests.kafka_helpers import wait_for
from tests.router_env import FIXTURES, publish_received, received, sales_ready, sql

ROUTING = FIXTURES / "routing-lifecycle.yaml"  # sales: rep-a (capacity 2), rep-b (capacity 1)


def _email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:8]}@sim.example"


async def _publish(send: Callable[[], Awaitable[object]]) -> None:
    """Send again when a fresh topic's leader is not elected yet (consumers dedupe on the
    event id, so a second copy changes nothing)."""
    for attempt in range(3):
        try:
            await send()
            return
        except KafkaUnavailable:
            if attempt == 2:
                raise


async def _arrive(env, producer, clock: ManualClock, tag: str) -> str:
    item = received(sales_ready(_email(tag)), at=clock.now)
    submission = uuid.UUID(str(item[2].data["lead_id"]))
    await _publish(lambda: publish_received(env, producer, [item]))

    async def decided() -> str | None:
        rows = await sql(
            env,
            "SELECT s.lead_id FROM router.lead_submission s JOIN router.assignment a"
            " ON a.lead_id = s.lead_id WHERE s.submission_id = :id",
            id=submission,
        )
        return str(rows[0][0]) if rows else None

    lead_id = await wait_for(decided, timeout=30)
    clock.advance(minutes=1)
    return lead_id


async def _disqualify(env, producer, clock: ManualClock, lead_id: str, rep_id: str) -> None:
    data = ActivityReceived(
        activity_id=uuid.uuid4(),
        lead_id=uuid.UUID(lead_id),
        kind=ActivityKind.disqualified,
        occurred_at=clock.now,
        received_at=clock.now,
        source=SourceRef(id="crm", kind="signed"),
        reason="not_a_fit",
        rep_id=rep_id,
    )
    event = make_event(
        type=LEAD_ACTIVITY.type, source="/tests/crm", subject=lead_id, data=data, time=clock.now
    )
    await _publish(
        lambda: producer.publish(env.topic(LEAD_ACTIVITY.topic), lead_id.encode(), event)
    )

    async def applied() -> bool | None:
        rows = await sql(
            env,
            "SELECT 1 FROM router.lead_status_change WHERE lead_id = :id AND applied",
            id=uuid.UUID(lead_id),
        )
        return True if rows else None

    await wait_for(applied, timeout=30)
    clock.advance(minutes=1)


async def _owner(env, lead_id: str) -> tuple[str, str | None]:
    rows = await sql(
        env, "SELECT status, owner_rep_id FROM router.lead WHERE id = :id", id=uuid.UUID(lead_id)
    )
    return rows[0][0], rows[0][1]


async def _digest(env) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every table of the router schema."""
    tables = [
        t
        for (t,) in await sql(
            env,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'router' AND table_type = 'BASE TABLE' ORDER BY table_name",
        )
    ]
    out: dict[str, tuple[int, str]] = {}
    for table in tables:
        rows = await sql(
            env,
            f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
            f" FROM router.{table} t",
        )
        out[table] = (rows[0][0], rows[0][1])
    return out


async def _end_offsets(env) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(env.stack.bootstrap), group_id=None)
    await consumer.start()
    try:
        tps = []
        for topic in all_topics(env.prefix):
            for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic):
                tps.append(TopicPartition(topic, p))
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    cluster = await consumer._client.fetch_all_metadata()
    return cluster.partitions_for_topic(topic) or set()


def _candidate(tmp_path: Path) -> Path:
    """The test routing with room for two leads at rep-b."""
    config: dict[str, Any] = yaml.safe_load(ROUTING.read_text())
    for rep in config["reps"]:
        if rep["id"] == "rep-b":
            rep["capacity"] = 2
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def history(env, producer):
    """Five leads through the real router: rep-a, rep-b, rep-a, then one queued (both full);
    lead 1 disqualified; lead 5 then goes to rep-a."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=1))
    settings = RouterSettings(**{**env.settings_kwargs(), "router_routing_file": ROUTING})
    failures: list[BaseException] = []
    runtime = RouterRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    await runtime.start()
    try:
        leads = [await _arrive(env, producer, clock, f"l{n}") for n in range(1, 5)]
        owners = [await _owner(env, lead) for lead in leads]
        assert owners == [
            ("assigned", "rep-a"),
            ("assigned", "rep-b"),
            ("assigned", "rep-a"),
            ("queued", None),
        ]
        await _disqualify(env, producer, clock, leads[0], "rep-a")
        leads.append(await _arrive(env, producer, clock, "l5"))
        assert await _owner(env, leads[4]) == ("assigned", "rep-a")
    finally:
        await runtime.stop()
    assert not failures
    return leads


async def test_simulate_reports_actual_counts_and_changed_owners_and_writes_nothing(
    env, history, tmp_path
):
    leads = history
    candidate = _candidate(tmp_path)
    rows_before = await _digest(env)
    offsets_before = await _end_offsets(env)
    out = tmp_path / "report.json"

    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["routing", "simulate", "--rules", str(candidate), "--json", str(out), "--show", "5"],
        env={"LEADFLOW_DATABASE_URL": env.database_url},
    )
    assert result.exit_code == 0, result.output

    report = json.loads(out.read_text())
    assert report["leads"] == 5 and report["releases"] == 1
    reps = {r["key"]: (r["actual"], r["simulated"]) for r in report["reps"]}
    # actual: rep-a 1, 3, 5; rep-b 2; lead 4 queued. Simulated with rep-b's room for two:
    # rep-a 1, 3; rep-b 2, 4; lead 1 disqualified frees rep-a for lead 5
    assert reps == {"rep-a": (3, 3), "rep-b": (1, 2), "rep-d": (0, 0), "rep-e": (0, 0)}
    outcomes = {o["key"]: (o["actual"], o["simulated"]) for o in report["outcomes"]}
    assert outcomes == {"assigned": (4, 5), "queued": (1, 0), "nurture": (0, 0)}
    teams = {t["key"]: (t["actual"], t["simulated"]) for t in report["teams"]}
    assert teams == {"sales": (4, 5), "desk": (0, 0)}
    assert report["queue"] == {"entries": 0, "dequeued": 0, "still_queued": 0}
    (changed,) = report["changed"]
    assert changed == {
        "lead_id": leads[3],
        "actual_outcome": "queued",
        "actual_rep_id": None,
        "actual_team_id": None,
        "actual_rule": "everyone",
        "simulated_outcome": "assigned",
        "simulated_rep_id": "rep-b",
        "simulated_team_id": "sales",
        "rule": "everyone",
    }
    hits = {h["rep_id"]: h["at_capacity"] for h in report["capacity_hits"]}
    assert hits == {"rep-a": 1, "rep-b": 1}  # full: rep-a when lead 4 came, rep-b for lead 5
    assert leads[3] in result.output  # the changed lead, by id
    assert "@sim.example" not in result.output and "@sim.example" not in out.read_text()

    assert await _digest(env) == rows_before
    assert await _end_offsets(env) == offsets_before


async def test_an_invalid_candidate_is_one_sentence_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "teams": [{"id": "t", "name": "T", "timezone": "Mars/Base", "business_hours": {}}],
                "reps": [],
                "rules": [],
            }
        )
    )
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["routing", "simulate", "--rules", str(bad)],
    )
    assert result.exit_code == 2
    assert "is not an IANA time zone" in result.output
    assert len(result.output.strip().splitlines()) <= 2
