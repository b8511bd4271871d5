"""The router's part of an erasure, on a real router (in process, real Kafka and PostgreSQL):
a lead and the lead an admin merged into it erased by the merged-away id; by phone again (the
same tombstone); late events about the person dropped; their own later form a fresh lead."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.router import metrics
from services.router.app import create_app
from services.router.runtime import RouterRuntime
from services.router.settings import RouterSettings
from shared.domain.erasure import identity_hashes
from shared.events.envelope import make_event
from shared.events.models import ActivityKind, ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY, LEAD_ERASED
from shared.kafka.producer import KafkaUnavailable
from shared.settings import DEV_ADMIN_TOKEN
from tests.erasure_scan import where_they_are
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import publish_received, received, sales_ready, sql

ADMIN = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}


@pytest.fixture
async def admin(env) -> AsyncIterator[httpx.AsyncClient]:
    settings = RouterSettings(**env.settings_kwargs())
    failures: list[BaseException] = []
    runtime = RouterRuntime(settings, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.router = ctx
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://router", timeout=30
    ) as client:
        yield client
    await runtime.stop()
    assert not failures


async def arrive(env, producer, fields: dict[str, Any], at: datetime | None = None) -> str:
    """A web lead on leads.received.v1; its submission id once the router recorded it."""
    item = received(fields, at=at)
    for attempt in range(3):  # topics just created may still be electing leaders
        try:
            await publish_received(env, producer, [item])
            break
        except KafkaUnavailable:
            if attempt == 2:
                raise
    return str(item[2].data["lead_id"])


async def lead_of(env, submission: str) -> str:
    async def found() -> str | None:
        rows = await sql(
            env,
            "SELECT lead_id FROM router.lead_submission WHERE submission_id = :id",
            id=uuid.UUID(submission),
        )
        return str(rows[0][0]) if rows else None

    return await wait_for(found, timeout=30)  # type: ignore[no-any-return]


def dropped(kind: str) -> float:
    return metrics.DROPPED_ERASED.labels(kind)._value.get()  # type: ignore[no-any-return]


async def test_a_merged_pair_is_erased_by_either_id_and_late_events_stay_dropped(
    env, producer, admin, stack
):
    tag = uuid.uuid4().hex[:8]
    one = sales_ready(f"lin.{tag}@acme.example", first_name=f"Lin{tag}", last_name="Okafor",
                      phone="+442079460311")  # fmt: skip
    two = sales_ready(f"l.okafor.{tag}@home.example", first_name=f"Lin{tag}", last_name="Okafor")
    survivor = await lead_of(env, await arrive(env, producer, one))
    other = await lead_of(env, await arrive(env, producer, two))
    assert survivor != other
    merged = await admin.post(
        f"/v1/admin/leads/{survivor}/merge",
        json={"lead_id": other, "note": f"Lin{tag} Okafor uses both", "decided_by": "ops-ana"},
        headers=ADMIN,
    )
    assert merged.status_code == 200, merged.text
    needles = [one["email"], two["email"], "+442079460311", f"Lin{tag}"]
    assert await where_they_are(env.database_url, needles), "the scan finds them before"

    async with TopicReader(stack.bootstrap, env.topic(LEAD_ERASED.topic)) as erasures:
        response = await admin.post(f"/v1/admin/leads/{other}/erase", headers=ADMIN)
        assert response.status_code == 202, response.text
        tombstone = response.json()
        assert tombstone["lead_id"] == survivor
        assert set(tombstone["lead_ids"]) == {survivor, other}
        assert len(tombstone["submission_ids"]) == 2 and tombstone["requested_by"] == "dev"
        assert tombstone["counts"]["lead"] == 2 and tombstone["counts"]["lead_merge"] >= 1
        (event,) = [value(r) for r in await erasures.read(until=lambda rs: len(rs) >= 1)]
        assert event["data"]["erasure_id"] == tombstone["erasure_id"]
        assert sorted(event["data"]["lead_ids"]) == sorted([survivor, other])
        # three identities: two addresses and the phone, hashed
        assert len(event["data"]["identity_hashes"]) == 3
    assert await where_they_are(env.database_url, needles) == []
    statuses = await sql(env, "SELECT DISTINCT status FROM router.lead")
    assert [s for (s,) in statuses] == ["erased"]

    # by phone: the person is erased already; the same tombstone, nothing new
    again = await admin.post("/v1/admin/erasures", json={"phone": "12"}, headers=ADMIN)
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "phone"
    again = await admin.post(
        "/v1/admin/erasures", json={"phone": "+44 20 7946 0311"}, headers=ADMIN
    )
    assert again.status_code == 200 and again.json() == {"erasures": [tombstone]}

    # late events about them: an activity, and an arrival received before the erasure
    activities, arrivals = dropped("activity"), dropped("arrival")
    at = datetime.now(UTC)
    activity = make_event(
        type=LEAD_ACTIVITY.type, source="/tests/crm", subject=survivor, time=at,
        data=ActivityReceived(
            activity_id=uuid.uuid4(), lead_id=uuid.UUID(survivor), kind=ActivityKind.touch,
            touch_channel="call", rep_id="rep-1", occurred_at=at, received_at=at,
            source=SourceRef(id="crm", kind="signed"),
        ),
    )  # fmt: skip
    await producer.publish(env.topic(LEAD_ACTIVITY.topic), survivor.encode(), activity)
    late = await arrive(env, producer, two, at=at - timedelta(minutes=1))
    await wait_for(
        lambda: dropped("activity") == activities + 1 and dropped("arrival") == arrivals + 1
    )
    assert await sql(env, "SELECT 1 FROM router.lead_submission WHERE submission_id = :id",
                     id=uuid.UUID(late)) == []  # fmt: skip
    assert await sql(env, "SELECT count(*) FROM router.activity") == [(0,)]

    # their own form after the erasure: a fresh lead, routed like any
    fresh = await lead_of(env, await arrive(env, producer, one))
    assert fresh not in (survivor, other)
    shown = (await admin.get(f"/v1/admin/leads/{fresh}", headers=ADMIN)).json()
    assert shown["erased"] is False and shown["profile"]["email"] == one["email"]
    gone = (await admin.get(f"/v1/admin/leads/{survivor}", headers=ADMIN)).json()
    assert gone == {"id": survivor, **tombstone}

    # the tombstone takes no one in: merging the fresh lead into it (or it into the fresh
    # one) is refused, so the person's new data never lands on the erased lead
    for survivor_id, lead_id in ((survivor, fresh), (fresh, survivor)):
        refused = await admin.post(
            f"/v1/admin/leads/{survivor_id}/merge",
            json={"lead_id": lead_id, "decided_by": "ops-ana"},
            headers=ADMIN,
        )
        assert refused.status_code == 409 and refused.json()["code"] == "lead_erased", refused.text
    # the erasure is in the audit trail under the token's name, with ids and counts only
    trail = (await admin.get("/v1/admin/audit?action=lead.erased", headers=ADMIN)).json()
    (entry,) = [e for e in trail["events"] if e["subject"] == {"type": "lead", "id": survivor}]
    assert entry["actor"] == "dev" and entry["changes"]["erasure_id"] == tombstone["erasure_id"]


async def test_an_address_several_people_hold_is_not_one_persons_to_erase(env, producer, admin):
    """Two people behind one info@ address (a role mailbox: not a match key, two leads). Asked
    to erase by that address, the router refuses and lists both; erasing one of them by id
    leaves the shared address out of the hashes, so the colleague is not barred by it; with
    all_holders both go."""
    tag = uuid.uuid4().hex[:8]
    shared_email = f"info@switchboard-{tag}.example"
    ana = sales_ready(shared_email, first_name=f"Ana{tag}", last_name="Silva",
                      phone="+442079460501")  # fmt: skip
    ben = sales_ready(shared_email, first_name=f"Ben{tag}", last_name="Okoro",
                      phone="+442079460502")  # fmt: skip
    ana_lead = await lead_of(env, await arrive(env, producer, ana))
    ben_lead = await lead_of(env, await arrive(env, producer, ben))
    assert ana_lead != ben_lead, "a role address is no match key: two leads"

    refused = await admin.post("/v1/admin/erasures", json={"email": shared_email}, headers=ADMIN)
    assert refused.status_code == 409 and refused.json()["code"] == "identity_shared"
    listed = {e["message"].removeprefix("held by lead ") for e in refused.json()["errors"]}
    assert listed == {ana_lead, ben_lead}

    erased = await admin.post(f"/v1/admin/leads/{ana_lead}/erase", headers=ADMIN)
    assert erased.status_code == 202, erased.text
    key = RouterSettings(**env.settings_kwargs()).effective_erasure_hash_key()
    kept = await sql(
        env,
        "SELECT kind, hash FROM router.erased_identity WHERE erasure_id = :id",
        id=uuid.UUID(erased.json()["erasure_id"]),
    )
    assert {(k, h) for k, h in kept} == {
        (h.kind, h.hash) for h in identity_hashes(key, [("phone", "+442079460501")])
    }, "only Ana's own number is hashed, not the address Ben holds too"
    assert await where_they_are(env.database_url, [f"Ben{tag}"]), "Ben is untouched"

    both = await admin.post(
        "/v1/admin/erasures", json={"email": shared_email, "all_holders": True}, headers=ADMIN
    )
    assert both.status_code == 202, both.text
    # Ana was erased already, and the address was never hers alone: Ben is what it names now
    assert [e["lead_id"] for e in both.json()["erasures"]] == [ben_lead]
    assert await where_they_are(env.database_url, [f"Ben{tag}", f"Ana{tag}"]) == []
