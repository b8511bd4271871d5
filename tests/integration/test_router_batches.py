"""Batched decisions, the bulk lane and per-team locks, on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from shared import db
from shared.events.envelope import CloudEvent
from shared.events.registry import LEAD_ASSIGNED, LEAD_RECEIVED, LEAD_RECEIVED_BULK
from tests.integration.test_router import start_router
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import publish_received, received, sales_ready, sql


def _unique(tag: str) -> str:
    return f"{tag}.{uuid.uuid4().hex[:8]}@{tag}.example"


async def _processed_when(env, count):
    n = (await sql(env, "SELECT count(*) FROM router.processed_event"))[0][0]
    return n if n >= count else None


async def test_poison_in_the_middle_of_a_batch_goes_alone_to_the_dlq(
    env, producer, tmp_path, stack
):
    # one key: one partition, so the poison sits between its neighbours in one fetched batch
    key = b"email:shared-partition@example.com"
    good = [received(sales_ready(_unique(f"n{n}"), last_name=f"N{n}")) for n in range(20)]
    poison = CloudEvent(
        id=str(uuid.uuid4()),
        source="/tests/poison",
        type=LEAD_RECEIVED.type,
        time=datetime.now(UTC),
        data={"source": {"id": "website", "kind": "signed"}, "channel": "web"},  # no lead
    )
    items = [(t, key, e) for t, _, e in good[:10]] + [("leads.received.v1", key, poison)]
    items += [(t, key, e) for t, _, e in good[10:]]
    await publish_received(env, producer, items)
    async with TopicReader(stack.bootstrap, env.topic("leads.received.v1.dlq")) as dlq:
        router = await asyncio.to_thread(start_router, env, tmp_path)  # all 21 wait: one batch
        try:
            await wait_for(lambda: _routed_when(env, 20), timeout=60)
            await dlq.read(until=lambda rs: len(rs) >= 1, timeout=30)
            await asyncio.sleep(1)  # anything else would follow at once
            letters = await dlq.read(timeout=1)  # all since the start
        finally:
            await asyncio.to_thread(router.stop)
    assert len(letters) == 1
    assert value(letters[0])["id"] == poison.id
    assert dict(letters[0].headers)["dlq.error.type"] == b"InvalidEvent"
    rows = await sql(env, "SELECT count(*) FROM router.assignment WHERE rep_id IS NOT NULL")
    assert rows == [(20,)]


async def _routed_when(env, count):
    n = (await sql(env, "SELECT count(*) FROM router.assignment WHERE rep_id IS NOT NULL"))[0][0]
    return n if n >= count else None


async def test_the_same_new_person_twice_in_one_batch_is_one_lead(env, producer, tmp_path):
    email = _unique("twice")
    first = received(sales_ready(email, last_name="Twice"))
    again = received(sales_ready(email.upper(), last_name="Twice", city="Lisbon"))
    await publish_received(env, producer, [first, again])  # before the router: one batch
    router = await asyncio.to_thread(start_router, env, tmp_path)
    try:
        await wait_for(lambda: _processed_when(env, 2), timeout=60)
    finally:
        await asyncio.to_thread(router.stop)
    leads = await sql(env, "SELECT id, profile->>'city' FROM router.lead")
    assert len(leads) == 1 and leads[0][1] == "Lisbon"
    matched = await sql(
        env, "SELECT matched_by FROM router.lead_submission ORDER BY processed_at, matched_by"
    )
    assert sorted(m for (m,) in matched) == ["email", "new"]
    kinds = await sql(env, "SELECT kind, ended_at IS NULL FROM router.assignment ORDER BY kind")
    assert kinds == [("initial", False), ("sticky", True)]
    assert (await sql(env, "SELECT sum(open_leads) FROM router.rep"))[0][0] == 1


async def test_a_web_lead_is_decided_long_before_the_bulk_lane_drains(
    env, producer, tmp_path, stack
):
    bulk = [
        received(sales_ready(_unique(f"b{n}"), last_name=f"B{n}"), source="purchased-lists", kind="list")
        for n in range(4000)
    ]  # fmt: skip
    await producer.publish_many(
        [(env.topic(LEAD_RECEIVED_BULK.topic), k, e, ()) for _, k, e in bulk]
    )
    web = received(sales_ready(_unique("web"), last_name="Web"))
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        router = await asyncio.to_thread(start_router, env, tmp_path)
        try:
            await wait_for(lambda: _processed_when(env, 200), timeout=60)  # the import drains
            await publish_received(env, producer, [web])
            web_id = str(web[2].data["lead_id"])
            await assigned.read(
                until=lambda rs: any(value(r)["data"]["submission_id"] == web_id for r in rs),
                timeout=60,
            )
            bulk_done = (await sql(env, "SELECT count(*) FROM router.processed_event"))[0][0] - 1
            await wait_for(lambda: _processed_when(env, 4001), timeout=300)
        finally:
            await asyncio.to_thread(router.stop)
    assert bulk_done < len(bulk) / 2, f"the web lead waited for {bulk_done} bulk leads"
    outcome = await sql(
        env,
        "SELECT a.outcome FROM router.assignment a JOIN router.lead_submission s"
        " ON s.lead_id = a.lead_id WHERE s.submission_id = :id",
        id=uuid.UUID(web_id),
    )
    assert outcome == [("assigned",)]
    names = await sql(env, "SELECT count(*) FROM router.lead WHERE is_name")
    assert names == [(4000,)]


async def test_the_same_person_through_both_lanes_at_once_is_one_lead(env, producer, tmp_path):
    routers = [
        await asyncio.to_thread(start_router, env, tmp_path, f"router-{i}") for i in range(2)
    ]
    try:
        people = [_unique(f"both{n}") for n in range(50)]
        web = [received(sales_ready(p, last_name="Both")) for p in people]
        bulk = [
            received(sales_ready(p, last_name="Both"), source="purchased-lists", kind="list")
            for p in people
        ]
        await asyncio.gather(
            publish_received(env, producer, web),
            producer.publish_many(
                [(env.topic(LEAD_RECEIVED_BULK.topic), k, e, ()) for _, k, e in bulk]
            ),
        )
        await wait_for(lambda: _processed_when(env, 100), timeout=120)
    finally:
        for proc in routers:
            await asyncio.to_thread(proc.stop)
    per_email = await sql(
        env, "SELECT profile->>'email', count(*) FROM router.lead GROUP BY 1 HAVING count(*) > 1"
    )
    assert per_email == []
    assert (await sql(env, "SELECT count(*) FROM router.lead"))[0][0] == 50
    # a web form makes a purchased-list name a lead: it is not a name any more
    assert (await sql(env, "SELECT count(*) FROM router.lead WHERE is_name"))[0][0] == 0


async def test_routing_locks_only_the_team_it_changes(env, producer, tmp_path):
    """While another transaction holds team core, two instances keep routing overflow leads;
    core's leads wait for the lock and are then routed, the round robin exact."""
    routers = [
        await asyncio.to_thread(start_router, env, tmp_path, f"router-{i}") for i in range(2)
    ]
    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            tx = await conn.begin()
            await conn.execute(text("SELECT 1 FROM router.team WHERE id = 'core' FOR UPDATE"))
            overflow = [
                received(
                    sales_ready(
                        _unique(f"o{n}"),
                        last_name=f"O{n}",
                        industry="Overflow",  # the overflow team's rule; MQL with these:
                        phone=f"+49301234{n:03d}",
                        company_domain=f"o{n}.example",
                    )
                )
                for n in range(20)
            ]
            await publish_received(env, producer, overflow)
            rows = await wait_for(lambda: _team_when(env, "overflow", 20), timeout=60)
            assert len(rows) == 20  # routed while core is held
            core = [received(sales_ready(_unique(f"c{n}"), last_name=f"C{n}")) for n in range(60)]
            await publish_received(env, producer, core)
            await asyncio.sleep(3)
            assert await _team_when(env, "core", 1) is None, "core was routed without its lock"
            await tx.rollback()
        rows = await wait_for(lambda: _team_when(env, "core", 60), timeout=60)
    finally:
        await engine.dispose()
        for proc in routers:
            await asyncio.to_thread(proc.stop)
    counts = collections.Counter(rep for (rep,) in rows)
    assert counts == {"rep-a": 30, "rep-b": 20, "rep-c": 10}, counts


