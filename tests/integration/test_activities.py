"""Activities from sales tools -> leads.activity.v1."""

from __future__ import annotations

import uuid

import httpx
import jsonschema
import pytest

from shared.events.registry import LEAD_ACTIVITY
from tests.kafka_helpers import TopicReader, value
from tests.signing import signed_request

SCHEMA = jsonschema.Draft202012Validator(
    LEAD_ACTIVITY.load_schema(), format_checker=jsonschema.FormatChecker()
)


@pytest.fixture
async def client(ingest):
    async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as c:
        yield c


async def test_touch_is_published_keyed_by_lead(client, stack):
    lead_id = str(uuid.uuid4())
    async with TopicReader(stack.bootstrap, LEAD_ACTIVITY.topic) as topic:
        body, headers = signed_request(
            {
                "kind": "touch",
                "touch_channel": "call",
                "rep_id": "rep-ana",
                "occurred_at": "2026-11-23T14:05:00Z",
            },
            source="crm",
        )
        response = await client.post(
            f"/v1/leads/{lead_id}/activities", content=body, headers=headers
        )
        assert response.status_code == 202, response.text
        event_id = response.json()["event_id"]
        records = await topic.read(until=lambda rs: any(value(r)["id"] == event_id for r in rs))
    (record,) = [r for r in records if value(r)["id"] == event_id]
    SCHEMA.validate(value(record))
    assert record.key.decode() == lead_id
    data = value(record)["data"]
    assert (
        data["kind"] == "touch" and data["touch_channel"] == "call" and data["rep_id"] == "rep-ana"
    )
    assert data["occurred_at"].startswith("2026-11-23T14:05:00")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "wave"}, "kind"),
        ({"kind": "touch"}, "body"),
        ({"kind": "bounce"}, "body"),
        ({"kind": "open", "extra": 1}, "extra"),
    ],
)
async def test_invalid_activity_is_422(client, payload, field):
    body, headers = signed_request(payload, source="crm")
    response = await client.post(
        f"/v1/leads/{uuid.uuid4()}/activities", content=body, headers=headers
    )
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_activities_need_a_signed_source(client):
    body, headers = signed_request({"kind": "open"}, source="purchased-lists")
    response = await client.post(
        f"/v1/leads/{uuid.uuid4()}/activities", content=body, headers=headers
    )
    assert response.status_code == 403
    response = await client.post(
        f"/v1/leads/{uuid.uuid4()}/activities?source=web-form",
        json={"kind": "open"},
        headers={"origin": "http://localhost:8000"},
    )
    assert response.status_code == 403
    response = await client.post(
        "/v1/leads/not-a-uuid/activities",
        json={"kind": "open"},
        headers={"x-leadflow-source": "crm"},
    )
    assert response.status_code in (401, 422)
