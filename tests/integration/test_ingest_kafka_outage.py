"""Faults under load: Kafka killed, ingest killed. No lead answered 202 is ever lost."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest

from shared.kafka.topics import all_topics, ensure_topics
from shared.stack.common import free_port
from shared.stack.kafka import KafkaBroker
from tests.conftest import start_ingest
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.signing import signed_request, unique_email


@pytest.fixture
async def own_kafka(tmp_root):
    broker = KafkaBroker(tmp_root / "kafka-outage", port=free_port(), controller_port=free_port())
    await asyncio.to_thread(broker.start)
    await ensure_topics(broker.bootstrap, all_topics())
    yield broker
    await asyncio.to_thread(broker.destroy)


class Sender:
    """Posts distinct leads like a form provider: a 5xx is retried (re-signed, same webhook-id)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.accepted: dict[str, str] = {}  # email -> event id
        self.statuses: collections.Counter[int] = collections.Counter()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            email = unique_email("outage")
            msg_id = f"msg_{email}"
            while not self.stop.is_set():
                body, headers = signed_request({"email": email}, msg_id=msg_id)
                try:
                    response = await self.client.post("/v1/leads", content=body, headers=headers)
                except httpx.HTTPError:
                    self.statuses[0] += 1
                    await asyncio.sleep(0.2)
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code == 202:
                    self.accepted[email] = response.json()["event_id"]
                    break
                # 503: Kafka down; 409: a killed process left this key claimed until its lock expires
                assert response.status_code in (503, 409), response.text
                assert int(response.headers["retry-after"]) >= 1
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.02)


async def test_kafka_down_means_503_and_no_acknowledged_lead_is_lost(stack, tmp_root, own_kafka):
    ingest = await asyncio.to_thread(
        start_ingest,
        stack,
        tmp_root,
        name="ingest-outage",
        LEADFLOW_KAFKA_BOOTSTRAP_SERVERS=own_kafka.bootstrap,
        LEADFLOW_INGEST_PUBLISH_TIMEOUT_SECONDS="2",
    )
    try:
        async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
            sender = Sender(client)
            task = asyncio.create_task(sender.run())
            await wait_for(lambda: len(sender.accepted) >= 20, timeout=30)

            await asyncio.to_thread(own_kafka.kill)  # kill -9 of the broker
            await wait_for(lambda: sender.statuses[503] >= 3, timeout=60)
            body, headers = signed_request({"email": unique_email("during")})
            response = await client.post("/v1/leads", content=body, headers=headers)
            assert response.status_code == 503
            assert response.json()["code"] == "kafka_unavailable"
            assert response.headers["retry-after"]
            # a plain HTML form of the dev web-form source is sent to its error page instead
            response = await client.post(
                "/v1/leads?source=web-form",
                data={"email": unique_email("during-form")},
                headers={"origin": "http://localhost:8000", "accept": "text/html,*/*;q=0.8"},
            )
            assert response.status_code == 303, response.text
            assert response.headers["location"] == (
                "http://localhost:3000/form-error.html?reason=unavailable"
            )
            assert response.headers["retry-after"]
            assert (await client.get("/readyz")).status_code == 503
            accepted_before_restart = len(sender.accepted)

            await asyncio.to_thread(own_kafka.start)
            await wait_for(lambda: len(sender.accepted) >= accepted_before_restart + 20, timeout=90)
            sender.stop.set()
            await task
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await asyncio.to_thread(ingest.stop)

    async with TopicReader(own_kafka.bootstrap, "leads.received.v1") as reader:
        await reader.mark(from_beginning=True)
        records = await reader.read(timeout=20)
    on_topic: dict[str, set[str]] = collections.defaultdict(set)
    for record in records:
        event = value(record)
        on_topic[event["data"]["lead"]["email"]].add(event["id"])
    missing = [email for email in sender.accepted if email not in on_topic]
    assert not missing, f"{len(missing)} leads answered 202 are not on the topic"
    # a lead retried through the outage may be on the topic more than once, but always as one event
    for email, event_id in sender.accepted.items():
        assert on_topic[email] == {event_id}


async def test_kill_9_of_ingest_loses_no_acknowledged_lead(stack, tmp_root):
    ingest = await asyncio.to_thread(start_ingest, stack, tmp_root, name="ingest-kill")
    async with TopicReader(stack.bootstrap, "leads.received.v1") as topic:
        async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
            sender = Sender(client)
            task = asyncio.create_task(sender.run())
            await wait_for(lambda: len(sender.accepted) >= 30, timeout=30)
            ingest.kill()  # SIGKILL, mid-traffic
            killed_at = len(sender.accepted)
            await asyncio.to_thread(ingest.start)  # same port
            await asyncio.to_thread(ingest.wait_ready)
            await wait_for(lambda: len(sender.accepted) >= killed_at + 30, timeout=90)
            sender.stop.set()
            await task
        ingest.stop()
        records = await topic.read(timeout=10)
    on_topic: dict[str, set[str]] = collections.defaultdict(set)
    for record in records:
        event = value(record)
        on_topic[event["data"]["lead"]["email"]].add(event["id"])
    assert all(on_topic.get(email) == {event_id} for email, event_id in sender.accepted.items())
    assert sender.statuses[0] >= 1  # the kill really interrupted requests


async def test_database_down_means_503_and_a_restart_is_picked_up_without_loss(stack, tmp_root):
    """Keyed requests record their answer in PostgreSQL. With the database gone they get 503
    and nothing is published; once it is back, the pooled connections it cut are replaced
    and the same requests go through, each published once."""
    ingest = await asyncio.to_thread(start_ingest, stack, tmp_root, name="ingest-pg")
    try:
        async with (
            TopicReader(stack.bootstrap, "leads.received.v1") as topic,
            httpx.AsyncClient(base_url=ingest.url, timeout=30) as client,
        ):
            warm = [signed_request({"email": unique_email("pg-warm")}) for _ in range(4)]
            answers = await asyncio.gather(
                *(client.post("/v1/leads", content=b, headers=h) for b, h in warm)
            )
            assert [a.status_code for a in answers] == [202] * 4  # the pool holds connections
            email = unique_email("pg-down")
            body, headers = signed_request({"email": email})
            await asyncio.to_thread(stack.postgres.stop, "fast")
            try:
                refused = await client.post("/v1/leads", content=body, headers=headers)
            finally:
                await asyncio.to_thread(stack.postgres.start)
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "database_unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            # the same request again, and a new one: through on fresh connections
            accepted = await client.post("/v1/leads", content=body, headers=headers)
            assert accepted.status_code == 202, accepted.text
            assert "idempotent-replayed" not in accepted.headers
            other, other_headers = signed_request({"email": unique_email("pg-back")})
            assert (
                await client.post("/v1/leads", content=other, headers=other_headers)
            ).status_code == 202
            records = await topic.read(
                until=lambda rs: any(value(r)["id"] == accepted.json()["event_id"] for r in rs)
            )
        mine = [r for r in records if value(r)["data"]["lead"]["email"] == email]
        assert [value(r)["id"] for r in mine] == [accepted.json()["event_id"]]
    finally:
        ingest.stop()
