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


async def test_an_opt_in_is_published_with_its_channel(client, stack):
    lead_id = str(uuid.uuid4())
    async with TopicReader(stack.bootstrap, LEAD_ACTIVITY.topic) as topic:
        body, headers = signed_request({"kind": "opt_in", "consent_channel": "sms"}, source="crm")
        response = await client.post(
            f"/v1/leads/{lead_id}/activities", content=body, headers=headers
        )
        assert response.status_code == 202, response.text
        event_id = response.json()["event_id"]
        records = await topic.read(until=lambda rs: any(value(r)["id"] == event_id for r in rs))
    (record,) = [r for r in records if value(r)["id"] == event_id]
    SCHEMA.validate(value(record))
    data = value(record)["data"]
    assert (data["kind"], data["consent_channel"]) == ("opt_in", "sms")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "wave"}, "kind"),
        ({"kind": "touch"}, "body"),
        ({"kind": "bounce"}, "body"),
        ({"kind": "open", "extra": 1}, "extra"),
        ({"kind": "open", "consent_channel": "email"}, "body"),
        ({"kind": "opt_in", "consent_channel": "fax"}, "consent_channel"),
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
    assert response.json()["code"] == "source_not_allowed"
    response = await client.post(
        f"/v1/leads/{uuid.uuid4()}/activities?source=web-form",
        json={"kind": "open"},
        headers={"origin": "http://localhost:8000"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "source_not_allowed"
    # a public source is refused before its own checks: a browser form of a source with
    # thank-you/error pages gets the problem document, never a redirect or its rate limit
    for _ in range(15):
        response = await client.post(
            f"/v1/leads/{uuid.uuid4()}/activities?source=web-form",
            content=b"kind=open",
            headers={
                "origin": "http://localhost:8000",
                "content-type": "application/x-www-form-urlencoded",
                "accept": "text/html,*/*;q=0.8",
            },
        )
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.post(
        "/v1/leads/not-a-uuid/activities",
        json={"kind": "open"},
        headers={"x-leadflow-source": "crm"},
    )
    assert response.status_code in (401, 422)


async def test_a_disqualification_needs_a_reason_from_the_dispositions_file(client, stack):
    lead_id = str(uuid.uuid4())
    body, headers = signed_request({"kind": "disqualified", "reason": "too_tall"}, source="crm")
    response = await client.post(f"/v1/leads/{lead_id}/activities", content=body, headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["reason"]
    for allowed in ("bad_timing", "duplicate", "invalid_contact", "no_budget", "not_a_fit"):
        assert allowed in problem["detail"]

    for payload in (
        {"kind": "disqualified"},  # no reason
        {"kind": "working", "reason": "bad_timing"},  # a reason only disqualifies
        {"kind": "disqualified", "reason": "duplicate"},  # duplicate of what?
        {"kind": "disqualified", "reason": "Bad Timing"},  # not a code
    ):
        body, headers = signed_request(payload, source="crm")
        response = await client.post(
            f"/v1/leads/{lead_id}/activities", content=body, headers=headers
        )
        assert response.status_code == 422, payload

    async with TopicReader(stack.bootstrap, LEAD_ACTIVITY.topic) as topic:
        body, headers = signed_request(
            {"kind": "disqualified", "reason": "duplicate", "duplicate_of": str(uuid.uuid4()),
             "rep_id": "rep-ana"},
            source="crm",
        )  # fmt: skip
        response = await client.post(
            f"/v1/leads/{lead_id}/activities", content=body, headers=headers
        )
        assert response.status_code == 202, response.text
        event_id = response.json()["event_id"]
        records = await topic.read(until=lambda rs: any(value(r)["id"] == event_id for r in rs))
    (record,) = [r for r in records if value(r)["id"] == event_id]
    SCHEMA.validate(value(record))
    data = value(record)["data"]
    assert (data["kind"], data["reason"], data["rep_id"]) == (
        "disqualified",
        "duplicate",
        "rep-ana",
    )
