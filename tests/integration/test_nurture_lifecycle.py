"""Nurture on leads.lifecycle.v1 (what sales did after the assignment), against real Kafka and
PostgreSQL: a lead sales gives back goes on the remarket list at once (and the sweep
re-engages it later), an invalid contact is suppressed, a lead closed for good stops, a
change that comes before the lead's decision waits for it, a redelivered change counts once,
the sales-status activities are consumed without a dead letter, and a lead an admin merged
into another stops its drips (the survivor's go on) and never starts again."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.nurture.app import create_app
from services.nurture.lifecycle.service import sweep
from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import NurtureSettings
from services.nurture.steps.service import fire_due
from shared.events.registry import LEAD_ACTIVITY, LEAD_LIFECYCLE, NURTURE_LIFECYCLE
from shared.kafka.topics import dlq_topic
from tests.clock import ManualClock
from tests.integration.test_nurture import ADMIN, TUESDAY_10AM_NY, known, state
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.nurture_env import TOPIC_OF, activity, assigned, merge, sales_change


@pytest.fixture
async def nurture(env):
    clock = ManualClock(TUESDAY_10AM_NY)
    settings = NurtureSettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap, nurture_consumer_group=f"{env.prefix}nurture",
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = NurtureRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.nurture = ctx
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nurture")
    yield ctx, clock, api
    await api.aclose()
    await runtime.stop()
    assert not failures


async def publish(env, producer, *events):
    await producer.publish_many(
        [(env.topic(TOPIC_OF[e.type]), e.subject.encode(), e, ()) for e in events]
    )


def kinds_of(records, lead_id) -> list[str]:
    return [value(r)["data"]["kind"] for r in records if value(r)["subject"] == str(lead_id)]


def remarketed_by_sales() -> float:
    labels = {"reason": "sales_recycled"}
    return REGISTRY.get_sample_value("leadflow_nurture_remarket_total", labels) or 0.0


async def test_a_lead_sales_gives_back_is_on_the_remarket_list_and_the_sweep_takes_it_on(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    before = remarketed_by_sales()
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle:
        await publish(env, producer, assigned(lead, clock.now, temperature="hot", stage="sql"))
        s = await known(api, lead, lambda s: s["with_sales"])
        assert [(e["sequence_id"], e["status"]) for e in s["enrollments"]] == [
            ("web-welcome", "paused")
        ]
        clock.advance(days=30)  # the rep never worked it
        await publish(
            env, producer,
            sales_change(lead, clock.now, "remarket", change="recycled", status="recycled",
                         reason="inactive", stage="recycled"),
        )  # fmt: skip
        s = await known(api, lead, lambda s: s["list"] == "remarket")
        assert not s["with_sales"] and s["sales_status"] == "recycled"
        assert s["list_reason"] == "recycled by sales: not worked in time"
        assert s["remarket_at"] is not None and s["idle_since"] is not None
        assert [(e["status"], e["reason"]) for e in s["enrollments"]] == [
            ("stopped", "recycled by sales: not worked in time")
        ]
        events = await lifecycle.read(until=lambda rs: "remarket" in kinds_of(rs, lead))
        remarket = next(value(r)["data"] for r in events if value(r)["data"]["kind"] == "remarket")
        assert remarket["list"] == "remarket"
        assert remarket["reason"] == "recycled by sales: not worked in time"
        assert kinds_of(events, lead) == ["enrolled", "paused", "stopped", "remarket"]
        assert remarketed_by_sales() == before + 1

        # nothing runs: idle from the recycling, re-engaged by its segment when that is due
        assert await fire_due(ctx) == 0
        clock.advance(days=29)
        assert (await sweep(ctx)).reengaged == 0
        clock.advance(days=1)
        result = await sweep(ctx)
        assert (result.remarket, result.reengaged) == (0, 1)
        s = await state(api, lead)
        assert s["enrollments"][-1]["trigger"] == "reengagement"
        # a later engagement reactivates it, as any lead on the remarket list
        await publish(env, producer, activity(lead, "click", clock.now, url="https://example.com"))
        s = await known(api, lead, lambda s: s["list"] == "active")
        assert s["list_reason"] == "engaged again: back from remarket"


async def test_suppress_and_stop(env, nurture, producer):
    ctx, clock, api = nurture
    invalid, closed = uuid.uuid4(), uuid.uuid4()
    await publish(
        env, producer,
        assigned(invalid, clock.now, temperature="hot", stage="sql"),
        assigned(closed, clock.now),  # warm MQL given to a rep: its welcome runs
    )  # fmt: skip
    await known(api, invalid, lambda s: s["with_sales"])
    s = await known(api, closed)
    assert [e["status"] for e in s["enrollments"]] == ["active"]
    await publish(
        env, producer,
        sales_change(invalid, clock.now, "suppress", status="disqualified",
                     reason="invalid_contact", stage="disqualified"),
        sales_change(closed, clock.now, "stop", status="disqualified", reason="not_a_fit",
                     stage="disqualified"),
    )  # fmt: skip
    s = await known(api, invalid, lambda s: s["suppression"] is not None)
    assert s["suppression"]["reason"] == "invalid_contact" and not s["with_sales"]
    assert [(e["status"], e["reason"]) for e in s["enrollments"]] == [
        ("stopped", "suppressed: invalid_contact")
    ]
    s = await known(api, closed, lambda s: s["enrollments"][0]["status"] == "stopped")
    assert s["enrollments"][0]["reason"] == "closed by sales: disqualified not_a_fit"
    assert s["sales_status"] == "disqualified" and s["list"] == "active"
    for _ in range(5):
        clock.advance(days=7)
        assert await fire_due(ctx) == 0  # nothing more is sent to either


async def test_a_change_before_the_leads_decision_waits_for_it(env, nurture, producer):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    recycled = sales_change(
        lead, clock.now, "remarket", status="disqualified", reason="bad_timing", stage="recycled"
    )
    await publish(env, producer, recycled)
    await wait_for(lambda: _parked(ctx, lead), timeout=20)
    assert (await api.get(f"/v1/nurture/leads/{lead}", headers=ADMIN)).status_code == 404
    await publish(env, producer, assigned(lead, clock.now, temperature="hot", stage="sql"))
    s = await known(api, lead, lambda s: s["list"] == "remarket")
    assert s["list_reason"] == "recycled by sales: disqualified bad_timing"
    assert not s["with_sales"] and [e["status"] for e in s["enrollments"]] == ["stopped"]
    assert not await _parked(ctx, lead)


async def test_a_redelivered_change_has_its_effect_once(env, nurture, producer, stack):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now, temperature="hot", stage="sql"))
    await known(api, lead, lambda s: s["with_sales"])
    recycled = sales_change(
        lead, clock.now, "remarket", change="recycled", status="recycled", reason="inactive"
    )
    later = sales_change(lead, clock.now + timedelta(minutes=1), "none", change="stage")
    before = remarketed_by_sales()
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle:
        await publish(env, producer, recycled, recycled, later)  # one partition: in order
        await wait_for(lambda: _processed(ctx, later.id), timeout=20)
        await wait_for(lambda: _outbox_empty(ctx), timeout=20)
        events = await lifecycle.read()
    assert kinds_of(events, lead).count("remarket") == 1
    assert remarketed_by_sales() == before + 1
    s = await state(api, lead)
    assert s["list"] == "remarket" and [e["status"] for e in s["enrollments"]] == ["stopped"]


async def test_sales_status_activities_are_consumed_without_a_dead_letter(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now, temperature="hot", stage="sql"))
    await known(api, lead, lambda s: s["with_sales"])
    statuses = [
        activity(lead, "working", clock.now),
        activity(lead, "qualified", clock.now),
        activity(lead, "disqualified", clock.now, reason="duplicate", duplicate_of=uuid.uuid4()),
    ]
    click = activity(lead, "click", clock.now, url="https://example.com")
    async with (
        TopicReader(stack.bootstrap, dlq_topic(env.topic(LEAD_ACTIVITY.topic))) as dlq,
        TopicReader(stack.bootstrap, dlq_topic(env.topic(LEAD_LIFECYCLE.topic))) as lc_dlq,
    ):
        await publish(env, producer, *statuses, click)  # the click last, on the same partition
        s = await known(api, lead, lambda s: s["last_engaged_at"] is not None)
        assert await dlq.read(timeout=1) == [] and await lc_dlq.read(timeout=1) == []
    for ev in statuses:
        assert await _processed(ctx, ev.id)
    # no effect of their own: still with sales, its welcome still paused
    assert s["with_sales"] and [e["status"] for e in s["enrollments"]] == ["paused"]


async def test_a_lead_an_admin_merged_away_stops_its_drips_and_the_survivor_goes_on(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    gone, survivor = uuid.uuid4(), uuid.uuid4()
    await publish(env, producer, assigned(gone, clock.now), assigned(survivor, clock.now))
    for lead in (gone, survivor):
        s = await known(api, lead, lambda s: bool(s["enrollments"]))
        assert [e["status"] for e in s["enrollments"]] == ["active"]
    admin_merge = merge(survivor, gone, clock.now)
    await wait_for(lambda: _outbox_empty(ctx), timeout=20)  # their enrollments are published
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_LIFECYCLE.topic)) as lifecycle:
        # an automatic merge and a split need nothing of nurture
        automatic = merge(survivor, uuid.uuid4(), clock.now, how="automatic")
        split = merge(survivor, uuid.uuid4(), clock.now, change="split")
        await publish(env, producer, automatic, split, admin_merge, admin_merge)  # and redelivered
        s = await known(api, gone, lambda s: s["enrollments"][0]["status"] == "stopped")
        await wait_for(lambda: _outbox_empty(ctx), timeout=20)
        events = await lifecycle.read()
    assert s["enrollments"][0]["reason"].startswith(f"merged into lead {survivor}")
    assert s["suppression"]["reason"] == "merged" and s["idle_since"] is None
    stopped = [value(r)["data"] for r in events if value(r)["subject"] == str(gone)]
    assert [(e["kind"], e["reason"][: len(f"merged into lead {survivor}")]) for e in stopped] == [
        ("stopped", f"merged into lead {survivor}")
    ]
    assert kinds_of(events, survivor) == []
    for ev in (automatic, split):
        assert await _processed(ctx, ev.id)
    assert [e["status"] for e in (await state(api, survivor))["enrollments"]] == ["active"]

    # nothing more goes to the merged lead, and it is never re-engaged; the survivor's drip goes on
    clock.advance(days=1)
    sent = await fire_due(ctx)
    assert sent >= 1
    async with ctx.sessions() as session:
        steps = await session.scalar(
            text(
                "SELECT count(*) FROM nurture.scheduled_step WHERE lead_id = :l"
                " AND state NOT IN ('cancelled')"
            ),
            {"l": gone},
        )
    assert steps == 0
    clock.advance(days=400)
    await sweep(ctx)
    assert [e["status"] for e in (await state(api, gone))["enrollments"]] == ["stopped"]

    # the person unsubscribes from a mail the merged lead got before: the survivor is suppressed
    await publish(env, producer, activity(gone, "unsubscribe", clock.now))
    s = await known(api, survivor, lambda s: s["suppression"] is not None)
    assert s["suppression"]["reason"] == "unsubscribed"


async def _parked(ctx, ref) -> bool:
    async with ctx.sessions() as session:
        n = await session.scalar(
            text(
                "SELECT count(*) FROM nurture.pending_activity "
                "WHERE lead_ref = :r AND event_type = :t"
            ),
            {"r": ref, "t": LEAD_LIFECYCLE.type},
        )
    return bool(n)


async def _processed(ctx, event_id: str) -> bool:
    async with ctx.sessions() as session:
        n = await session.scalar(
            text("SELECT count(*) FROM nurture.processed_event WHERE event_id = :e"),
            {"e": event_id},
        )
    return bool(n)


async def _outbox_empty(ctx) -> bool:
    async with ctx.sessions() as session:
        return await session.scalar(text("SELECT count(*) FROM nurture.outbox")) == 0
