"""Right to erasure over real HTTP, Kafka and PostgreSQL: a person who went through ingest (a
web form and a purchased list), the router (assigned, an activity) and nurture (enrolled,
steps scheduled) and delivery (its events stored and sent to a webhook endpoint) is erased
with one admin call; the endpoint receives the erased event; afterwards no column of any schema holds
their email, phone or name, a replayed dead letter does not bring them back, and a second
erase answers the same tombstone and publishes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import random
import string
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.events.registry import LEAD_ASSIGNED, LEAD_ERASED, LEAD_RECEIVED
from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.conftest import start_ingest
from tests.erasure_scan import where_they_are
from tests.import_jobs import wait_finished
from tests.integration.test_dlq_replay import consumer_dead_letter_headers, leadflow_dlq
from tests.integration.test_nurture_reliability import NURTURE
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import FIXTURES, ROUTER, received, sales_ready, sql
from tests.signing import signed_request

ADMIN = {"authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
DELIVERY = next(s for s in SERVICES if s.name == "delivery")


def start(spec, env, log_dir, **extra) -> ServiceProcess:
    proc = ServiceProcess(
        spec, env.env(**extra), port=free_port(), log=log_dir / f"{spec.name}.log"
    )
    proc.start()
    proc.wait_ready()
    return proc


@pytest.fixture
def webhook_ids() -> Iterator[tuple[str, list[str]]]:
    """A webhook receiver answering 204: its URL and the webhook-ids it received."""
    got: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            got.append(self.headers["webhook-id"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


@pytest.fixture
async def services(env, stack, tmp_path):
    """Ingest, router, nurture and delivery as processes on the test's own database and topics."""
    ingest = await asyncio.to_thread(
        start_ingest, stack, tmp_path, name="ingest-erasure",
        LEADFLOW_TOPIC_PREFIX=env.prefix, LEADFLOW_DATABASE_URL=env.database_url,
    )  # fmt: skip
    router = await asyncio.to_thread(start, ROUTER, env, tmp_path)
    nurture = await asyncio.to_thread(
        start, NURTURE, env, tmp_path,
        LEADFLOW_NURTURE_SEQUENCES_FILE=str(FIXTURES / "nurture-24x7.yaml"),
        LEADFLOW_NURTURE_CONSUMER_GROUP=f"{env.prefix}nurture",
    )  # fmt: skip
    delivery = await asyncio.to_thread(
        start, DELIVERY, env, tmp_path,
        LEADFLOW_DELIVERY_CONSUMER_GROUP=f"{env.prefix}delivery",
        LEADFLOW_DELIVERY_TICK_SECONDS="0.2",
    )  # fmt: skip
    try:
        async with (
            httpx.AsyncClient(base_url=ingest.url, timeout=30) as i,
            httpx.AsyncClient(base_url=router.url, timeout=30) as r,
            httpx.AsyncClient(base_url=nurture.url, timeout=30) as n,
            httpx.AsyncClient(base_url=delivery.url, timeout=30) as d,
        ):
            yield i, r, n, d
    finally:
        for proc in (delivery, nurture, router, ingest):
            await asyncio.to_thread(proc.stop)


def person() -> dict[str, str]:
    tag = "".join(random.choices(string.ascii_lowercase, k=10))
    number = random.randint(100, 999)
    return {
        "email": f"ysolde.{tag}@example.com",
        "first_name": f"Ysolde{tag}",
        "last_name": f"Quarrington{tag}",
        "phone": f"+44 20 7946 0{number}",
        "e164": f"+442079460{number}",
    }


