"""Dedupe a sales team can trust, through real ingest HTTP, Kafka and PostgreSQL: shared
numbers, nicknames, doubtful matches for review, identities many people use."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx

from services.router.intake.rekey import rekey_companies
from shared import db
from shared.events.registry import LEAD_ASSIGNED, LEAD_MERGE
from tests.integration.test_router import ADMIN, post
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import sales_ready, sql, write

SWITCHBOARD = "+44 20 7946 0123"
SWITCHBOARD_E164 = "+442079460123"


def _at(domain: str, first: str | None, last: str | None, email: str | None, **more: Any) -> dict:
    return sales_ready(
        email, first_name=first, last_name=last, company="Acme Ltd", website=domain, **more
    )


async def test_colleagues_behind_one_switchboard_are_two_leads_each_routed(
    env, stack, router, ingest_for_env
):
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    subs: list[str] = []

    async def send() -> None:
        subs.append(
            await post(
                ingest_for_env,
                _at(domain, "John", "Smith", f"john.smith@{domain}", phone=SWITCHBOARD),
            )
        )
        subs.append(
            await post(
                ingest_for_env,
                _at(domain, "Mary", "Jones", f"mary.jones@{domain}", phone=SWITCHBOARD),
            )
        )

    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        await send()
        records = await assigned.read(
            until=lambda rs: {value(r)["data"]["submission_id"] for r in rs} >= set(subs),
            timeout=30,
        )
    decided = {value(r)["data"]["submission_id"]: value(r)["data"] for r in records}
    john, mary = decided[subs[0]], decided[subs[1]]
    assert john["lead_id"] != mary["lead_id"]
    assert john["outcome"] == mary["outcome"] == "assigned"  # the second person is routed too
    holders = await sql(
        env,
        "SELECT lead_id FROM router.lead_identity WHERE kind = 'phone' AND value = :v",
        v=SWITCHBOARD_E164,
    )
    assert {str(r[0]) for r in holders} == {john["lead_id"], mary["lead_id"]}  # kept on both
    (detail,) = await sql(
        env, "SELECT detail FROM router.lead_submission WHERE submission_id = :s", s=subs[1]
    )
    assert "weighed and found too weak" in detail[0]
    assert f"lead {john['lead_id']}" in detail[0]


async def test_robert_then_bob_at_one_company_is_one_lead_and_the_merge_is_published(
    env, stack, router, ingest_for_env
):
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    await post(ingest_for_env, _at(domain, "Robert", "Smith", f"robert@{domain}"))
    async with TopicReader(stack.bootstrap, env.topic(LEAD_MERGE.topic)) as merges:
        async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
            bob = await post(
                ingest_for_env, _at(f"www.{domain}", "Bob", "Smith", f"bob.smith@{domain}")
            )
            records = await assigned.read(
                until=lambda rs: any(value(r)["data"]["submission_id"] == bob for r in rs),
                timeout=30,
            )
        merged = await merges.read(
            until=lambda rs: any(value(r)["data"]["other_lead_id"] == bob for r in rs),
            timeout=15,
        )
    decision = next(value(r)["data"] for r in records if value(r)["data"]["submission_id"] == bob)
    assert decision["kind"] == "sticky"
    rows = await sql(
        env, "SELECT lead_id, matched_by FROM router.lead_submission ORDER BY processed_at"
    )
    assert len({r[0] for r in rows}) == 1
    assert [r[1] for r in rows] == ["new", "name_company"]
    event = next(value(r) for r in merged if value(r)["data"]["other_lead_id"] == bob)
    data = event["data"]
    assert data["change"] == "merged" and data["how"] == "automatic"
    assert data["lead_id"] == decision["lead_id"] and data["submission_ids"] == [bob]
    assert {"kind": "email", "value": f"bob.smith@{domain}"} in data["identities"]
    assert any("nicknames" in line for line in data["evidence"])
    LEAD_MERGE.model.model_validate(data)


async def test_a_doubtful_pair_is_a_new_lead_listed_for_review(env, stack, router, ingest_for_env):
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    first = await post(ingest_for_env, _at(domain, "Robert", "Smith", f"robert@{domain}"))
    subs = [first]

    async def send() -> None:
        subs.append(await post(ingest_for_env, _at(domain, "R.", "Smith", f"rs@{domain}")))

    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        await send()
        records = await assigned.read(
            until=lambda rs: {value(r)["data"]["submission_id"] for r in rs} >= {subs[1]},
            timeout=30,
        )
    doubtful = next(
        value(r)["data"] for r in records if value(r)["data"]["submission_id"] == subs[1]
    )
    (older,) = await sql(
        env, "SELECT lead_id FROM router.lead_submission WHERE submission_id = :s", s=first
    )
    assert doubtful["lead_id"] != str(older[0])  # never merged on weak evidence
    assert doubtful["possible_duplicate_of"] == str(older[0])
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as client:
        listed = (await client.get("/v1/admin/duplicates", headers=ADMIN)).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    (pair,) = [d for d in items if d["lead_id"] == doubtful["lead_id"]]
    assert pair["other_lead_id"] == str(older[0])
    assert pair["reason"] == "doubtful_match"
    assert pair["evidence"]["verdict"] == "review"
    assert any("initial" in line for line in pair["evidence"]["weighed"][0]["lines"])


async def test_a_number_many_people_use_stops_being_a_match_key(env, stack, router, ingest_for_env):
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    people = [("John", "Smith"), ("Mary", "Jones"), ("Ali", "Khan")]
    colleagues: list[str] = []
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        for first, last in people:
            colleagues.append(
                await post(
                    ingest_for_env,
                    _at(domain, first, last, f"{first.lower()}@{domain}", phone=SWITCHBOARD),
                )
            )
        await assigned.read(  # each on its own partition: decided in any order
            until=lambda rs: {value(r)["data"]["submission_id"] for r in rs} >= set(colleagues),
            timeout=30,
        )
    nameless: list[str] = []

    async def send() -> None:
        nameless.append(
            await post(
                ingest_for_env,
                {
                    **sales_ready(None, first_name=None, last_name=None),
                    "email": None,
                    "phone": SWITCHBOARD,
                },
            )
        )

    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        await send()
        await assigned.read(
            until=lambda rs: any(value(r)["data"]["submission_id"] == nameless[0] for r in rs),
            timeout=30,
        )
    shared = await sql(env, "SELECT kind, value, reason, lead_count FROM router.shared_identity")
    assert [tuple(r) for r in shared] == [("phone", SWITCHBOARD_E164, "many_people", 3)]
    (row,) = await sql(
        env,
        "SELECT matched_by FROM router.lead_submission WHERE submission_id = :s",
        s=nameless[0],
    )
    assert row[0] == "new"  # a switchboard number alone identifies nobody
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as client:
        text = (await client.get("/metrics")).text
    assert 'leadflow_router_dedupe_shared_identities_total{kind="phone"} 1.0' in text


async def test_rekey_companies_moves_leads_stored_under_old_keys(env, router, ingest_for_env):
    tag = uuid.uuid4().hex[:8]
    await post(
        ingest_for_env,
        sales_ready(f"ann@shop.acme-{tag}.co.uk", first_name="Ann", company="Acme GmbH & Co. KG"),
    )
    await wait_for(lambda: sql(env, "SELECT 1 FROM router.lead"), timeout=15)
    # as a release before registrable domains and the name key stored it
    await write(
        env,
        "UPDATE router.lead SET company_key = :k, company_name_key = NULL",
        k=f"shop.acme-{tag}.co.uk",
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.cli", "rekey-companies", "--batch", "1"],
        env={**os.environ, "LEADFLOW_DATABASE_URL": env.database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 leads seen, 1 with new company keys" in result.stderr
    keys = await sql(env, "SELECT company_key, company_name_key FROM router.lead")
    assert [tuple(k) for k in keys] == [(f"acme-{tag}.co.uk", "name:acme")]
    engine = db.create_engine(env.database_url, pool_size=1)
    try:
        again = await rekey_companies(engine)
    finally:
        await engine.dispose()
    assert (again.seen, again.changed) == (1, 0)  # run again: nothing left to do
