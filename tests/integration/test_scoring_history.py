"""The router's history as scoring rows, on real Kafka and PostgreSQL: leads decided by the
router, sales statuses reported for some, a later submission for one, then ``history_rows``
(every lead scored as of its arrival + N days) and ``scoring evaluate`` (a page at a time)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from services.router.domain.evaluation import evaluate
from services.router.domain.scoring import load_scoring_rules
from services.router.runtime import RouterRuntime
from services.router.scoring.commands import default_rules_file
from services.router.scoring.history import history_rows
from services.router.settings import RouterSettings
from shared import db
from shared.cli import app
from shared.events.envelope import make_event
from shared.events.models import ActivityKind, ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY
from shared.kafka.producer import EventProducer
from tests.clock import ManualClock
from tests.kafka_helpers import wait_for
from tests.router_env import publish_received, received, sales_ready, sql

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday; the 24x7 fixture is always open
HOUR = timedelta(hours=1)
# Generous: a new topic's partitions can take seconds to get a leader on a busy machine.
PATIENCE = 120.0


@pytest.fixture
async def patient_producer(stack):
    p = EventProducer(stack.bootstrap, publish_timeout=PATIENCE)
    await p.start(required=True)
    yield p
    await p.stop()


def _email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:8]}@{tag}.example"


async def _arrive(env, producer, clock, fields: dict[str, Any]) -> str:
    """One lead through leads.received.v1; its canonical id once the router decided it."""
    item = received(fields, at=clock.now)
    submission = uuid.UUID(str(item[2].data["lead_id"]))
    await publish_received(env, producer, [item])

    async def decided() -> str | None:
        rows = await sql(
            env,
            "SELECT s.lead_id FROM router.lead_submission s JOIN router.assignment a"
            " ON a.lead_id = s.lead_id WHERE s.submission_id = :id",
            id=submission,
        )
        return str(rows[0][0]) if rows else None

    return str(await wait_for(decided, timeout=PATIENCE))


async def _report(env, producer, clock, lead: str, kind: str, at: datetime, **fields: Any) -> None:
    """An activity or sales status as ingest publishes it, once the router processed it."""
    data = ActivityReceived(
        activity_id=uuid.uuid4(),
        lead_id=uuid.UUID(lead),
        kind=ActivityKind(kind),
        occurred_at=at,
        received_at=clock.now,
        source=SourceRef(id="crm", kind="signed"),
        **fields,
    )
    event = make_event(
        type=LEAD_ACTIVITY.type, source="/tests/crm", subject=lead, data=data, time=clock.now
    )
    await producer.publish(env.topic(LEAD_ACTIVITY.topic), lead.encode(), event)

    async def processed() -> bool:
        query = "SELECT 1 FROM router.processed_event WHERE event_id = :id"
        return bool(await sql(env, query, id=event.id))

    await wait_for(processed, timeout=PATIENCE)


@pytest.fixture
async def router(env):
    clock = ManualClock(START)
    failures: list[BaseException] = []
    runtime = RouterRuntime(
        RouterSettings(**env.settings_kwargs()),
        clock=clock,
        on_fatal=failures.append,
        schedule=False,
    )
    await runtime.start()
    yield clock
    await runtime.stop()
    assert not failures


def weak(email: str) -> dict[str, object]:
    return {"email": email, "first_name": "Sam", "job_title": "Student", "company_size": "1-10"}


async def test_history_rows_and_evaluate_from_history(env, router, patient_producer) -> None:
    clock, producer = router, patient_producer
    kinds = [
        ("won1", sales_ready),
        ("won2", sales_ready),
        ("qual", sales_ready),
        ("lost", sales_ready),
        ("cold1", weak),
        ("cold2", weak),
    ]
    emails = {tag: _email(tag) for tag, _ in kinds}
    leads = {tag: await _arrive(env, producer, clock, fields(emails[tag])) for tag, fields in kinds}
    # won1 visited the site before it converted and clicked after: only the visit counts
    await _report(env, producer, clock, leads["won1"], "page_visit", START + HOUR)
    reports = [
        ("won1", "converted", 2),
        ("won2", "converted", 3),
        ("qual", "qualified", 4),
        ("lost", "disqualified", 5),
    ]
    for tag, status, hours in reports:
        extra = {"reason": "not_a_fit"} if status == "disqualified" else {}
        query = "SELECT owner_rep_id FROM router.lead WHERE id = :id"
        ((owner,),) = await sql(env, query, id=uuid.UUID(leads[tag]))
        await _report(
            env, producer, clock, leads[tag], status, START + hours * HOUR, rep_id=owner, **extra
        )
    await _report(env, producer, clock, leads["won1"], "click", START + 6 * HOUR)
    # two days on, won1 submits again (matched by its email) and fills in its company
    clock.advance(days=2)
    again = await _arrive(env, producer, clock, sales_ready(emails["won1"], company="Acme GmbH"))
    assert again == leads["won1"]
    query = "SELECT profile->>'company' FROM router.lead WHERE id = :id"
    assert await sql(env, query, id=uuid.UUID(leads["won1"])) == [("Acme GmbH",)]

    engine = db.create_engine(env.database_url, pool_size=1)
    seen: list[tuple[int, int]] = []
    try:
        early = await history_rows(
            engine,
            since=None,
            negative_after_days=90,
            as_of_days=1,
            now=START + timedelta(days=10),
            progress=lambda done, total: seen.append((done, total)),
        )
        not_yet = await history_rows(
            engine,
            since=None,
            negative_after_days=90,
            as_of_days=14,
            now=START + timedelta(days=10),
        )
        late = await history_rows(
            engine,
            since=None,
            negative_after_days=90,
            as_of_days=14,
            now=START + timedelta(days=100),
        )
        recent_only = await history_rows(
            engine,
            since=timedelta(days=5),
            negative_after_days=90,
            as_of_days=14,
            now=START + timedelta(days=100),
        )
        now = datetime.now(UTC)
        from_rows = evaluate(
            await history_rows(engine, since=None, negative_after_days=1, as_of_days=14, now=now),
            load_scoring_rules(default_rules_file()),
        )
    finally:
        await engine.dispose()

    by_tag = leads
    outcomes = {row.id: row.outcome for row in early}
    assert outcomes == {
        by_tag["won1"]: True,
        by_tag["won2"]: True,
        by_tag["qual"]: True,
        by_tag["lost"]: False,
    }  # the weak leads are too recent to call
    assert seen[-1] == (6, 6)
    won1 = next(row for row in early if row.id == by_tag["won1"])
    assert won1.at == START + timedelta(days=1)  # as of a day after it arrived, not its sale
    assert [a.kind for a in won1.activities] == ["page_visit"]  # the later click does not leak
    assert won1.lead.job_title == "VP Engineering" and won1.lead.country == "DE"
    assert won1.lead.company is None  # filled in by the submission after that moment
    lost = next(row for row in early if row.id == by_tag["lost"])
    assert lost.at == START + timedelta(days=1)
    assert not_yet == []  # outcomes known, but 14 days have not passed since they arrived

    late_outcomes = {row.id: row.outcome for row in late}
    assert late_outcomes[by_tag["cold1"]] is False and late_outcomes[by_tag["cold2"]] is False
    assert {row.at for row in late} == {START + timedelta(days=14)}  # whatever the outcome
    late_won1 = next(row for row in late if row.id == by_tag["won1"])
    assert [a.kind for a in late_won1.activities] == ["page_visit"]  # nothing after the sale
    assert late_won1.lead.company == "Acme GmbH"  # submitted on day 2, before day 14
    assert recent_only == []  # every lead was received 100 days before

    # the command line, from history: now is well past START + 1 day
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["scoring", "evaluate", "--negative-after-days", "1", "--json", "-"],
        env={"LEADFLOW_DATABASE_URL": env.database_url},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["n"], data["positives"]) == (6, 3)
    # scored a page at a time, the same report as over the rows all at once
    assert data == json.loads(json.dumps(from_rows.to_dict()))
    assert data["auc"] is not None and data["auc"] > 0.5  # senior leads scored higher

    table = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["scoring", "evaluate", "--since", "3650d", "--negative-after-days", "1"],
        env={"LEADFLOW_DATABASE_URL": env.database_url},
        catch_exceptions=False,
    )
    assert table.exit_code == 0, table.output
    assert "AUC" in table.output and "Lift by decile" in table.output

    # --store keeps the evaluation for the admin API (what the daily CronJob runs)
    stored = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["scoring", "evaluate", "--negative-after-days", "1", "--store"],
        env={"LEADFLOW_DATABASE_URL": env.database_url},
        catch_exceptions=False,
    )
    assert stored.exit_code == 0, stored.output
    ((source, n, positives, parameters, version),) = await sql(
        env,
        "SELECT source, n, positives, parameters, rules_version FROM router.scoring_evaluation",
    )
    assert (source, n, positives) == ("history", 6, 3)
    assert parameters == {"since": None, "negative_after_days": 1, "as_of_days": 14}
    assert version == data["rules_version"] and f"rules version {version} stored" in stored.output