def list_file(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Work Email", "First Name", "Last Name", "Phone", "Company", "Country"])
    for p in rows:
        writer.writerow([p["email"], p["first_name"], p["last_name"], p["phone"], "Initech", "GB"])
    return out.getvalue().encode()


async def import_list(client: httpx.AsyncClient, rows: list[dict[str, str]]) -> dict[str, Any]:
    response = await client.post(
        "/v1/lists/purchased-lists/imports",
        files={"file": ("names.csv", list_file(rows), "text/csv")},
        headers=ADMIN,
    )
    assert response.status_code == 202, response.text
    job = await wait_finished(client, response.json()["import_id"])
    assert job["status"] == "done" and job["accepted"] == len(rows), job
    return job


async def lead_of(router: httpx.AsyncClient, ref: str, until: Any) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        r = await router.get(f"/v1/admin/leads/{ref}", headers=ADMIN)
        return r.json() if r.status_code == 200 and until(r.json()) else None

    return await wait_for(ready, timeout=60)  # type: ignore[no-any-return]


async def test_an_erased_person_is_nowhere_and_no_replay_brings_them_back(
    services, env, stack, producer, webhook_ids
):
    ingest, router, nurture, delivery = services
    ada = person()
    needles = [ada["email"], ada["e164"], ada["phone"], ada["first_name"], ada["last_name"]]
    hook_url, hook_ids = webhook_ids
    response = await delivery.post(
        "/v1/admin/webhooks/endpoints",
        json={"url": hook_url, "event_types": [LEAD_ASSIGNED.type, LEAD_ERASED.type]},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text

    # a web form: the router assigns the lead, nurture enrolls it with steps scheduled
    form = sales_ready(ada["email"], first_name=ada["first_name"], last_name=ada["last_name"])
    body, headers = signed_request(form | {"phone": ada["phone"]})
    response = await ingest.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 202, response.text
    submission = response.json()["lead_id"]
    lead = await lead_of(router, submission, lambda d: d["status"] == "assigned")
    lead_id = lead["id"]

    async def enrolled() -> bool:
        r = await nurture.get(f"/v1/nurture/leads/{submission}", headers=ADMIN)
        return r.status_code == 200 and bool(r.json()["enrollments"])

    await wait_for(enrolled, timeout=60)
    assert await sql(env, "SELECT 1 FROM nurture.scheduled_step WHERE lead_id = :id", id=lead_id)
    # a touch the sales tool reports, and the same person on a purchased list
    body, headers = signed_request(
        {"kind": "touch", "touch_channel": "call", "occurred_at": datetime.now(UTC).isoformat()},
        source="crm",
    )
    response = await ingest.post(
        f"/v1/leads/{submission}/activities", content=body, headers=headers
    )
    assert response.status_code == 202, response.text
    job = await import_list(ingest, [ada])
    row = await sql(
        env, "SELECT lead_id FROM ingest.import_row WHERE import_id = :id", id=job["import_id"]
    )
    listed = str(row[0][0])
    await lead_of(
        router, lead_id,
        lambda d: len(d["submissions"]) == 2 and d["activities"] and d["first_touch_at"],
    )  # fmt: skip

    # a dead letter about the person, from before the erasure (a bug since fixed)
    source = env.topic(LEAD_RECEIVED.topic)
    dlq = source + ".dlq"
    _, key, letter = received(form, at=datetime.now(UTC) - timedelta(minutes=5))
    await producer.publish_raw(
        dlq, key, letter.to_bytes(), consumer_dead_letter_headers(source, "boom")
    )

    async def delivered_assigned() -> bool:
        rows = await sql(env, "SELECT id FROM delivery.event WHERE type = :t", t=LEAD_ASSIGNED.type)
        return bool(rows) and all(r[0] in hook_ids for r in rows)

    await wait_for(delivered_assigned, timeout=30)
    before = await where_they_are(env.database_url, needles)
    assert {
        "router.lead.profile", "nurture.lead.email", "router.lead_identity.value",
        "delivery.event.payload",
    } <= set(before), before  # fmt: skip

    async with TopicReader(stack.bootstrap, env.topic(LEAD_ERASED.topic)) as erasures:
        response = await router.post(f"/v1/admin/leads/{submission}/erase", headers=ADMIN)
        assert response.status_code == 202, response.text
        tombstone = response.json()
        assert tombstone["erased"] is True and tombstone["lead_id"] == lead_id
        assert {submission, listed} <= set(tombstone["submission_ids"])
        assert tombstone["counts"]["lead_identity"] >= 2 and tombstone["counts"]["activity"] == 1
        (kept,) = tombstone["summary"]["leads"]
        assert (kept["status"], kept["team_id"]) == ("assigned", "core") and kept["rep_id"]
        assert tombstone["summary"]["decisions"][0]["outcome"] == "assigned"

        records = await erasures.read(until=lambda rs: len(rs) >= 1, timeout=20)
        (event,) = [value(r) for r in records]
        assert records[0].key == lead_id.encode()
        assert event["type"] == LEAD_ERASED.type and event["id"] == tombstone["event_id"]
        assert {h["kind"] for h in event["data"]["identity_hashes"]} == {"email", "phone"}
        assert not any(n.lower() in records[0].value.decode().lower() for n in needles)

        # nurture and ingest erase their parts
        await wait_for(
            lambda: sql(
                env, "SELECT 1 FROM nurture.erasure WHERE id = :id", id=tombstone["erasure_id"]
            ),
            timeout=30,
        )
        await wait_for(
            lambda: sql(
                env, "SELECT 1 FROM ingest.erasure WHERE id = :id", id=tombstone["erasure_id"]
            ),
            timeout=30,
        )
        # delivery erases its stored payloads and sends the erased event to the endpoint
        await wait_for(lambda: tombstone["event_id"] in hook_ids, timeout=30)
        ((nurtured,),) = await sql(
            env, "SELECT counts FROM nurture.erasure WHERE id = :id", id=tombstone["erasure_id"]
        )
        assert nurtured["lead"] == 1 and nurtured["enrollment"] >= 1, nurtured
        assert nurtured["scheduled_step"] >= 1 and nurtured["lead_alias"] >= 1, nurtured
        ((ingested,),) = await sql(
            env, "SELECT counts FROM ingest.erasure WHERE id = :id", id=tombstone["erasure_id"]
        )
        assert ingested["idempotency_key"] >= 1 and ingested["import_row"] == 1, ingested
        assert await where_they_are(env.database_url, needles) == []

        # the dead letter replayed: dropped by the router, the person stays erased
        out = await leadflow_dlq(stack, "replay", dlq)
        assert f"replayed 1 of 1 awaiting: 1 to {source}" in out

        async def dropped() -> bool:
            metrics = (await router.get("/metrics")).text
            return 'leadflow_router_erased_events_dropped_total{kind="arrival"} 1.0' in metrics

        await wait_for(dropped, timeout=30)
        assert await where_they_are(env.database_url, needles) == []
        assert await sql(env, "SELECT count(*) FROM router.lead WHERE status <> 'erased'") == [(0,)]

        # the tombstone is what the admin API shows; a second erase is a no-op
        shown = (await router.get(f"/v1/admin/leads/{submission}", headers=ADMIN)).json()
        assert shown == {"id": submission, **tombstone}
        again = await router.post(f"/v1/admin/leads/{lead_id}/erase", headers=ADMIN)
        assert again.status_code == 200 and again.json() == tombstone
        by_email = await router.post(
            "/v1/admin/erasures", json={"email": ada["email"].upper()}, headers=ADMIN
        )
        assert by_email.status_code == 200 and by_email.json() == {"erasures": [tombstone]}
        got = await router.get(f"/v1/admin/erasures/{tombstone['erasure_id']}", headers=ADMIN)
        assert got.status_code == 200 and got.json() == tombstone
        await asyncio.sleep(2)  # time for a (wrong) second event to be published
        assert await erasures.new_count() == 1

        # the erasure delivered again (at-least-once): nurture and ingest apply it once
        topic = env.topic(LEAD_ERASED.topic)

        async def handled(service: httpx.AsyncClient) -> float:
            text = (await service.get("/metrics")).text
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("leadflow_consumer_messages_total{")
                and f'topic="{topic}"' in line
            )

        before = [await handled(nurture), await handled(ingest)]
        assert all(before), before  # each handled the first delivery
        await producer.publish_raw(topic, records[0].key, records[0].value)
        for service, count in zip((nurture, ingest), before, strict=True):

            async def again_handled(s: httpx.AsyncClient = service, n: float = count) -> bool:
                return await handled(s) > n

            await wait_for(again_handled, timeout=30)
        for schema, counts in (("nurture", nurtured), ("ingest", ingested)):
            rows = await sql(
                env, f"SELECT counts FROM {schema}.erasure WHERE lead_id = :id", id=lead_id
            )
            assert rows == [(counts,)], (schema, rows)

    unknown = await router.post(f"/v1/admin/leads/{uuid.uuid4()}/erase", headers=ADMIN)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    bad = await router.post("/v1/admin/erasures", json={"email": "not-an-address"}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    neither = await router.post("/v1/admin/erasures", json={}, headers=ADMIN)
    assert neither.status_code == 422


async def test_a_list_bought_later_markets_nothing_to_them_but_their_own_form_starts_fresh(
    services, env
):
    ingest, router, nurture, _delivery = services
    ada = person()
    form = sales_ready(ada["email"], first_name=ada["first_name"], last_name=ada["last_name"])
    body, headers = signed_request(form)
    response = await ingest.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 202, response.text
    first = await lead_of(router, response.json()["lead_id"], lambda d: d["status"] == "assigned")

    response = await router.post("/v1/admin/erasures", json={"email": ada["email"]}, headers=ADMIN)
    assert response.status_code == 202, response.text
    (tombstone,) = response.json()["erasures"]
    assert tombstone["lead_id"] == first["id"]
    await wait_for(
        lambda: sql(
            env, "SELECT 1 FROM nurture.erasure WHERE id = :id", id=tombstone["erasure_id"]
        ),
        timeout=30,
    )
    assert await sql(
        env, "SELECT count(*) FROM nurture.do_not_contact WHERE erasure_id = :id",
        id=tombstone["erasure_id"],
    ) == [(1,)]  # fmt: skip

    # a purchased list bought after the erasure names them again: kept, never marketed to
    job = await import_list(ingest, [ada])
    (row,) = await sql(
        env, "SELECT lead_id FROM ingest.import_row WHERE import_id = :id", id=job["import_id"]
    )
    listed = str(row[0])

    async def nurture_lead(ref: str, until: Any) -> dict[str, Any] | None:
        r = await nurture.get(f"/v1/nurture/leads/{ref}", headers=ADMIN)
        return r.json() if r.status_code == 200 and until(r.json()) else None

    name = await wait_for(lambda: nurture_lead(listed, lambda d: True), timeout=60)
    assert name["suppression"]["reason"] == "do_not_contact", name
    assert name["enrollments"] == []
    assert name["lead_id"] != first["id"], "a new lead, not the erased one"

    # they fill in a form themselves: they start fresh, and nurture writes to them again
    body, headers = signed_request(form)
    response = await ingest.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 202, response.text
    again = await wait_for(
        lambda: nurture_lead(
            response.json()["lead_id"], lambda d: d["suppression"] is None and d["enrollments"]
        ),
        timeout=60,
    )
    assert again["lead_id"] == name["lead_id"]
