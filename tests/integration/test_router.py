"""The router as a real process on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import uuid

import httpx
import jsonschema

from shared.events.registry import LEAD_ASSIGNED
from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.common import free_port
from shared.stack.stack import ServiceProcess
from tests.conftest import start_ingest
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import ROUTER, publish_received, received, sales_ready, sql
from tests.signing import signed_request

ASSIGNED_SCHEMA = jsonschema.Draft202012Validator(
    LEAD_ASSIGNED.load_schema(), format_checker=jsonschema.FormatChecker()
)
ADMIN = {"authorization": f"Bearer {DEV_ADMIN_TOKEN}"}


def start_router(env, log_dir, name="router", **extra) -> ServiceProcess:
    proc = ServiceProcess(ROUTER, env.env(**extra), port=free_port(), log=log_dir / f"{name}.log")
    proc.start()
    proc.wait_ready()
    return proc


async def test_web_lead_is_assigned_within_seconds_with_explanation(env, router, tmp_path, stack):
    ingest = await asyncio.to_thread(
        start_ingest, stack, tmp_path, name="ingest-router", LEADFLOW_TOPIC_PREFIX=env.prefix
    )
    try:
        async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
            body, headers = signed_request(
                sales_ready(f"ada.{uuid.uuid4().hex[:8]}@megacorp.example")
            )
            async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
                response = await client.post("/v1/leads", content=body, headers=headers)
            assert response.status_code == 202
            submission = response.json()["lead_id"]
            records = await assigned.read(
                until=lambda rs: any(value(r)["data"]["submission_id"] == submission for r in rs),
                timeout=15,
            )
    finally:
        await asyncio.to_thread(ingest.stop)
    event = next(value(r) for r in records if value(r)["data"]["submission_id"] == submission)
    ASSIGNED_SCHEMA.validate(event)
    data = event["data"]
    assert data["outcome"] == "assigned" and data["rep_id"] in {"rep-a", "rep-b", "rep-c"}
    assert data["team_id"] == "core" and data["rule"] == "everyone"
    assert data["score"]["stage"] in ("mql", "sql") and data["score"]["breakdown"]
    candidates = data["explanation"]["teams_tried"][0]["candidates"]
    assert {c["rep_id"] for c in candidates} == {"rep-a", "rep-b", "rep-c"}
    assert data["sla"]["due_at"] > data["sla"]["started_at"]
    # the admin API shows the lead whole
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as client:
        whole = (await client.get(f"/v1/admin/leads/{data['lead_id']}", headers=ADMIN)).json()
        assert (await client.get(f"/v1/admin/leads/{data['lead_id']}")).status_code == 401
    assert whole["owner"]["rep_id"] == data["rep_id"]
    assert whole["decisions"][0]["explanation"] == data["explanation"]
    assert whole["sla"]["state"] == "running"


async def post(client: httpx.AsyncClient, payload: dict) -> str:
    body, headers = signed_request({k: v for k, v in payload.items() if v is not None})
    response = await client.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["lead_id"]


async def test_one_person_three_ways_and_in_parallel_is_one_lead(env, router, ingest_for_env):
    tag = uuid.uuid4().hex[:8]
    domain = f"acme-{tag}.example"
    john = dict(first_name="John", last_name="Smith", company="Acme", country="US")
    await post(
        ingest_for_env,
        sales_ready(f"john.smith@{domain}", phone="+1 415 555 0100", website=domain, **john),
    )
    await wait_for(lambda: sql(env, "SELECT 1 FROM router.lead"), timeout=15)
    # case and plus-tag in the email; a formatted phone only; a typo in the name at the same company
    await post(
        ingest_for_env,
        sales_ready(f"John.Smith+webinar@{domain.upper()}", **{**john, "company": "ACME Inc"}),
    )
    await post(
        ingest_for_env,
        # only a phone, no name: a phone is strong when one side has no name
        {
            **sales_ready(None, first_name=None, last_name=None),
            "email": None,
            "phone": "(415) 555-0100",
            "country": "US",
        },
    )
    await post(
        ingest_for_env,
        sales_ready(f"jsmith@{domain}", **{**john, "first_name": "Jon"}, website=domain),
    )

    # a new person five times at once, in different formats (different partitions)
    mary = dict(
        first_name="Mary",
        last_name="Major",
        company="Globex",
        country="US",
        website=f"globex-{tag}.example",
    )
    twin = f"mary.major@globex-{tag}.example"
    burst = [
        sales_ready(twin, **mary),
        sales_ready(twin.upper(), **mary),
        {**sales_ready(None, **mary), "email": None, "phone": "415-555-0199"},
        sales_ready(f"m.major@globex-{tag}.example", **{**mary, "first_name": "Marry"}),
        sales_ready(twin, **mary, phone="+1 415 555 0199"),
    ]
    await asyncio.gather(*(post(ingest_for_env, p) for p in burst))
    rows = await wait_for(lambda: _submissions_when(env, 9), timeout=30)
    by_lead = collections.defaultdict(list)
    for lead_id, matched_by in rows:
        by_lead[lead_id].append(matched_by)
    assert len(by_lead) == 2, by_lead
    assert sorted(len(v) for v in by_lead.values()) == [4, 5]
    john_matches = next(v for v in by_lead.values() if len(v) == 4)
    assert john_matches[0] == "new" and set(john_matches[1:]) <= {"email", "phone", "name_company"}
    assert "phone" in john_matches and "name_company" in john_matches
    assignments = await sql(
        env, "SELECT lead_id, rep_id FROM router.assignment WHERE rep_id IS NOT NULL"
    )
    for lead_id in by_lead:
        assert len({rep for lid, rep in assignments if lid == lead_id}) == 1, (
            "sticky routing: one owner per person"
        )
    history = await sql(
        env,
        "SELECT detail, conflicts FROM router.lead_submission WHERE matched_by = 'name_company'",
    )
    assert history and all(
        "jon smith" in d.lower() or "marry" in d.lower() or "name" in d.lower() for d, _ in history
    )


async def _submissions_when(env, count):
    rows = await sql(env, "SELECT lead_id, matched_by FROM router.lead_submission")
    return rows if len(rows) >= count else None


async def test_purchased_list_names_never_go_to_a_rep(env, router, producer, stack):
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        item = received(
            sales_ready(f"bought.{uuid.uuid4().hex[:8]}@list.example"),
            source="purchased-lists",
            kind="list",
        )
        await publish_received(env, producer, [item])
        records = await assigned.read(until=lambda rs: len(rs) >= 1, timeout=15)
    data = value(records[0])["data"]
    assert (
        data["outcome"] == "nurture" and data["rep_id"] is None and data["purchased_list"] is True
    )
    assert "purchased-list" in data["reason"]
    assert await sql(env, "SELECT count(*) FROM router.assignment WHERE rep_id IS NOT NULL") == [
        (0,)
    ]


async def test_poison_message_goes_to_dlq_and_routing_continues(env, router, producer, stack):
    async with TopicReader(stack.bootstrap, env.topic("leads.received.v1.dlq")) as dlq:
        await producer.publish_raw(
            env.topic("leads.received.v1"), b"poison", b'{"specversion": "1.0", "id": 1}'
        )
        await publish_received(
            env, producer, [received(sales_ready(f"after.{uuid.uuid4().hex[:8]}@x.example"))]
        )
        letters = await dlq.read(until=lambda rs: len(rs) >= 1, timeout=20)
    assert letters[0].key == b"poison"
    assert dict(letters[0].headers)["dlq.error.type"] == b"InvalidEvent"
    await wait_for(
        lambda: sql(env, "SELECT 1 FROM router.assignment WHERE rep_id IS NOT NULL"), timeout=15
    )


async def test_two_router_instances_distribute_as_one(env, producer, tmp_path):
    routers = [
        await asyncio.to_thread(start_router, env, tmp_path, f"router-{i}") for i in range(2)
    ]
    try:
        items = [
            received(sales_ready(f"wrr{n}.{uuid.uuid4().hex[:6]}@d{n}.example", last_name=f"L{n}"))
            for n in range(60)
        ]
        await publish_received(env, producer, items)
        rows = await wait_for(lambda: _assignments_when(env, 60), timeout=60)
    finally:
        for proc in routers:
            await asyncio.to_thread(proc.stop)
    counts = collections.Counter(rep for (rep,) in rows)
    # smooth weighted round robin, weights 3:2:1 over 60 leads -> 30/20/10, exactly as one instance
    assert counts == {"rep-a": 30, "rep-b": 20, "rep-c": 10}, counts


async def _assignments_when(env, count):
    rows = await sql(env, "SELECT rep_id FROM router.assignment WHERE rep_id IS NOT NULL")
    return rows if len(rows) >= count else None


async def test_kill_9_during_5000_leads_assigns_each_exactly_once(env, producer, tmp_path, stack):
    items = [
        received(sales_ready(f"k{n}.{uuid.uuid4().hex[:6]}@k{n}.example", last_name=f"K{n}"))
        for n in range(5000)
    ]
    for start in range(0, len(items), 1000):
        await publish_received(env, producer, items[start : start + 1000])
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        router = await asyncio.to_thread(start_router, env, tmp_path, "router-kill")
        await wait_for(lambda: _count_when(env, 800), timeout=120)
        router.kill()
        processed_at_kill = (await sql(env, "SELECT count(*) FROM router.processed_event"))[0][0]
        assert processed_at_kill < 5000, "killed too late to prove anything"
        await asyncio.to_thread(router.start)
        await wait_for(lambda: _count_when(env, 5000), timeout=300)
        records = await assigned.read(
            until=lambda rs: len({value(r)["id"] for r in rs}) >= 5000, timeout=120
        )
        await asyncio.to_thread(router.stop)
    rows = await sql(env, "SELECT lead_id, count(*) FROM router.assignment GROUP BY lead_id")
    assert len(rows) == 5000 and all(n == 1 for _, n in rows)
    assert (await sql(env, "SELECT sum(open_leads) FROM router.rep"))[0][0] == 5000
    per_lead = collections.defaultdict(set)
    for record in records:
        event = value(record)
        per_lead[event["data"]["lead_id"]].add(event["id"])
    assert len(per_lead) == 5000
    assert all(len(ids) == 1 for ids in per_lead.values()), "a re-sent event keeps its id"


async def _count_when(env, count):
    n = (await sql(env, "SELECT count(*) FROM router.processed_event"))[0][0]
    return n if n >= count else None


async def test_admin_changes_take_effect_in_routing(env, router, producer):
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as client:
        r = await client.patch("/v1/admin/reps/rep-a", json={"active": False}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["active"] is False
        away = {
            "out_of_office": [
                {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z"}
            ]
        }
        assert (
            await client.patch("/v1/admin/reps/rep-b", json=away, headers=ADMIN)
        ).status_code == 200
        bad = await client.patch("/v1/admin/reps/rep-c", json={"weight": 0}, headers=ADMIN)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "weight"
        assert (
            await client.patch("/v1/admin/reps/nobody", json={"active": False}, headers=ADMIN)
        ).status_code == 404
    await publish_received(
        env,
        producer,
        [received(sales_ready(f"adm{n}.{uuid.uuid4().hex[:6]}@a{n}.example")) for n in range(6)],
    )
    rows = await wait_for(lambda: _assignments_when(env, 6), timeout=30)
    assert {rep for (rep,) in rows} == {"rep-c"}
    explanation = (await sql(env, "SELECT explanation FROM router.assignment LIMIT 1"))[0][0]
    reasons = {c["rep_id"]: c["reason"] for c in explanation["teams_tried"][0]["candidates"]}
    assert reasons == {"rep-a": "inactive", "rep-b": "out_of_office", "rep-c": None}


async def test_postgres_outage_stops_the_router_without_losing_or_repeating_a_lead(
    env, producer, tmp_path, stack
):
    """Infrastructure down: the router stops without committing (never dead-letters);
    restarted after PostgreSQL is back, it assigns every lead exactly once."""
    items = [
        received(sales_ready(f"pg{n}.{uuid.uuid4().hex[:6]}@pg{n}.example", last_name=f"P{n}"))
        for n in range(600)
    ]
    router = await asyncio.to_thread(start_router, env, tmp_path, "router-pg")
    async with TopicReader(stack.bootstrap, env.topic("leads.received.v1.dlq")) as dlq:
        try:
            await publish_received(env, producer, items)
            await wait_for(lambda: _count_when(env, 50), timeout=60)
            # the server goes away under the router (connections terminated). A fast shutdown, not a
            # crash: the test stack runs without fsync and synchronous commit for speed, and a
            # crash of such a server may lose commits that a durable production database keeps.
            await asyncio.to_thread(stack.postgres.stop, "fast")
            try:
                code = await asyncio.to_thread(router.proc.wait, 60)
            finally:
                await asyncio.to_thread(stack.postgres.start)
            assert code != 0, "the router must stop, not carry on without its database"
            await asyncio.to_thread(router.start)
            await wait_for(lambda: _count_when(env, 600), timeout=120)
        finally:
            await asyncio.to_thread(router.stop)
        assert await dlq.new_count() == 0, "an outage must never dead-letter a lead"
    rows = await sql(env, "SELECT lead_id, count(*) FROM router.assignment GROUP BY lead_id")
    assert len(rows) == 600 and all(n == 1 for _, n in rows)
