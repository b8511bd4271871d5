"""After assignment, on real Kafka and PostgreSQL with an injectable clock: sales statuses,
capacity that frees, recycling, re-routing recycled leads, reps who leave."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.router.lifecycle.service import sweep
from services.router.runtime import RouterRuntime, drain_queue
from services.router.settings import RouterSettings
from shared.events.envelope import make_event
from shared.events.models import ActivityKind, ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, LEAD_LIFECYCLE
from shared.settings import DEV_ADMIN_TOKEN
from tests.clock import ManualClock
from tests.integration.test_router import start_router
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import FIXTURES, publish_received, received, sales_ready, sql, write

ROUTING = FIXTURES / "routing-lifecycle.yaml"
ADMIN = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def router(env):
    clock = ManualClock(START)
    settings = RouterSettings(**{**env.settings_kwargs(), "router_routing_file": ROUTING})
    failures: list[BaseException] = []
    runtime = RouterRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    yield ctx, clock
    await runtime.stop()
    assert not failures


def _email(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:8]}@{tag}.example"


async def _arrive(env, producer, clock, fields: dict[str, Any] | tuple[str, bytes, Any]) -> str:
    """One lead (its fields, or a built event) through leads.received.v1; returns its
    canonical id once decided."""
    item = received(fields, at=clock.now) if isinstance(fields, dict) else fields
    submission = str(item[2].data["lead_id"])
    await publish_received(env, producer, [item])

    async def decided():
        rows = await sql(
            env,
            "SELECT s.lead_id FROM router.lead_submission s JOIN router.assignment a"
            " ON a.lead_id = s.lead_id WHERE s.submission_id = :id",
            id=uuid.UUID(submission),
        )
        return str(rows[0][0]) if rows else None

    return await wait_for(decided, timeout=30)


async def _report(
    env, producer, clock, lead_ref: str, kind: str, *, at: datetime | None = None, **fields: Any
) -> str:
    """An activity as ingest publishes it; returns its event id."""
    at = at or clock.now
    data = ActivityReceived(
        activity_id=uuid.uuid4(),
        lead_id=uuid.UUID(lead_ref),
        kind=ActivityKind(kind),
        occurred_at=at,
        received_at=clock.now,
        source=SourceRef(id="crm", kind="signed"),
        **fields,
    )
    event = make_event(
        type=LEAD_ACTIVITY.type, source="/tests/crm", subject=lead_ref, data=data, time=clock.now
    )
    await producer.publish(env.topic(LEAD_ACTIVITY.topic), lead_ref.encode(), event)
    return event.id


async def _processed(env, event_id: str) -> None:
    async def seen():
        rows = await sql(
            env, "SELECT 1 FROM router.processed_event WHERE event_id = :id", id=event_id
        )
        return rows or None

    await wait_for(seen, timeout=30)


async def _lead(env, lead_id: str) -> dict[str, Any]:
    rows = await sql(
        env,
        "SELECT status, owner_rep_id, lifecycle_stage, sales_status, disqualify_reason,"
        " last_owner_rep_id FROM router.lead WHERE id = :id",
        id=uuid.UUID(lead_id),
    )
    return dict(rows[0]._mapping)


async def _open_leads(env) -> dict[str, int]:
    return {r: n for r, n in await sql(env, "SELECT id, open_leads FROM router.rep")}


async def _owners(env, lead_ids: list[str]) -> dict[str, str | None]:
    rows = await sql(
        env,
        "SELECT id::text, owner_rep_id FROM router.lead WHERE id::text = ANY(:ids)",
        ids=lead_ids,
    )
    return dict(rows)  # type: ignore[arg-type]


async def test_a_full_team_frees_capacity_when_leads_are_disqualified_or_recycled(
    env, router, producer, stack
):
    ctx, clock = router
    leads = [await _arrive(env, producer, clock, sales_ready(_email(f"f{n}"))) for n in range(3)]
    assert await _open_leads(env) == {"rep-a": 2, "rep-b": 1, "rep-d": 0, "rep-e": 0}
    full = await _arrive(env, producer, clock, sales_ready(_email("full")))
    assert (await _lead(env, full))["status"] == "queued"  # both reps at capacity

    owners = await _owners(env, leads)
    of_a = [lead for lead in leads if owners[lead] == "rep-a"]
    await _processed(
        env,
        await _report(env, producer, clock, of_a[0], "disqualified", reason="not_a_fit", rep_id="rep-a"),
    )  # fmt: skip
    assert (await _open_leads(env))["rep-a"] == 1
    after = await _arrive(env, producer, clock, sales_ready(_email("after")))
    assert (await _lead(env, after))["owner_rep_id"] == "rep-a"  # assigned, not queued

    # a month on, nobody worked rep-b's lead: recycled, and the queued lead gets rep-b
    clock.advance(days=31)
    result = await sweep(ctx)
    assert result.recycled == 3  # the untouched ones of both reps (rep-a's two, rep-b's one)
    assert await _open_leads(env) == {"rep-a": 0, "rep-b": 0, "rep-d": 0, "rep-e": 0}
    assert await drain_queue(ctx) == 1
    assert (await _lead(env, full))["status"] == "assigned"
    disqualified = await _lead(env, of_a[0])
    assert (disqualified["status"], disqualified["lifecycle_stage"]) == (
        "disqualified",
        "disqualified",
    )
    assert disqualified["disqualify_reason"] == "not_a_fit"


async def test_an_untouched_lead_is_recycled_with_an_event_and_a_touched_one_is_not(
    env, router, producer, stack
):
    ctx, clock = router
    idle = await _arrive(env, producer, clock, sales_ready(_email("idle")))
    worked = await _arrive(env, producer, clock, sales_ready(_email("worked")))
    owner = (await _lead(env, worked))["owner_rep_id"]
    clock.advance(days=10)
    await _processed(
        env,
        await _report(env, producer, clock, worked, "touch", touch_channel="call", rep_id=owner),
    )
    async with TopicReader(stack.bootstrap, env.topic(LEAD_LIFECYCLE.topic)) as lifecycle:
        clock.advance(days=20, minutes=1)  # 30 days since assignment, 20 since the touch
        assert (await sweep(ctx)).recycled == 1
        events = await lifecycle.read(until=lambda rs: len(rs) >= 1, timeout=15)
    (event,) = [value(r)["data"] for r in events]
    assert event["lead_id"] == idle and event["change"] == "recycled"
    assert event["marketing"] == "remarket" and event["reason"] == "inactive"
    assert event["stage"] == "recycled" and event["released_rep_id"] is not None
    assert "30 days" in event["detail"]
    recycled = await _lead(env, idle)
    assert (recycled["status"], recycled["owner_rep_id"], recycled["sales_status"]) == (
        "recycled",
        None,
        "recycled",
    )
    assert (await _lead(env, worked))["status"] == "assigned"
    ended = await sql(
        env,
        "SELECT count(*) FROM router.assignment WHERE lead_id = :id AND ended_at IS NULL",
        id=uuid.UUID(idle),
    )
    assert ended == [(0,)]
    assert (await sweep(ctx)).recycled == 0  # once
    clock.advance(days=10)  # 30 days after the touch
    assert (await sweep(ctx)).recycled == 1


async def test_a_recycled_lead_that_scores_mql_again_goes_back_to_its_last_owner(
    env, router, producer, stack
):
    _ctx, clock = router
    # fit 24, below the MQL threshold 30: a reply makes it MQL and sends it to sales
    fields = sales_ready(_email("back"))
    fields["job_title"] = "Engineering Manager"
    lead = await _arrive(env, producer, clock, fields)
    assert (await _lead(env, lead))["status"] == "nurture"
    await _processed(env, await _report(env, producer, clock, lead, "reply"))
    first = await _lead(env, lead)
    assert first["status"] == "assigned" and first["lifecycle_stage"] == "mql"
    owner = first["owner_rep_id"]

    clock.advance(days=2)
    await _processed(
        env,
        await _report(env, producer, clock, lead, "disqualified", reason="bad_timing", rep_id=owner),
    )  # fmt: skip
    recycled = await _lead(env, lead)
    assert (recycled["status"], recycled["lifecycle_stage"]) == ("recycled", "recycled")
    assert (await _open_leads(env))[owner] == 0

    clock.advance(days=20)  # engagement before recycling no longer counts: an open is not enough
    await _processed(env, await _report(env, producer, clock, lead, "open"))
    assert (await _lead(env, lead))["status"] == "recycled"
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        await _processed(env, await _report(env, producer, clock, lead, "reply"))
        decisions = await assigned.read(
            until=lambda rs: any(value(r)["data"]["lead_id"] == lead for r in rs), timeout=15
        )
    back = [value(r)["data"] for r in decisions if value(r)["data"]["lead_id"] == lead][-1]
    assert (back["outcome"], back["kind"], back["rep_id"]) == ("assigned", "sticky", owner)
    assert back["explanation"]["sticky"]["last_owner"] is True
    assert back["lifecycle_stage"] == "mql"
    again = await _lead(env, lead)
    assert (again["status"], again["owner_rep_id"], again["lifecycle_stage"]) == (
        "assigned",
        owner,
        "mql",
    )
    assert (await _open_leads(env))[owner] == 1
    stages = await sql(
        env,
        "SELECT stage, left_at IS NULL FROM router.lead_stage WHERE lead_id = :id"
        " ORDER BY entered_at",
        id=uuid.UUID(lead),
    )
    assert [tuple(s) for s in stages] == [
        ("lead", False),
        ("mql", False),
        ("recycled", False),
        ("mql", True),
    ]


async def test_a_recycled_lead_whose_last_owner_left_goes_round_robin(env, router, producer, stack):
    _ctx, clock = router
    lead = await _arrive(env, producer, clock, sales_ready(_email("rr")))
    owner = (await _lead(env, lead))["owner_rep_id"]
    other = "rep-b" if owner == "rep-a" else "rep-a"
    await _processed(
        env,
        await _report(env, producer, clock, lead, "disqualified", reason="no_budget", rep_id=owner),
    )  # fmt: skip
    await write(env, "UPDATE router.rep SET active = false WHERE id = :id", id=owner)
    clock.advance(days=1)
    await _processed(env, await _report(env, producer, clock, lead, "reply"))
    again = await _lead(env, lead)
    assert (again["status"], again["owner_rep_id"]) == ("assigned", other)


async def test_statuses_apply_in_occurred_at_order_whatever_id_names_the_lead(
    env, router, producer, stack
):
    _ctx, clock = router
    item = received(sales_ready(_email("order")), at=clock.now)
    submission = str(item[2].data["lead_id"])
    lead = await _arrive(env, producer, clock, item)
    owner = (await _lead(env, lead))["owner_rep_id"]
    newer, older = clock.now + timedelta(hours=2), clock.now + timedelta(hours=1)
    async with TopicReader(stack.bootstrap, env.topic(LEAD_LIFECYCLE.topic)) as lifecycle:
        # the newer report by the canonical id, the older one by the submission id, after it
        await _processed(
            env, await _report(env, producer, clock, lead, "qualified", at=newer, rep_id=owner)
        )
        await _processed(
            env,
            await _report(env, producer, clock, submission, "disqualified", at=older,
                          reason="competitor", rep_id=owner),
        )  # fmt: skip
        await asyncio.sleep(0.5)
        events = await lifecycle.read(timeout=2)
    state = await _lead(env, lead)
    assert (state["status"], state["sales_status"], state["lifecycle_stage"]) == (
        "opportunity",
        "qualified",
        "opportunity",
    )
    assert state["owner_rep_id"] == owner
    assert (await _open_leads(env))[owner] == 0  # an opportunity is outside the lead cap
    history = await sql(
        env,
        "SELECT status, applied FROM router.lead_status_change WHERE lead_id = :id"
        " ORDER BY occurred_at",
        id=uuid.UUID(lead),
    )
    assert [tuple(h) for h in history] == [("disqualified", False), ("qualified", True)]
    assert [value(r)["data"]["status"] for r in events] == ["qualified"]  # one event: applied


async def test_a_duplicate_goes_on_the_review_list_and_invalid_contact_is_suppressed(
    env, router, producer, stack
):
    _ctx, clock = router
    first = await _arrive(env, producer, clock, sales_ready(_email("dupe1")))
    second = await _arrive(env, producer, clock, sales_ready(_email("dupe2")))
    third = await _arrive(env, producer, clock, sales_ready(_email("gone")))
    async with TopicReader(stack.bootstrap, env.topic(LEAD_LIFECYCLE.topic)) as lifecycle:
        await _processed(
            env,
            await _report(env, producer, clock, second, "disqualified", reason="duplicate",
                          duplicate_of=uuid.UUID(first)),
        )  # fmt: skip
        await _processed(
            env,
            await _report(env, producer, clock, third, "disqualified", reason="invalid_contact"),
        )
        events = await lifecycle.read(until=lambda rs: len(rs) >= 2, timeout=15)
    by_lead = {value(r)["data"]["lead_id"]: value(r)["data"] for r in events}
    assert by_lead[second]["marketing"] == "stop" and by_lead[second]["duplicate_of"] == first
    assert by_lead[third]["marketing"] == "suppress"
    pairs = await sql(
        env, "SELECT lead_id::text, other_lead_id::text, status FROM router.duplicate_review"
    )
    assert [tuple(p) for p in pairs] == [(second, first, "open")]


async def test_an_away_rep_releases_leads_and_a_queue_team_queues_them(
    env, router, producer, stack
):
    ctx, clock = router
    desk = await _arrive(env, producer, clock, sales_ready(_email("desk"), country="FR"))
    desk_owner = (await _lead(env, desk))["owner_rep_id"]
    lead = await _arrive(env, producer, clock, sales_ready(_email("away")))
    owner = (await _lead(env, lead))["owner_rep_id"]
    other = "rep-b" if owner == "rep-a" else "rep-a"
    week = [
        {
            "starts_at": (clock.now - timedelta(hours=1)).isoformat(),
            "ends_at": (clock.now + timedelta(days=7)).isoformat(),
        }
    ]
    for rep in (owner, desk_owner):
        await write(
            env,
            "UPDATE router.rep SET out_of_office = CAST(:oof AS jsonb) WHERE id = :id",
            oof=json.dumps(week),
            id=rep,
        )
    async with (
        TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned,
        TopicReader(stack.bootstrap, env.topic(LEAD_LIFECYCLE.topic)) as lifecycle,
    ):
        assert (await sweep(ctx)).released == 2
        decisions = await assigned.read(until=lambda rs: len(rs) >= 2, timeout=15)
        released = await lifecycle.read(until=lambda rs: len(rs) >= 2, timeout=15)
    data = {value(r)["data"]["lead_id"]: value(r)["data"] for r in decisions}
    assert (data[lead]["kind"], data[lead]["rep_id"]) == ("reassigned", other)
    assert data[lead]["explanation"]["released"] == {"rep": owner, "why": "rep_away"}
    assert (data[desk]["outcome"], data[desk]["queue"]) == ("queued", "unassigned")
    assert {value(r)["data"]["change"] for r in released} == {"released"}
    assert (await _open_leads(env))[owner] == 0
    assert (await sweep(ctx)).released == 0


async def test_deactivating_a_rep_in_the_admin_api_reroutes_their_open_leads(
    env, producer, tmp_path, stack
):
    router = await asyncio.to_thread(
        start_router, env, tmp_path, LEADFLOW_ROUTER_ROUTING_FILE=str(ROUTING)
    )
    try:
        items = [received(sales_ready(_email(f"d{n}"))) for n in range(2)]
        await publish_received(env, producer, items)

        async def routed():
            n = (await sql(env, "SELECT count(*) FROM router.assignment"))[0][0]
            return n if n >= 2 else None

        await wait_for(routed, timeout=60)
        async with (
            TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned,
            httpx.AsyncClient(base_url=router.url, timeout=30) as client,
        ):
            room = await client.patch("/v1/admin/reps/rep-b", json={"capacity": 5}, headers=ADMIN)
            assert room.status_code == 200 and room.json()["released"]["leads"] == 0
            response = await client.patch(
                "/v1/admin/reps/rep-a", json={"active": False}, headers=ADMIN
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["released"] == {"leads": 1, "why": "rep_inactive"}
            assert body["open_leads"] == 0
            decisions = await assigned.read(
                until=lambda rs: any(value(r)["data"]["kind"] == "reassigned" for r in rs),
                timeout=15,
            )
        moved = [value(r)["data"] for r in decisions if value(r)["data"]["kind"] == "reassigned"]
        assert moved[0]["rep_id"] == "rep-b"
        assert "rep-a was deactivated" in moved[0]["reason"]
        assert await _open_leads(env) == {"rep-a": 0, "rep-b": 2, "rep-d": 0, "rep-e": 0}

        # the status history is in the lead's admin view: who, when, why
        lead_id = moved[0]["lead_id"]
        clock = ManualClock(datetime.now(UTC))
        await _processed(
            env,
            await _report(env, producer, clock, lead_id, "disqualified", reason="competitor",
                          rep_id="rep-b"),
        )  # fmt: skip
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as client:
            lead = (await client.get(f"/v1/admin/leads/{lead_id}", headers=ADMIN)).json()
            duplicates = await client.get("/v1/admin/duplicates", headers=ADMIN)
            bad = await client.get("/v1/admin/duplicates?status=maybe", headers=ADMIN)
        assert lead["status"] == "disqualified"
        assert lead["sales_status"]["status"] == "disqualified"
        assert lead["sales_status"]["reason"] == "competitor"
        (change,) = lead["status_history"]
        assert (change["status"], change["reason"], change["rep_id"], change["reported_by"]) == (
            "disqualified",
            "competitor",
            "rep-b",
            "crm",
        )
        assert change["applied"] is True and "competitor" in change["detail"]
        assert [st["stage"] for st in lead["stages"]][-1] == "disqualified"
        assert lead["lifecycle_stage"]["stage"] == "disqualified"
        assert [d["kind"] for d in lead["decisions"]] == ["initial", "reassigned"]
        assert duplicates.status_code == 200 and duplicates.json() == []
        assert bad.status_code == 422

        # the funnel reads what routing and the disqualification wrote
        async with httpx.AsyncClient(base_url=router.url, timeout=30) as client:
            since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
            funnel = await client.get(
                "/v1/admin/funnel", params={"from": since, "by": "team"}, headers=ADMIN
            )
            segments = await client.get("/v1/admin/segments", params={"by": "stage"}, headers=ADMIN)
        assert funnel.status_code == 200, funnel.text
        total = funnel.json()["total"]
        assert total["cohort"] == 2
        reached = {st["stage"]: st["reached"] for st in total["stages"]}
        assert reached["lead"] == 2 and reached["mql"] == 2 and reached["customer"] == 0
        side = {st["stage"]: st for st in total["side_stages"]}
        assert side["disqualified"]["entered"] == 1
        assert side["disqualified"]["by_reason"] == {"competitor": 1}
        assert segments.status_code == 200, segments.text
    finally:
        await asyncio.to_thread(router.stop)


async def test_an_activity_of_a_kind_this_router_does_not_know_is_skipped_not_dead_lettered(
    env, router, producer, stack
):
    _ctx, clock = router
    lead = await _arrive(env, producer, clock, sales_ready(_email("future")))
    data = ActivityReceived(
        activity_id=uuid.uuid4(), lead_id=uuid.UUID(lead), kind=ActivityKind.open,
        occurred_at=clock.now, received_at=clock.now, source=SourceRef(id="crm", kind="signed"),
    )  # fmt: skip
    event = make_event(
        type=LEAD_ACTIVITY.type, source="/tests/crm", subject=lead, data=data, time=clock.now
    )
    doc = json.loads(event.to_bytes())
    doc["data"]["kind"] = "webinar_attended"  # a kind from a newer producer
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ACTIVITY.topic + ".dlq")) as dlq:
        await producer.publish_raw(
            env.topic(LEAD_ACTIVITY.topic), lead.encode(), json.dumps(doc).encode()
        )
        # the next activity on the same partition is handled: the unknown one did not block it
        await _processed(env, await _report(env, producer, clock, lead, "working", rep_id="x"))
        assert await dlq.new_count() == 0
    assert (await _lead(env, lead))["sales_status"] == "working"
    kinds = await sql(
        env, "SELECT kind FROM router.activity WHERE lead_id = :id", id=uuid.UUID(lead)
    )
    assert [k for (k,) in kinds] == ["working"]
