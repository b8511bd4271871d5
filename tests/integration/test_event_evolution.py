"""Tolerant readers on real Kafka and PostgreSQL: today's router and nurture handle events
from a newer producer, with fields they do not know in the envelope, in ``data`` and in
nested objects, as they handle today's events; nothing goes to a dead-letter topic, and what
they publish in turn carries only the fields they declare."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import text

from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import NurtureSettings
from shared.events.envelope import CloudEvent, make_event
from shared.events.models import ActivityKind, ActivityReceived, SourceRef
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, LEAD_RECEIVED, LEAD_SLA, EventType
from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.common import free_port
from shared.stack.stack import ServiceProcess
from tests.clock import ManualClock
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.nurture_env import assigned
from tests.router_env import ROUTER, received, sales_ready

ADMIN = {"authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
# Tuesday 1 December 2026, 10:00 in New York: inside every shipped send window.
TUESDAY_10AM_NY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def newer(event: CloudEvent, *nested: str) -> bytes:
    """``event`` as a newer producer might send it: an unknown envelope attribute, an unknown
    field in ``data`` and in each object of ``data`` named by ``nested`` (dotted paths)."""
    doc = json.loads(event.to_bytes())
    doc["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    doc["added_later"] = {"anything": [1, 2, 3]}
    doc["data"]["added_later"] = "a field of a later minor version"
    for path in nested:
        target = doc["data"]
        for step in path.split("."):
            target = target[step]
        target["added_later"] = {"nested": True}
    return json.dumps(doc).encode()


def declared_only(event_type: EventType) -> jsonschema.Draft202012Validator:
    """The checked-in schema with every object closed: what our producers may send."""

    def close(schema: Any) -> Any:
        if isinstance(schema, dict):
            out = {k: close(v) for k, v in schema.items()}
            if "properties" in schema:
                out["additionalProperties"] = False
            return out
        return [close(v) for v in schema] if isinstance(schema, list) else schema

    return jsonschema.Draft202012Validator(close(event_type.load_schema()))


@pytest.fixture
async def router(env, tmp_path):
    proc = ServiceProcess(ROUTER, env.env(), port=free_port(), log=tmp_path / "router.log")
    await asyncio.to_thread(proc.start)
    await asyncio.to_thread(proc.wait_ready)
    yield proc
    await asyncio.to_thread(proc.stop)


async def test_router_routes_a_lead_and_applies_a_touch_with_unknown_fields(
    env, router, producer, stack
):
    _, key, lead_event = received(sales_ready(f"newer.{uuid.uuid4().hex[:8]}@megacorp.example"))
    submission_id = lead_event.data["lead_id"]
    async with (
        TopicReader(stack.bootstrap, env.topic(LEAD_RECEIVED.topic + ".dlq")) as lead_dlq,
        TopicReader(stack.bootstrap, env.topic(LEAD_ACTIVITY.topic + ".dlq")) as activity_dlq,
        TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as decisions,
        TopicReader(stack.bootstrap, env.topic(LEAD_SLA.topic)) as sla,
    ):
        await producer.publish_raw(
            env.topic(LEAD_RECEIVED.topic), key, newer(lead_event, "lead", "lead.utm", "source")
        )
        records = await decisions.read(
            until=lambda rs: any(value(r)["data"]["submission_id"] == submission_id for r in rs),
            timeout=20,
        )
        decision = next(
            value(r) for r in records if value(r)["data"]["submission_id"] == submission_id
        )
        data = decision["data"]
        assert data["outcome"] == "assigned" and data["rep_id"] in {"rep-a", "rep-b", "rep-c"}
        declared_only(LEAD_ASSIGNED).validate(decision)  # nothing unknown is passed on

        touch = ActivityReceived(
            activity_id=uuid.uuid4(),
            lead_id=uuid.UUID(data["lead_id"]),
            kind=ActivityKind.touch,
            touch_channel="call",
            rep_id=data["rep_id"],
            occurred_at=datetime.now(UTC),
            received_at=datetime.now(UTC),
            source=SourceRef(id="crm", kind="signed"),
        )
        touch_event = make_event(
            type=LEAD_ACTIVITY.type, source="/tests/crm", subject=data["lead_id"], data=touch
        )
        await producer.publish_raw(
            env.topic(LEAD_ACTIVITY.topic), data["lead_id"].encode(), newer(touch_event, "source")
        )
        first_touch = await sla.read(
            until=lambda rs: any(value(r)["data"]["kind"] == "first_touch" for r in rs),
            timeout=20,
        )
        assert value(first_touch[-1])["data"]["rep_id"] == data["rep_id"]
        assert await lead_dlq.new_count() == 0
        assert await activity_dlq.new_count() == 0

    async with httpx.AsyncClient(base_url=router.url, timeout=10) as client:
        lead = (await client.get(f"/v1/admin/leads/{data['lead_id']}", headers=ADMIN)).json()
    assert lead["owner"]["rep_id"] == data["rep_id"]
    assert "added_later" not in json.dumps(lead)


@pytest.fixture
async def nurture(env):
    settings = NurtureSettings(
        env="test",
        topic_prefix=env.prefix,
        database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap,
        nurture_consumer_group=f"{env.prefix}nurture",
    )
    failures: list[BaseException] = []
    runtime = NurtureRuntime(
        settings, clock=ManualClock(TUESDAY_10AM_NY), on_fatal=failures.append, schedule=False
    )
    ctx = await runtime.start()
    yield ctx
    await runtime.stop()
    assert not failures


async def test_nurture_enrolls_a_lead_from_a_decision_with_unknown_fields(
    env, nurture, producer, stack
):
    lead_id = uuid.uuid4()
    decision = assigned(lead_id, TUESDAY_10AM_NY)
    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic + ".dlq")) as dlq:
        await producer.publish_raw(
            env.topic(LEAD_ASSIGNED.topic),
            str(lead_id).encode(),
            newer(decision, "lead", "lead.utm", "score"),
        )

        async def enrolled() -> list[Any]:
            async with nurture.sessions() as session:
                rows = await session.execute(
                    text("SELECT sequence_id, status FROM nurture.enrollment WHERE lead_id = :id"),
                    {"id": lead_id},
                )
                return list(rows)

        rows = await wait_for(enrolled, timeout=20)
        assert [tuple(r) for r in rows] == [("web-welcome", "active")]
        assert await dlq.new_count() == 0
