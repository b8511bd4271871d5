"""Holidays and period caps through the router, on real Kafka and PostgreSQL, with time
from a manual clock: an SLA window over a public holiday, a rep at their daily cap until
their own local midnight."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import text

from services.router.domain.caps import local_day, week_start
from services.router.runtime import RouterRuntime, drain_queue
from services.router.settings import RouterSettings
from shared import db
from shared.events.registry import LEAD_ASSIGNED
from tests.clock import ManualClock
from tests.integration.test_router import ADMIN, start_router
from tests.kafka_helpers import TopicReader, value
from tests.router_env import FIXTURES, publish_received, received, sales_ready, sql

CHRISTMAS_10AM_BERLIN = datetime(2026, 12, 25, 9, 0, tzinfo=UTC)  # a Friday


@pytest.fixture
async def router(env):
    clock = ManualClock(CHRISTMAS_10AM_BERLIN)
    settings = RouterSettings(
        **{**env.settings_kwargs(), "router_routing_file": FIXTURES / "routing-availability.yaml"}
    )
    failures: list[BaseException] = []
    runtime = RouterRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    yield ctx, clock
    await runtime.stop()
    assert not failures


def _lead(tag: str, **fields):
    return sales_ready(f"{tag}.{uuid.uuid4().hex[:8]}@{tag}.example", last_name=tag, **fields)


async def _decide_one(env, producer, assigned: TopicReader, clock: ManualClock, fields) -> dict:
    """Publish one lead and return the data of its leads.assigned.v1 decision."""
    topic, key, event = received(fields, at=clock.now)
    submission = str(event.data["lead_id"])
    await publish_received(env, producer, [(topic, key, event)])
    records = await assigned.read(
        until=lambda rs: any(value(r)["data"]["submission_id"] == submission for r in rs),
        timeout=20,
    )
    return next(
        value(r)["data"] for r in records if value(r)["data"]["submission_id"] == submission
    )


async def test_a_lead_on_a_public_holiday_is_due_the_next_business_day_and_says_why(
    env, router, producer, stack
):
    _, clock = router
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        data = await _decide_one(env, producer, assigned, clock, _lead("xmas"))

    assert data["outcome"] == "assigned" and data["team_id"] == "emea"
    # Christmas Day in Germany: the team's clock counts nothing until Monday 08:00 Berlin
    assert data["sla"]["started_at"] == "2026-12-25T09:00:00Z"
    assert data["sla"]["due_at"] == "2026-12-28T08:00:00Z"  # Monday 09:00 in Berlin
    sla = data["explanation"]["sla"]
    assert sla["holidays"] == [{"date": "2026-12-25", "name": "Christmas Day"}]
    assert sla["due_at"] == "2026-12-28T08:00:00+00:00"
    assert "Christmas Day (2026-12-25)" in data["reason"]
    # Lena keeps Berlin's holidays: skipped, the holiday named; Kai takes the lead
    assert data["rep_id"] == "rep-kai"
    candidates = {c["rep_id"]: c for c in data["explanation"]["teams_tried"][0]["candidates"]}
    assert candidates["rep-lena"]["reason"] == "holiday"
    assert candidates["rep-lena"]["detail"] == (
        "Christmas Day (2026-12-25, DE-BE public holiday in Europe/Berlin)"
    )
    assert candidates["rep-kai"]["reason"] is None
    stored = await sql(env, "SELECT due_at FROM router.sla_clock")
    assert stored == [(datetime(2026, 12, 28, 8, 0, tzinfo=UTC),)]


async def _execute(env, statement: str, **params) -> None:
    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def test_a_lead_taken_from_the_queue_on_a_holiday_says_why_too(env, router, producer, stack):
    """The single-lead path (queue drain, reassignment) explains the holiday as the batch does."""
    ctx, clock = router
    await _execute(env, "UPDATE router.rep SET active = false WHERE team_id = 'emea'")
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        queued = await _decide_one(env, producer, assigned, clock, _lead("waits"))
        assert queued["outcome"] == "queued" and "sla" not in queued["explanation"]
        await _execute(env, "UPDATE router.rep SET active = true WHERE id = 'rep-kai'")
        clock.advance(hours=1)
        assert await drain_queue(ctx) == 1
        records = await assigned.read(until=lambda rs: len(rs) >= 2, timeout=20)
    (dequeued,) = (value(r)["data"] for r in records if value(r)["data"]["kind"] == "dequeued")
    assert dequeued["rep_id"] == "rep-kai"
    assert dequeued["sla"]["due_at"] == "2026-12-28T08:00:00Z"
    assert dequeued["explanation"]["sla"]["holidays"] == [
        {"date": "2026-12-25", "name": "Christmas Day"}
    ]
    assert "Christmas Day (2026-12-25)" in dequeued["reason"]
    rows = await sql(env, "SELECT day_count, cap_day FROM router.rep WHERE id = 'rep-kai'")
    assert [tuple(r) for r in rows] == [(1, date(2026, 12, 25))]


async def test_a_rep_at_the_daily_cap_gets_leads_again_after_their_local_midnight(
    env, router, producer, stack
):
    ctx, clock = router
    # Saturday 28 March 2026, 23:30 in Berlin (CET), 18:30 in New York (EDT); Berlin moves
    # to summer time in the night, New York did three weeks before
    clock.now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        first = await _decide_one(env, producer, assigned, clock, _lead("cap1", country="FR"))
        second = await _decide_one(env, producer, assigned, clock, _lead("cap2", country="FR"))
        third = await _decide_one(env, producer, assigned, clock, _lead("cap3", country="FR"))

        assert first["rep_id"] == "rep-berlin"
        assert second["rep_id"] == "rep-newyork"
        reasons = {
            c["rep_id"]: (c["reason"], c["detail"])
            for c in second["explanation"]["teams_tried"][0]["candidates"]
        }
        assert reasons["rep-berlin"] == (
            "at_daily_cap",
            "daily cap 1 reached: 1 new leads on 2026-03-28 in Europe/Berlin",
        )
        assert third["outcome"] == "queued"
        reasons = {
            c["rep_id"]: c["reason"] for c in third["explanation"]["teams_tried"][0]["candidates"]
        }
        assert reasons == {"rep-berlin": "at_daily_cap", "rep-newyork": "at_daily_cap"}

        # 00:10 on Sunday 29 March in Berlin (still 19:10 on the 28th in New York)
        clock.now = datetime(2026, 3, 28, 23, 10, tzinfo=UTC)
        assert await drain_queue(ctx) == 1  # the waiting lead, through the single-lead path
        records = await assigned.read(until=lambda rs: len(rs) >= 4, timeout=20)
        (dequeued,) = (value(r)["data"] for r in records if value(r)["data"]["kind"] == "dequeued")
        assert dequeued["lead_id"] == third["lead_id"] and dequeued["rep_id"] == "rep-berlin"

        # after Berlin's first summer-time midnight (22:00 UTC) its day starts again; New
        # York's began at 04:00 UTC: both may take a lead, round robin gives it to New York
        clock.now = datetime(2026, 3, 29, 22, 5, tzinfo=UTC)
        fourth = await _decide_one(env, producer, assigned, clock, _lead("cap4", country="FR"))
        assert fourth["rep_id"] == "rep-newyork"
        assert all(
            c["reason"] is None for c in fourth["explanation"]["teams_tried"][0]["candidates"]
        )
        fifth = await _decide_one(env, producer, assigned, clock, _lead("cap5", country="FR"))
        assert fifth["rep_id"] == "rep-berlin"

    rows = await sql(
        env,
        "SELECT id, open_leads, cap_day, day_count, cap_week, week_count FROM router.rep"
        " WHERE team_id = 'capped' ORDER BY id",
    )
    assert [tuple(r) for r in rows] == [
        ("rep-berlin", 3, date(2026, 3, 30), 1, date(2026, 3, 30), 1),
        ("rep-newyork", 2, date(2026, 3, 29), 1, date(2026, 3, 23), 2),
    ]


# --- the admin API ---


@pytest.fixture
async def router_process(env, tmp_path):
    proc = await asyncio.to_thread(
        start_router,
        env,
        tmp_path,
        LEADFLOW_ROUTER_ROUTING_FILE=str(FIXTURES / "routing-availability.yaml"),
    )
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, headers=ADMIN) as client:
        yield client
    await asyncio.to_thread(proc.stop)


async def test_admin_manages_calendars_and_caps(env, router_process):
    client = router_process
    year = (await client.get("/v1/admin/teams/emea/holidays", params={"year": 2026})).json()
    assert (year["team"], year["country"], year["timezone"]) == ("emea", "DE", "Europe/Berlin")
    assert {"date": "2026-12-25", "name": "Christmas Day", "source": "public"} in year["holidays"]

    added = await client.put(
        "/v1/admin/teams/emea/holidays/2026-12-24", json={"name": "Christmas Eve"}
    )
    assert added.status_code == 200
    assert added.json() == {"date": "2026-12-24", "name": "Christmas Eve", "source": "added"}
    year = (await client.get("/v1/admin/teams/emea/holidays?year=2026")).json()
    assert {"date": "2026-12-24", "name": "Christmas Eve", "source": "added"} in year["holidays"]
    teams = {t["id"]: t for t in (await client.get("/v1/admin/teams")).json()}
    assert teams["emea"]["holidays"] == [{"date": "2026-12-24", "name": "Christmas Eve"}]
    assert (await client.delete("/v1/admin/teams/emea/holidays/2026-12-24")).status_code == 204
    assert (await client.delete("/v1/admin/teams/emea/holidays/2026-12-24")).status_code == 404
    assert (await client.get("/v1/admin/teams/nobody/holidays")).status_code == 404
    assert (await client.get("/v1/admin/teams/emea/holidays?year=1200")).status_code == 422

    team = {**teams["emea"], "country": "XX"}
    bad = await client.put("/v1/admin/teams/emea", json=team)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "country"
    team = {
        **teams["emea"],
        "country": "GB",
        "subdivision": "eng",
        "holidays": [{"date": "2027-01-04", "name": "Shutdown"}],
    }
    put = await client.put("/v1/admin/teams/emea", json=team)
    assert put.status_code == 200, put.text
    assert (put.json()["country"], put.json()["subdivision"]) == ("GB", "ENG")
    year = (await client.get("/v1/admin/teams/emea/holidays?year=2027")).json()
    assert {"date": "2027-01-04", "name": "Shutdown", "source": "added"} in year["holidays"]
    assert {"date": "2027-12-27", "name": "Christmas Day (observed)", "source": "public"} in year[
        "holidays"
    ]

    # rep calendars and caps
    lena = await client.get("/v1/admin/reps/rep-lena/holidays?year=2027")
    assert any(h["name"] == "Women's Day" for h in lena.json()["holidays"])
    assert (
        await client.put("/v1/admin/reps/rep-lena/holidays/2027-06-01", json={"name": "Offsite"})
    ).status_code == 200
    patched = await client.patch(
        "/v1/admin/reps/rep-lena", json={"daily_cap": 3, "weekly_cap": 10, "subdivision": "by"}
    )
    assert patched.status_code == 200, patched.text
    out = patched.json()
    assert (out["daily_cap"], out["weekly_cap"], out["country"], out["subdivision"]) == (
        3,
        10,
        "DE",
        "BY",
    )
    assert out["holidays"] == [{"date": "2027-06-01", "name": "Offsite"}]  # kept by a PATCH
    assert (out["new_leads_today"], out["new_leads_this_week"]) == (0, 0)
    bad = await client.patch("/v1/admin/reps/rep-lena", json={"daily_cap": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "daily_cap"
    bad = await client.patch("/v1/admin/reps/rep-lena", json={"subdivision": "ZZ"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "subdivision"
    cleared = await client.patch("/v1/admin/reps/rep-lena", json={"weekly_cap": None})
    assert cleared.json()["weekly_cap"] is None and cleared.json()["daily_cap"] == 3

    # the live counts survive a PUT of the rep, as open leads do
    today = local_day(datetime.now(UTC), "Europe/Berlin")
    await _execute(
        env,
        "UPDATE router.rep SET open_leads = 4, cap_day = :d, day_count = 2, cap_week = :w,"
        " week_count = 5 WHERE id = 'rep-lena'",
        d=today,
        w=week_start(today),
    )
    reps = {r["id"]: r for r in (await client.get("/v1/admin/reps")).json()}
    body = {
        k: reps["rep-lena"][k]
        for k in ("id", "name", "email", "timezone", "working_hours", "weight", "capacity",
                  "active", "daily_cap", "weekly_cap", "country", "subdivision", "holidays")
    }  # fmt: skip
    put = await client.put("/v1/admin/reps/rep-lena", json={**body, "team": "emea", "daily_cap": 2})
    assert put.status_code == 200, put.text
    out = put.json()
    assert (out["open_leads"], out["new_leads_today"], out["new_leads_this_week"]) == (4, 2, 5)
    assert out["daily_cap"] == 2 and out["local_day"] == today.isoformat()