async def _team_when(env, team, count):
    rows = await sql(
        env,
        "SELECT rep_id FROM router.assignment WHERE team_id = :t AND rep_id IS NOT NULL",
        t=team,
    )
    return rows if len(rows) >= count else None


async def test_kill_9_in_the_middle_of_batches_on_both_lanes_decides_each_once(
    env, producer, tmp_path, stack
):
    web = [received(sales_ready(_unique(f"kw{n}"), last_name=f"Kw{n}")) for n in range(1000)]
    bulk = [
        received(sales_ready(_unique(f"kb{n}"), last_name=f"Kb{n}"), source="purchased-lists", kind="list")
        for n in range(3000)
    ]  # fmt: skip
    await producer.publish_many(
        [(env.topic(LEAD_RECEIVED_BULK.topic), k, e, ()) for _, k, e in bulk]
    )
    await publish_received(env, producer, web)
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        router = await asyncio.to_thread(start_router, env, tmp_path, "router-kill")
        await wait_for(lambda: _processed_when(env, 600), timeout=120)
        router.kill()  # batches of hundreds are in flight: this lands inside one
        at_kill = (await sql(env, "SELECT count(*) FROM router.processed_event"))[0][0]
        assert at_kill < 4000, "killed too late to prove anything"
        await asyncio.to_thread(router.start)
        await wait_for(lambda: _processed_when(env, 4000), timeout=300)
        records = await assigned.read(
            until=lambda rs: len({value(r)["id"] for r in rs}) >= 4000, timeout=120
        )
        await asyncio.to_thread(router.stop)
    rows = await sql(env, "SELECT lead_id, count(*) FROM router.assignment GROUP BY lead_id")
    assert len(rows) == 4000 and all(n == 1 for _, n in rows)
    assert (await sql(env, "SELECT count(*) FROM router.lead_submission"))[0][0] == 4000
    assert (await sql(env, "SELECT sum(open_leads) FROM router.rep"))[0][0] == 1000
    per_lead = collections.defaultdict(set)
    for record in records:
        event = value(record)
        per_lead[event["data"]["lead_id"]].add(event["id"])
    assert len(per_lead) == 4000
    assert all(len(ids) == 1 for ids in per_lead.values()), "a re-sent event keeps its id"
