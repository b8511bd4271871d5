"""An admin's decisions on duplicates, on real ingest (HTTP), Kafka and PostgreSQL: a pair on the
review list merged (submissions, identities, activities, statuses, the rep's capacity, the
event on leads.merges.v1, later activities of the merged lead), a pair dismissed, a lead split
back into two (the new one routed as new, both histories right, the event published), and the
4xx answers.

One router (in-process, its admin API through ASGI) and one ingest process serve the whole
module on one database; every test makes people of its own, and measures reps by difference."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.router.app import create_app
from services.router.runtime import RouterRuntime
from services.router.settings import RouterSettings
from shared import db
from shared.events.registry import LEAD_ASSIGNED, LEAD_MERGE
from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.stack import ServiceProcess
from tests.conftest import start_ingest
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import RouterEnv, make_router_env, sales_ready, sql
from tests.signing import signed_request

ADMIN = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}


@dataclass
class World:
    env: RouterEnv
    ingest: httpx.AsyncClient
    admin: httpx.AsyncClient


@pytest.fixture(scope="module")
async def world(stack, tmp_root: Path) -> AsyncIterator[World]:
    env = await make_router_env(stack)
    proc: ServiceProcess = await asyncio.to_thread(
        start_ingest, stack, tmp_root, name="ingest-dedupe", LEADFLOW_TOPIC_PREFIX=env.prefix
    )
    settings = RouterSettings(**env.settings_kwargs())
    failures: list[BaseException] = []
    runtime = RouterRuntime(settings, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.router = ctx
    async with (
        httpx.AsyncClient(base_url=proc.url, timeout=30) as ingest,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://router", timeout=30
        ) as admin,
    ):
        yield World(env, ingest, admin)
    await runtime.stop()
    await asyncio.to_thread(proc.stop)
    assert not failures


async def audit_of(w: World, lead_id: str) -> list[dict[str, Any]]:
    r = await w.admin.get("/v1/admin/audit", params={"subject_id": lead_id}, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["events"]  # type: ignore[no-any-return]


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def submit(w: World, fields: dict[str, Any]) -> tuple[str, str]:
    """A web lead through ingest; (submission id, canonical lead id) once the router decided."""
    body, headers = signed_request({k: v for k, v in fields.items() if v is not None})
    response = await w.ingest.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 202, response.text
    submission = response.json()["lead_id"]

    async def decided() -> str | None:
        rows = await sql(
            w.env,
            "SELECT s.lead_id FROM router.lead_submission s JOIN router.assignment a"
            " ON a.lead_id = s.lead_id WHERE s.submission_id = :id",
            id=uuid.UUID(submission),
        )
        return str(rows[0][0]) if rows else None

    return submission, await wait_for(decided, timeout=30)


async def report(w: World, lead_ref: str, payload: dict[str, Any]) -> None:
    """An activity a sales tool reports through ingest, once the router has handled it."""
    body, headers = signed_request(payload, source="crm")
    response = await w.ingest.post(
        f"/v1/leads/{lead_ref}/activities", content=body, headers=headers
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]

    async def handled() -> bool:
        rows = await sql(
            w.env, "SELECT 1 FROM router.processed_event WHERE event_id = :id", id=event_id
        )
        return bool(rows)

    await wait_for(handled, timeout=30)


async def write(w: World, statement: str, **params: Any) -> None:
    engine = db.create_engine(w.env.database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def lead_row(w: World, lead_id: str) -> dict[str, Any]:
    rows = await sql(
        w.env,
        "SELECT status, owner_rep_id, merged_into::text, company_key, company_name_key, profile,"
        " first_name, last_name FROM router.lead WHERE id = :id",
        id=uuid.UUID(lead_id),
    )
    return dict(rows[0]._mapping)


async def open_leads(w: World) -> dict[str, int]:
    return {r: n for r, n in await sql(w.env, "SELECT id, open_leads FROM router.rep")}


async def identities(w: World, lead_id: str) -> set[tuple[str, str]]:
    rows = await sql(
        w.env,
        "SELECT kind, value FROM router.lead_identity WHERE lead_id = :id",
        id=uuid.UUID(lead_id),
    )
    return {(k, v) for k, v in rows}


async def submissions(w: World, lead_id: str) -> list[dict[str, Any]]:
    rows = await sql(
        w.env,
        "SELECT submission_id::text, matched_by, detail FROM router.lead_submission"
        " WHERE lead_id = :id ORDER BY received_at",
        id=uuid.UUID(lead_id),
    )
    return [dict(r._mapping) for r in rows]


async def admin_get(w: World, path: str, **params: Any) -> Any:
    r = await w.admin.get(path, params=params, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def events_for(records, lead_id: str) -> list[dict[str, Any]]:
    return [value(r) for r in records if r.key.decode() == lead_id]


async def test_a_pair_a_rep_marked_is_listed_and_merged_into_the_older_lead(world, stack):
    w, t = world, tag()
    older_sub, older = await submit(
        w, sales_ready(f"robert.marley@marley-{t}.example", first_name="Robert", last_name="Marley",
                       company=f"Marley {t}", phone=None)
    )  # fmt: skip
    newer_sub, newer = await submit(
        w, sales_ready(f"bob.{t}@mail-{t}.example", first_name="Bob", last_name="Marlee",
                       company=None, phone="+49 30 1234567", city="Kingston")
    )  # fmt: skip
    assert older != newer
    owner = (await lead_row(w, newer))["owner_rep_id"]
    await report(w, newer, {"kind": "touch", "touch_channel": "call", "rep_id": owner})
    await report(
        w, newer,
        {"kind": "disqualified", "reason": "duplicate", "duplicate_of": older, "rep_id": owner},
    )  # fmt: skip

    (listed,) = [d for d in await admin_get(w, "/v1/admin/duplicates") if d["lead_id"] == newer]
    assert listed["other_lead_id"] == older and listed["reason"] == "rep_marked"
    assert listed["lead"]["name"] == "Bob Marlee" and listed["lead"]["status"] == "disqualified"
    assert listed["other_lead"]["name"] == "Robert Marley"
    assert listed["other_lead"]["company"] == f"Marley {t}"
    assert listed["other_lead"]["status"] == "assigned" and listed["other_lead"]["owner"]
    assert listed["decided_by"] is None and listed["status"] == "open"

    merges_before = counted("leadflow_router_dedupe_merges_total", match_rule="admin")
    decided_before = counted(
        "leadflow_router_dedupe_reviews_decided_total", reason="rep_marked", decision="merged"
    )
    async with TopicReader(stack.bootstrap, w.env.topic(LEAD_MERGE.topic)) as merges:
        r = await w.admin.post(
            f"/v1/admin/duplicates/{newer}/{older}/merge",
            json={"note": "one person: work and personal address", "decided_by": "ops-ana"},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        records = await merges.read(until=lambda rs: bool(events_for(rs, older)), timeout=15)
    body = r.json()
    assert (body["merge"]["lead_id"], body["merge"]["other_lead_id"]) == (older, newer)
    assert body["merged"]["status"] == "merged" and body["merged"]["merged_into"] == older
    assert body["reviews"] == [{"lead_id": newer, "other_lead_id": older, "status": "merged"}]

    # the submissions, identities and activities are the survivor's now
    moved = await submissions(w, older)
    assert [s["submission_id"] for s in moved] == [older_sub, newer_sub]
    assert moved[1]["matched_by"] == "admin"
    assert f"moved from lead {newer} by an admin merge" in moved[1]["detail"]
    assert await submissions(w, newer) == []
    assert ("email", f"bob.{t}@mail-{t}.example") in await identities(w, older)
    assert ("phone", "+49301234567") in await identities(w, older)
    assert await identities(w, newer) == set()
    kinds = await sql(
        w.env, "SELECT kind FROM router.activity WHERE lead_id = :id ORDER BY occurred_at",
        id=uuid.UUID(older),
    )  # fmt: skip
    assert [k for (k,) in kinds] == ["touch", "disqualified"]
    survivor, gone = await lead_row(w, older), await lead_row(w, newer)
    assert survivor["status"] == "assigned" and survivor["profile"]["phone"] == "+49301234567"
    assert survivor["profile"]["city"] == "Kingston"  # a blank filled
    assert survivor["first_name"] == "Robert"  # its own values kept
    assert (gone["status"], gone["merged_into"], gone["owner_rep_id"]) == ("merged", older, None)
    assert gone["company_key"] is None and gone["company_name_key"] is None
    review = await sql(
        w.env,
        "SELECT status, decided_by, note, decided_at IS NOT NULL FROM router.duplicate_review"
        " WHERE lead_id = :a AND other_lead_id = :b",
        a=uuid.UUID(newer),
        b=uuid.UUID(older),
    )
    assert tuple(review[0]) == ("merged", "ops-ana", "one person: work and personal address", True)

    (event,) = events_for(records, older)
    assert event["type"] == LEAD_MERGE.type
    data = event["data"]
    assert (data["change"], data["how"], data["lead_id"], data["other_lead_id"]) == (
        "merged", "admin", older, newer,
    )  # fmt: skip
    assert data["submission_ids"] == [newer_sub]
    assert {(i["kind"], i["value"]) for i in data["identities"]} == {
        ("email", f"bob.{t}@mail-{t}.example"),
        ("phone", "+49301234567"),
    }
    assert data["decided_by"] == "ops-ana"
    assert data["reason"] == "one person: work and personal address"
    assert (
        data["evidence"]
        and f"marked lead {newer} a duplicate of lead {older}" in data["evidence"][0]
    )
    assert counted("leadflow_router_dedupe_merges_total", match_rule="admin") == merges_before + 1
    assert (
        counted(
            "leadflow_router_dedupe_reviews_decided_total",
            reason="rep_marked",
            decision="merged",
        )
        == decided_before + 1
    )

    # both sides in the admin view; the review has left the open list for the merged one
    whole = await admin_get(w, f"/v1/admin/leads/{older}")
    assert [m["action"] for m in whole["merges"]] == ["merge"]
    assert whole["merges"][0]["decided_by"] == "ops-ana"
    assert [s["submission_id"] for s in whole["submissions"]] == [older_sub, newer_sub]
    assert whole["submissions"][1]["matched_by"] == "admin"
    assert whole["open_reviews"] == []
    assert (await admin_get(w, f"/v1/admin/leads/{newer}"))["merged_into"] == older
    assert not [d for d in await admin_get(w, "/v1/admin/duplicates") if d["lead_id"] == newer]
    (done,) = [
        d
        for d in await admin_get(w, "/v1/admin/duplicates", status="merged")
        if d["lead_id"] == newer
    ]
    assert done["decided_by"] == "ops-ana" and done["decided_at"] is not None

    # what a sales tool still reports by the merged lead's id lands on the survivor
    await report(w, newer, {"kind": "touch", "touch_channel": "email", "rep_id": owner})
    await report(w, newer_sub, {"kind": "reply"})
    kinds = await sql(
        w.env, "SELECT kind FROM router.activity WHERE lead_id = :id ORDER BY occurred_at",
        id=uuid.UUID(older),
    )  # fmt: skip
    assert [k for (k,) in kinds] == ["touch", "disqualified", "touch", "reply"]
    assert (await sql(w.env, "SELECT count(*) FROM router.activity WHERE lead_id = :id",
                      id=uuid.UUID(newer)))[0][0] == 0  # fmt: skip

    # decided once: the same pair again, or the merged lead into another, is a conflict
    again = await w.admin.post(f"/v1/admin/duplicates/{newer}/{older}/merge", headers=ADMIN)
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    into = await w.admin.post(
        f"/v1/admin/leads/{older}/merge", json={"lead_id": newer}, headers=ADMIN
    )
    assert into.status_code == 409 and into.json()["code"] == "already_merged"
    assert f"merged into lead {older}" in into.json()["detail"]


async def test_a_doubtful_match_is_listed_and_merged_into_the_lead_the_admin_chooses(world, stack):
    w, t = world, tag()
    domain = f"smith-{t}.example"
    older_sub, older = await submit(
        w, sales_ready(f"rs@{domain}", first_name="R.", last_name="Smith", company=f"Smith {t}")
    )
    newer_sub, newer = await submit(
        w, sales_ready(f"robert@{domain}", first_name="Robert", last_name="Smith",
                       company=f"Smith {t}", phone="+1 212 555 0142")
    )  # fmt: skip
    assert newer != older  # doubtful: a lead of its own until a person decides
    (listed,) = [d for d in await admin_get(w, "/v1/admin/duplicates") if d["lead_id"] == newer]
    assert listed["other_lead_id"] == older and listed["reason"] == "doubtful_match"
    assert listed["reported_by"] == "leadflow" and listed["evidence"]["weighed"]
    assert (listed["lead"]["name"], listed["other_lead"]["name"]) == ("Robert Smith", "R. Smith")
    assert (await admin_get(w, f"/v1/admin/leads/{older}"))["open_reviews"][0]["lead_id"] == newer
    assert (await admin_get(w, f"/v1/admin/leads/{newer}"))["duplicate_of"] == older
    older_owner = (await lead_row(w, older))["owner_rep_id"]
    before = await open_leads(w)

    async with TopicReader(stack.bootstrap, w.env.topic(LEAD_MERGE.topic)) as merges:
        r = await w.admin.post(
            f"/v1/admin/duplicates/{newer}/{older}/merge",
            json={"survivor": newer},  # the lead with the full name stays
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        records = await merges.read(until=lambda rs: bool(events_for(rs, newer)), timeout=15)
    assert (r.json()["merge"]["lead_id"], r.json()["merge"]["other_lead_id"]) == (newer, older)
    assert r.json()["released_rep_id"] == older_owner
    assert (await open_leads(w))[older_owner] == before[older_owner] - 1
    assert [s["submission_id"] for s in await submissions(w, newer)] == [older_sub, newer_sub]
    assert ("email", f"rs@{domain}") in await identities(w, newer)
    assert (await lead_row(w, newer))["first_name"] == "Robert"
    assert (await admin_get(w, f"/v1/admin/leads/{newer}"))["duplicate_of"] is None  # settled
    (event,) = events_for(records, newer)
    assert event["data"]["other_lead_id"] == older and event["data"]["submission_ids"] == [
        older_sub
    ]
    assert event["data"]["evidence"][0].startswith("confidence ")
    assert any("Smith" in line or "smith" in line for line in event["data"]["evidence"][1:])
    assert (
        counted(
            "leadflow_router_dedupe_reviews_decided_total",
            reason="doubtful_match",
            decision="merged",
        )
        >= 1
    )
    # a new submission of the person finds the survivor (the merged lead left every index)
    again_sub, again = await submit(
        w, sales_ready(f"rs@{domain}", first_name="R.", last_name="Smith", company=f"Smith {t}")
    )
    assert again == newer
    assert again_sub in [s["submission_id"] for s in await submissions(w, newer)]


async def test_a_direct_merge_frees_the_merged_leads_rep_and_a_dismissal_changes_nothing(
    world, stack
):
    w, t = world, tag()
    _, keep = await submit(
        w, sales_ready(f"kim.{t}@kim-{t}.example", first_name="Kim", last_name="Lo", phone=None)
    )
    _, fold = await submit(
        w, sales_ready(f"k.lo.{t}@home-{t}.example", first_name="Kim", last_name="Lo",
                       phone="+1 415 555 0199", company=f"Lo {t}")
    )  # fmt: skip
    fold_owner = (await lead_row(w, fold))["owner_rep_id"]
    keep_owner = (await lead_row(w, keep))["owner_rep_id"]
    before = await open_leads(w)
    r = await w.admin.post(f"/v1/admin/leads/{keep}/merge", json={"lead_id": fold}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["released_rep_id"] == fold_owner
    assert r.json()["merge"]["reason"] == f"admin merged lead {fold} into lead {keep}"
    after = await open_leads(w)
    assert after[fold_owner] == before[fold_owner] - 1  # the rep has room again
    (audited,) = await audit_of(w, keep)
    assert (audited["action"], audited["actor"]) == ("merge.applied", "dev")
    assert audited["changes"]["merged_lead_id"] == fold
    assert audited["changes"]["merge_id"] == r.json()["merge"]["id"]
    assert audited["changes"]["from_review"] is False
    assert audited["changes"]["released_rep_id"] == fold_owner
    assert t not in str(audited)  # ids only: no address, phone or name of the person
    assert (await lead_row(w, keep))["owner_rep_id"] == keep_owner  # the survivor keeps its owner
    survivor = await lead_row(w, keep)
    assert survivor["profile"]["phone"] == "+14155550199"
    assert survivor["profile"]["company"] == f"Lo {t}"
    state = await sql(
        w.env,
        "SELECT (SELECT count(*) FROM router.assignment WHERE lead_id = :id AND ended_at IS NULL),"
        " (SELECT state FROM router.sla_clock WHERE lead_id = :id)",
        id=uuid.UUID(fold),
    )
    assert tuple(state[0]) == (0, "closed")
    gone = await admin_get(w, f"/v1/admin/leads/{fold}")
    assert gone["status"] == "merged" and gone["owner"]["rep_id"] is None
    assert gone["sla"]["state"] == "closed"

    # a pair that is two people after all
    _, first = await submit(
        w, sales_ready(f"sam.{t}@one-{t}.example", first_name="Sam", last_name="One")
    )
    _, second = await submit(
        w, sales_ready(f"sam.{t}@two-{t}.example", first_name="Sam", last_name="Two")
    )
    await report(w, second, {"kind": "disqualified", "reason": "duplicate", "duplicate_of": first})
    rows_before = await sql(
        w.env, "SELECT id, status, owner_rep_id, profile FROM router.lead WHERE id IN (:a, :b)"
        " ORDER BY id", a=uuid.UUID(first), b=uuid.UUID(second),
    )  # fmt: skip
    dismissed_before = counted(
        "leadflow_router_dedupe_reviews_decided_total", reason="rep_marked", decision="dismissed"
    )
    r = await w.admin.post(
        f"/v1/admin/duplicates/{second}/{first}/dismiss",
        json={"note": "two colleagues called Sam"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["note"], r.json()["decided_by"]) == (
        "dismissed", "two colleagues called Sam", "admin",
    )  # fmt: skip
    rows_after = await sql(
        w.env, "SELECT id, status, owner_rep_id, profile FROM router.lead WHERE id IN (:a, :b)"
        " ORDER BY id", a=uuid.UUID(first), b=uuid.UUID(second),
    )  # fmt: skip
    assert rows_after == rows_before
    assert (
        counted(
            "leadflow_router_dedupe_reviews_decided_total",
            reason="rep_marked",
            decision="dismissed",
        )
        == dismissed_before + 1
    )
    (listed,) = [
        d
        for d in await admin_get(w, "/v1/admin/duplicates", status="dismissed")
        if d["lead_id"] == second
    ]
    assert listed["note"] == "two colleagues called Sam"
    again = await w.admin.post(f"/v1/admin/duplicates/{second}/{first}/dismiss", headers=ADMIN)
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    merge_now = await w.admin.post(f"/v1/admin/duplicates/{second}/{first}/merge", headers=ADMIN)
    assert merge_now.status_code == 409
    (audited,) = await audit_of(w, second)  # the refused second dismissal is not recorded
    assert audited["action"] == "review.resolved"
    assert audited["changes"] == {"other_lead_id": first, "status": "dismissed"}


async def test_a_split_lead_is_routed_as_new_and_both_histories_are_right(world, stack):
    w, t = world, tag()
    team = f"team.{t}@acme-{t}.example"
    ann_sub, lead = await submit(
        w, sales_ready(team, first_name="Ann", last_name="Lee", phone="+44 20 7946 0001",
                       company=f"Acme {t}")
    )  # fmt: skip
    bob_sub, same = await submit(
        w, sales_ready(team, first_name="Bob", last_name="Ray", phone="+44 20 7946 0002",
                       company=f"Acme {t}", job_title="CFO", city="Leeds")
    )  # fmt: skip
    assert same == lead  # one address, one lead: the mistake to undo
    async with (
        TopicReader(stack.bootstrap, w.env.topic(LEAD_MERGE.topic)) as merges,
        TopicReader(stack.bootstrap, w.env.topic(LEAD_ASSIGNED.topic)) as assigned,
    ):
        r = await w.admin.post(
            f"/v1/admin/leads/{lead}/split",
            json={"submission_ids": [bob_sub], "note": "Ann and Bob share the team address"},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        new = r.json()["new_lead"]["id"]
        split_events = await merges.read(until=lambda rs: bool(events_for(rs, lead)), timeout=15)
        decisions = await assigned.read(until=lambda rs: bool(events_for(rs, new)), timeout=15)
    body = r.json()
    assert body["split"]["action"] == "split" and body["split"]["other_lead_id"] == new
    assert body["shared_identities"] == [{"kind": "email", "value": team}]
    assert body["decision"]["kind"] == "initial" and body["decision"]["outcome"] == "assigned"

    (decision,) = events_for(decisions, new)
    assert decision["data"]["kind"] == "initial" and decision["data"]["submission_id"] == bob_sub
    assert decision["data"]["lead"]["first_name"] == "Bob"
    (event,) = events_for(split_events, lead)
    data = event["data"]
    assert (data["change"], data["how"], data["lead_id"], data["other_lead_id"]) == (
        "split", "admin", lead, new,
    )  # fmt: skip
    assert data["submission_ids"] == [bob_sub]
    assert data["identities"] == [{"kind": "phone", "value": "+442079460002"}]
    (audited,) = await audit_of(w, lead)
    assert audited["action"] == "split.applied" and audited["changes"] == {
        "split_id": body["split"]["id"], "new_lead_id": new, "submission_ids": [bob_sub],
    }  # fmt: skip
    assert counted("leadflow_router_splits_total") >= 1

    # each lead is what its own submissions make it
    old, split_off = await lead_row(w, lead), await lead_row(w, new)
    assert (old["first_name"], old["last_name"]) == ("Ann", "Lee")
    assert old["profile"]["phone"] == "+442079460001" and old["profile"].get("city") is None
    assert (split_off["first_name"], split_off["last_name"]) == ("Bob", "Ray")
    assert split_off["profile"]["job_title"] == "CFO" and split_off["status"] == "assigned"
    assert split_off["company_key"] == old["company_key"] is not None
    assert await identities(w, lead) == {("email", team), ("phone", "+442079460001")}
    assert await identities(w, new) == {("email", team), ("phone", "+442079460002")}
    shared = await sql(
        w.env, "SELECT reason FROM router.shared_identity WHERE kind = 'email' AND value = :v",
        v=team,
    )  # fmt: skip
    assert shared == [("split",)]

    whole = await admin_get(w, f"/v1/admin/leads/{lead}")
    assert [s["submission_id"] for s in whole["submissions"]] == [ann_sub]
    assert [(m["action"], m["other_lead_id"]) for m in whole["merges"]] == [("split", new)]
    other = await admin_get(w, f"/v1/admin/leads/{new}")
    (moved,) = other["submissions"]
    assert moved["submission_id"] == bob_sub and moved["matched_by"] == "admin"
    assert f"split out of lead {lead}" in moved["detail"]
    assert [d["kind"] for d in other["decisions"]] == ["initial"]
    assert [m["action"] for m in other["merges"]] == ["split"]
    (entered,) = other["stages"]  # its first stage, entered once, as a new arrival's
    assert (entered["previous_stage"], entered["cause"]) == (None, "split")
    assert entered["stage"] == other["lifecycle_stage"]["stage"] in ("mql", "sql")
    # the id ingest answered for Bob's submission names the new lead now
    assert (await admin_get(w, f"/v1/admin/leads/{bob_sub}"))["id"] == new


async def test_what_cannot_be_done_is_a_clear_4xx(world):
    w, t = world, tag()
    a_sub, a = await submit(w, sales_ready(f"x.{t}@x-{t}.example", first_name="Xu", last_name="Li"))
    b_sub, same = await submit(
        w, sales_ready(f"x.{t}@x-{t}.example", first_name="Xu", last_name="Li")
    )
    assert same == a
    _, c = await submit(w, sales_ready(f"y.{t}@y-{t}.example", first_name="Yo", last_name="Ma"))
    nobody = str(uuid.uuid4())

    async def post(path: str, json: Any = None, headers: dict[str, str] = ADMIN) -> httpx.Response:
        return await w.admin.post(path, json=json, headers=headers)

    unauthorized = await post(f"/v1/admin/leads/{a}/merge", {"lead_id": c}, headers={})
    assert unauthorized.status_code == 401
    cases = [
        (f"/v1/admin/leads/{a}/merge", {"lead_id": a}, 409, "same_lead"),
        (f"/v1/admin/leads/{a}/merge", {"lead_id": nobody}, 404, "not_found"),
        (f"/v1/admin/leads/{nobody}/merge", {"lead_id": a}, 404, "not_found"),
        (f"/v1/admin/leads/{a}/merge", {}, 422, "validation_error"),
        (f"/v1/admin/duplicates/{a}/{c}/merge", None, 404, "not_found"),
        (f"/v1/admin/duplicates/{a}/{c}/dismiss", None, 404, "not_found"),
        (f"/v1/admin/leads/{a}/split", {"submission_ids": []}, 422, "validation_error"),
        (f"/v1/admin/leads/{a}/split", {"submission_ids": [nobody]}, 422, "validation_error"),
        (f"/v1/admin/leads/{a}/split", {"submission_ids": [a_sub, b_sub]}, 422, "validation_error"),
        (f"/v1/admin/leads/{nobody}/split", {"submission_ids": [a_sub]}, 404, "not_found"),
    ]
    for path, payload, status, code in cases:
        r = await post(path, payload)
        assert (r.status_code, r.json()["code"]) == (status, code), (path, payload, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    wrong = await post(f"/v1/admin/leads/{a}/split", {"submission_ids": [nobody]})
    assert wrong.json()["errors"][0]["field"] == "submission_ids"
    for lead in (a, c, nobody):  # nothing refused is in the audit trail
        assert await audit_of(w, lead) == []
    assert nobody in wrong.json()["errors"][0]["message"]

    # a review's survivor must be one of its pair
    await report(w, c, {"kind": "disqualified", "reason": "duplicate", "duplicate_of": a})
    r = await post(f"/v1/admin/duplicates/{c}/{a}/merge", {"survivor": nobody})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "survivor"

    # a submission recorded before fields were kept cannot be split out again
    await write(
        w, "UPDATE router.lead_submission SET fields = NULL WHERE submission_id = :id",
        id=uuid.UUID(a_sub),
    )  # fmt: skip
    r = await post(f"/v1/admin/leads/{a}/split", {"submission_ids": [b_sub]})
    assert (r.status_code, r.json()["code"]) == (409, "fields_not_kept")
    assert a_sub in r.json()["detail"]


async def test_two_admins_merging_one_pair_at_once_make_one_merge(world):
    w, t = world, tag()
    _, a = await submit(w, sales_ready(f"p.{t}@p-{t}.example", first_name="Pat", last_name="Quinn"))
    _, b = await submit(w, sales_ready(f"q.{t}@q-{t}.example", first_name="Pat", last_name="Quin"))
    answers = await asyncio.gather(
        w.admin.post(f"/v1/admin/leads/{a}/merge", json={"lead_id": b}, headers=ADMIN),
        w.admin.post(f"/v1/admin/leads/{b}/merge", json={"lead_id": a}, headers=ADMIN),
    )
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    (lost,) = [r for r in answers if r.status_code == 409]
    assert lost.json()["code"] == "already_merged"
    statuses = sorted([(await lead_row(w, a))["status"], (await lead_row(w, b))["status"]])
    assert statuses == ["assigned", "merged"]
    merges = await sql(
        w.env,
        "SELECT count(*) FROM router.lead_merge WHERE lead_id IN (:a, :b)",
        a=uuid.UUID(a),
        b=uuid.UUID(b),
    )
    assert merges == [(1,)]
