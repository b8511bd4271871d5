"""The SLA clock with time from an injectable clock: warning, breach, reassignment; a touch stops it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from services.router.runtime import RouterRuntime
from services.router.settings import RouterSettings
from services.router.sla.service import fire_due
from shared.events.envelope import make_event
from shared.events.models import ActivityKind, ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, LEAD_SLA
from tests.clock import ManualClock
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import FIXTURES, publish_received, received, sales_ready


@pytest.fixture
async def router(env):
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = RouterSettings(
        **{**env.settings_kwargs(), "router_routing_file": FIXTURES / "routing-short-sla.yaml"}
    )
    failures: list[BaseException] = []
    runtime = RouterRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    yield ctx, clock
    await runtime.stop()
    assert not failures


def ttft_count(team: str, source: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "leadflow_router_time_to_first_touch_seconds_count", {"team": team, "source": source}
        )
        or 0.0
    )


async def test_untouched_lead_warns_breaches_and_is_reassigned_in_order(
    env, router, producer, stack
):
    ctx, clock = router
    async with (
        TopicReader(stack.bootstrap, env.topic(LEAD_SLA.topic)) as sla,
        TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned,
    ):
        await publish_received(
            env,
            producer,
            [received(sales_ready(f"slow.{uuid.uuid4().hex[:6]}@x.example"), at=clock.now)],
        )
        first = await assigned.read(until=lambda rs: len(rs) >= 1, timeout=15)
        owner = value(first[0])["data"]["rep_id"]
        lead_id = value(first[0])["data"]["lead_id"]
        assert await fire_due(ctx) == 0  # nothing due yet

        clock.advance(seconds=61)  # past the 1-minute warning
        assert await fire_due(ctx) == 1
        clock.advance(seconds=60)  # past the 2-minute SLA
        assert await fire_due(ctx) == 1
        events = await sla.read(until=lambda rs: len(rs) >= 3, timeout=15)
        after = await assigned.read(until=lambda rs: len(rs) >= 2, timeout=15)

    kinds = [value(r)["data"]["kind"] for r in events]
    assert kinds == ["warning", "breach", "reassignment"]
    assert all(value(r)["data"]["lead_id"] == lead_id for r in events)
    reassignment = value(events[2])["data"]
    assert reassignment["rep_id"] == owner and reassignment["new_rep_id"] not in (None, owner)
    second = value(after[1])["data"]
    assert second["kind"] == "reassigned" and second["rep_id"] == reassignment["new_rep_id"]
    assert owner in second["reason"]
    assert any(
        c["reason"] == "excluded" and c["rep_id"] == owner
        for c in second["explanation"]["candidates"]
    )


async def test_touch_before_deadline_stops_the_clock_and_records_time_to_first_touch(
    env, router, producer, stack
):
    ctx, clock = router
    before = ttft_count("core", "web")
    async with (
        TopicReader(stack.bootstrap, env.topic(LEAD_SLA.topic)) as sla,
        TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned,
    ):
        await publish_received(
            env,
            producer,
            [received(sales_ready(f"fast.{uuid.uuid4().hex[:6]}@x.example"), at=clock.now)],
        )
        data = value((await assigned.read(until=lambda rs: len(rs) >= 1, timeout=15))[0])["data"]
        clock.advance(seconds=30)
        touch = ActivityReceived(
            activity_id=uuid.uuid4(),
            lead_id=uuid.UUID(data["lead_id"]),
            kind=ActivityKind.touch,
            touch_channel="call",
            rep_id=data["rep_id"],
            occurred_at=clock.now,
            received_at=clock.now,
            source=SourceRef(id="crm", kind="signed"),
        )
        event = make_event(
            type=LEAD_ACTIVITY.type,
            source="/tests",
            subject=data["lead_id"],
            data=touch,
            time=clock.now,
        )
        await producer.publish(env.topic(LEAD_ACTIVITY.topic), data["lead_id"].encode(), event)
        events = await sla.read(until=lambda rs: len(rs) >= 1, timeout=15)
        clock.advance(minutes=10)  # long past the deadline: nothing fires any more
        assert await fire_due(ctx) == 0
        assert await sla.new_count() == 1

    first_touch = value(events[0])["data"]
    assert first_touch["kind"] == "first_touch" and first_touch["rep_id"] == data["rep_id"]
    assert first_touch["business_minutes_elapsed"] == pytest.approx(0.5, abs=0.01)
    await wait_for(lambda: ttft_count("core", "web") == before + 1, timeout=5)


async def test_touch_that_races_its_lead_is_parked_then_applied(env, router, producer, stack):
    ctx, clock = router
    topic, key, lead_event = received(
        sales_ready(f"racy.{uuid.uuid4().hex[:6]}@x.example"), at=clock.now
    )
    submission_id = lead_event.data["lead_id"]
    clock.advance(seconds=20)
    touch = ActivityReceived(
        activity_id=uuid.uuid4(),
        lead_id=uuid.UUID(
            submission_id
        ),  # the id ingest answered, before the router knows the lead
        kind=ActivityKind.touch,
        touch_channel="email",
        rep_id="rep-a",
        occurred_at=clock.now,
        received_at=clock.now,
        source=SourceRef(id="crm", kind="signed"),
    )
    event = make_event(
        type=LEAD_ACTIVITY.type, source="/tests", subject=submission_id, data=touch, time=clock.now
    )
    async with TopicReader(stack.bootstrap, env.topic(LEAD_SLA.topic)) as sla:
        await producer.publish(env.topic(LEAD_ACTIVITY.topic), submission_id.encode(), event)
        await wait_for(lambda: _parked(ctx), timeout=15)
        await producer.publish(env.topic(topic), key, lead_event)
        events = await sla.read(until=lambda rs: len(rs) >= 1, timeout=15)
    first_touch = value(events[0])["data"]
    assert first_touch["kind"] == "first_touch"
    assert first_touch["business_minutes_elapsed"] == pytest.approx(20 / 60, abs=0.01)
    assert await _parked(ctx) == 0


async def _parked(ctx) -> int:
    from sqlalchemy import func, select

    from services.router.models import PendingActivity

    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(PendingActivity)) or 0)


async def test_hundreds_of_clocks_due_at_once_fire_in_batches_each_once(
    env, router, producer, stack
):
    """A trade show's Monday 08:00: many clocks fall due together and step in batches."""
    ctx, clock = router
    leads = [
        received(sales_ready(f"many{n}.{uuid.uuid4().hex[:6]}@x.example"), at=clock.now)
        for n in range(300)
    ]
    async with TopicReader(stack.bootstrap, env.topic(LEAD_SLA.topic)) as sla:
        await publish_received(env, producer, leads)
        await wait_for(lambda: _clocks_when(env, 300), timeout=60)
        clock.advance(seconds=61)  # every warning is due
        assert await fire_due(ctx) == 200  # one batch
        assert await fire_due(ctx) == 100
        assert await fire_due(ctx) == 0
        events = await sla.read(until=lambda rs: len(rs) >= 300, timeout=30)
    warned = [value(r)["data"]["lead_id"] for r in events if value(r)["data"]["kind"] == "warning"]
    assert len(warned) == len(set(warned)) == 300


async def _clocks_when(env, count):
    from tests.router_env import sql

    n = (await sql(env, "SELECT count(*) FROM router.sla_clock"))[0][0]
    return n if n >= count else None
