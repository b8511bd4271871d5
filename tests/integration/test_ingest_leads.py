"""POST /v1/leads against the real ingest process, Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import httpx
import jsonschema
import pytest

from shared.events.registry import LEAD_RECEIVED, LEAD_RECEIVED_BULK
from shared.settings import DEV_WEBHOOK_SECRET
from tests.conftest import start_ingest
from tests.kafka_helpers import TopicReader, value
from tests.signing import signed_request, stale, unique_email

TOPIC = LEAD_RECEIVED.topic
SCHEMA = jsonschema.Draft202012Validator(
    LEAD_RECEIVED.load_schema(), format_checker=jsonschema.FormatChecker()
)


@pytest.fixture
async def client(ingest):
    async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as c:
        yield c


@pytest.fixture
async def topic(stack):
    async with TopicReader(stack.bootstrap, TOPIC) as reader:
        yield reader


async def test_signed_lead_is_published_as_a_valid_cloudevent_keyed_by_match_key(client, topic):
    email = unique_email("Ada.Lovelace")
    body, headers = signed_request(
        {
            "email": email.replace("ada.lovelace", "Ada.Lovelace"),
            "phone": "(415) 555-0132",
            "country": "us",
            "first_name": "Ada",
            "company": "Analytical Engines",
            "website": "https://www.analytical.example/about",
            "company_size": 250,
            "utm_source": "google",
            "custom": {"plan": "enterprise", "seats": 40},
        }
    )
    response = await client.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    records = await topic.read(
        until=lambda rs: any(value(r)["id"] == accepted["event_id"] for r in rs)
    )
    (record,) = [r for r in records if value(r)["id"] == accepted["event_id"]]
    event = value(record)
    SCHEMA.validate(event)
    assert event["type"] == "io.leadflow.lead.received.v1"
    assert event["subject"] == accepted["lead_id"]
    data = event["data"]
    assert data["lead"]["email"] == email.lower()
    assert data["lead"]["phone"] == "+14155550132"
    assert data["lead"]["country"] == "US"
    assert data["lead"]["company_size"] == "201-500"
    assert data["lead"]["company_domain"] == "analytical.example"
    assert data["channel"] == "web" and data["purchased_list"] is False
    assert record.key.decode() == f"email:{email.lower()}" == data["match_key"]


async def test_rejected_signatures_get_401_and_publish_nothing(client, topic):
    payload = {"email": unique_email()}
    raw = json.dumps(payload).encode()
    cases = {
        "unsigned": (raw, {"content-type": "application/json", "x-leadflow-source": "website"}),
        "wrong secret": signed_request(payload, secret="whsec_" + "A" * 43 + "="),
        "stale": signed_request(payload, at=stale()),
    }
    body, headers = signed_request(payload)
    cases["tampered body"] = (body.replace(b"example", b"exampie"), headers)
    for name, (body, headers) in cases.items():
        response = await client.post("/v1/leads", content=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert response.json()["code"].startswith("signature_"), name


async def test_identical_resend_gets_the_first_response_and_publishes_once(client, topic):
    """A sender's HTTP client retrying after a time-out sends the very same request: same
    webhook-id, timestamp and signature (signed by the standardwebhooks library)."""
    payload = {"email": unique_email("resend"), "first_name": "Ada"}
    body, headers = signed_request(payload)
    await topic.mark()
    first = await client.post("/v1/leads", content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    again = [await client.post("/v1/leads", content=body, headers=headers) for _ in range(2)]
    for response in again:
        assert response.status_code == 202, response.text
        assert response.json() == first.json()
        assert response.headers["idempotent-replayed"] == "true"
    await asyncio.sleep(0.5)
    assert await topic.new_count() == 1
    (record,) = await topic.read(timeout=2)
    assert value(record)["id"] == first.json()["event_id"]
    # the same request after the tolerance window is refused as stale, not replayed
    late, late_headers = signed_request(payload, msg_id=headers["webhook-id"], at=stale())
    stale_answer = await client.post("/v1/leads", content=late, headers=late_headers)
    assert stale_answer.status_code == 401
    assert stale_answer.json()["code"] == "signature_stale"


async def _replays(client) -> float:
    text = (await client.get("/metrics")).text
    line = 'leadflow_ingest_idempotent_replays_total{source_kind="signed"} '
    return sum(float(ln.removeprefix(line)) for ln in text.splitlines() if ln.startswith(line))


async def test_identical_resend_of_a_refused_request_gets_the_stored_refusal(client, topic):
    replays_before = await _replays(client)
    body, headers = signed_request({"email": "ada@@example.com", "first_name": "Ada"})
    first = await client.post("/v1/leads", content=body, headers=headers)
    assert first.status_code == 422, first.text
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/v1/leads", content=body, headers=headers)
    assert again.status_code == 422
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await _replays(client) == replays_before + 1
    # the corrected lead under the same webhook-id is another request: the key is taken
    fixed, fixed_headers = signed_request(
        {"email": unique_email(), "first_name": "Ada"}, msg_id=headers["webhook-id"]
    )
    await topic.mark()
    reused = await client.post("/v1/leads", content=fixed, headers=fixed_headers)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    await asyncio.sleep(0.5)
    assert await topic.new_count() == 0


async def test_nothing_published_for_any_rejection(client, topic):
    await topic.mark()
    body, headers = signed_request({"email": unique_email()}, secret="whsec_" + "B" * 43 + "=")
    assert (await client.post("/v1/leads", content=body, headers=headers)).status_code == 401
    assert (
        await client.post("/v1/leads", content=b"{}", headers={"x-leadflow-source": "nope"})
    ).status_code == 401
    body, headers = signed_request({"email": "not-an-email"})
    assert (await client.post("/v1/leads", content=body, headers=headers)).status_code == 422
    await asyncio.sleep(0.5)
    assert await topic.new_count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "ada@@example.com"}, "email"),
        ({"email": "ada@example"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+1 415 555"}, "phone"),
        ({"email": "ada@example.com", "favourite_colour": "teal"}, "favourite_colour"),
        ({"first_name": "Ada"}, "email"),
        ({"email": "ada@example.com", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "ada@example.com", "country": "XX"}, "country"),
    ],
)
async def test_invalid_lead_gets_422_naming_the_field(client, payload, field):
    body, headers = signed_request(payload)
    response = await client.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_oversized_body_gets_413_without_being_read(client, ingest):
    big = json.dumps({"email": "ada@example.com", "message": "x" * 70_000}).encode()
    body, headers = signed_request(big)
    response = await client.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"

    # chunked, no Content-Length, and the body never ends: the answer must still come
    host, port = ingest.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nX-Leadflow-Source: website\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    try:
        for _ in range(80):
            writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


async def test_retry_with_same_key_returns_first_response_and_one_event(client, topic):
    payload = {"email": unique_email("retry")}
    body, headers = signed_request(payload, msg_id="msg_retry_" + payload["email"])
    first = await client.post("/v1/leads", content=body, headers=headers)
    assert first.status_code == 202
    # a sender's retry: same webhook-id and body, signed anew (new timestamp)
    await asyncio.sleep(1.1)
    body2, headers2 = signed_request(payload, msg_id=headers["webhook-id"])
    assert headers2["webhook-timestamp"] != headers["webhook-timestamp"]
    second = await client.post("/v1/leads", content=body2, headers=headers2)
    assert second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    # same key, different body: refused
    body3, headers3 = signed_request({"email": unique_email("other")}, msg_id=headers["webhook-id"])
    third = await client.post("/v1/leads", content=body3, headers=headers3)
    assert third.status_code == 422 and third.json()["code"] == "idempotency_key_reused"
    records = await topic.read(timeout=3)
    assert [value(r)["id"] for r in records].count(first.json()["event_id"]) == 1
    assert sum(1 for r in records if value(r)["data"]["lead"]["email"] == payload["email"]) == 1


async def test_a_refusal_for_how_the_body_was_sent_is_not_stored(client, topic):
    """A form body sent as JSON is refused for its framing; the same body and key sent again
    with the right Content-Type is judged afresh and accepted."""
    email = unique_email("framing")
    form = f"email={email}&first_name=Ada".encode()
    body, headers = signed_request(form)
    refused = await client.post("/v1/leads", content=body, headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["type"] == "json_invalid"
    fixed = headers | {"content-type": "application/x-www-form-urlencoded"}
    accepted = await client.post("/v1/leads", content=body, headers=fixed)
    assert accepted.status_code == 202, accepted.text
    assert "idempotent-replayed" not in accepted.headers


async def test_a_refusal_naming_a_field_with_a_nul_is_stored_and_replayed(client):
    body, headers = signed_request(b'{"email": "ada@example.com", "a\\u0000b": 1}')
    first = await client.post("/v1/leads", content=body, headers=headers)
    assert first.status_code == 422, first.text
    again = await client.post("/v1/leads", content=body, headers=headers)
    assert again.status_code == 422, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["code"] == first.json()["code"] == "validation_error"


async def test_concurrent_duplicates_publish_once(client, topic):
    payload = {"email": unique_email("twin")}
    msg_id = "msg_twin_" + payload["email"]
    requests = [signed_request(payload, msg_id=msg_id) for _ in range(8)]
    responses = await asyncio.gather(
        *(client.post("/v1/leads", content=b, headers=h) for b, h in requests)
    )
    statuses = sorted(r.status_code for r in responses)
    # twins wait briefly for the first and get its answer, or 409 when it takes longer
    assert set(statuses) <= {202, 409}, statuses
    accepted = [r for r in responses if r.status_code == 202]
    assert [r.headers.get("idempotent-replayed") for r in accepted].count(None) == 1
    assert len({r.json()["event_id"] for r in accepted}) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.headers["retry-after"] == "1"
    records = await topic.read(timeout=3)
    assert sum(1 for r in records if value(r)["data"]["lead"]["email"] == payload["email"]) == 1


async def test_idempotency_key_header_for_public_form(client, topic):
    form = {
        "email": unique_email("form"),
        "first_name": "Grace",
        "marketing_consent": "on",
        "custom[plan]": "pro",
        "fax_number": "",
    }
    headers = {
        "origin": "http://localhost:8000",
        "idempotency-key": "form-" + form["email"],
        "accept": "application/json",  # web-form redirects plain HTML forms to its pages
    }
    first = await client.post("/v1/leads?source=web-form", data=form, headers=headers)
    assert first.status_code == 202, first.text
    again = await client.post("/v1/leads?source=web-form", data=form, headers=headers)
    assert again.status_code == 202 and again.json() == first.json()
    records = await topic.read(
        until=lambda rs: any(value(r)["id"] == first.json()["event_id"] for r in rs)
    )
    data = next(value(r)["data"] for r in records if value(r)["id"] == first.json()["event_id"])
    assert data["lead"]["marketing_consent"] is True
    assert data["lead"]["custom"] == {"plan": "pro"}
    assert data["source"] == {"id": "web-form", "kind": "public"}


async def test_public_form_checks_origin_and_honeypot(client):
    form = {"email": unique_email("bot")}
    response = await client.post(
        "/v1/leads?source=web-form", data=form, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403 and response.json()["code"] == "origin_not_allowed"
    response = await client.post(
        "/v1/leads?source=web-form",
        data={**form, "fax_number": "555"},
        headers={"origin": "http://localhost:8000", "accept": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "fax_number"


async def test_purchased_list_names_are_flagged_and_take_the_bulk_lane(client, topic, stack):
    async with TopicReader(stack.bootstrap, LEAD_RECEIVED_BULK.topic) as bulk:
        body, headers = signed_request({"email": unique_email("bought")}, source="purchased-lists")
        response = await client.post("/v1/leads", content=body, headers=headers)
        assert response.status_code == 202 and response.json()["purchased_list"] is True
        event_id = response.json()["event_id"]
        records = await bulk.read(until=lambda rs: any(value(r)["id"] == event_id for r in rs))
    data = next(value(r)["data"] for r in records if value(r)["id"] == event_id)
    assert data["purchased_list"] is True and data["channel"] == "purchased_list"
    assert event_id not in {value(r)["id"] for r in await topic.read(timeout=1)}


async def test_unknown_media_type_and_missing_source(client):
    body, headers = signed_request(b"email=ada@example.com")
    headers["content-type"] = "text/plain"
    response = await client.post("/v1/leads", content=body, headers=headers)
    assert response.status_code == 415
    response = await client.post("/v1/leads", json={"email": "ada@example.com"})
    assert (
        response.status_code == 400 and response.json()["errors"][0]["field"] == "X-Leadflow-Source"
    )


async def test_metrics_count_accepted_and_rejected(client):
    text = (await client.get("/metrics")).text
    assert 'leadflow_ingest_leads_accepted_total{channel="web",source_kind="signed"}' in text
    assert (
        'leadflow_ingest_leads_rejected_total{reason="unauthorized",source_kind="signed"}' in text
    )
    assert (
        'leadflow_ingest_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/leads"}'
        in text
    )
    assert "leadflow_kafka_publish_duration_seconds_bucket" in text


def test_dev_secret_is_the_readme_default():
    assert DEV_WEBHOOK_SECRET.startswith("whsec_")


async def test_public_form_rate_limit_answers_429_with_retry_after(stack, tmp_root):
    own = await asyncio.to_thread(start_ingest, stack, tmp_root, name="ingest-ratelimit")
    try:
        async with httpx.AsyncClient(base_url=own.url, timeout=30) as c:
            statuses = []
            for _ in range(14):  # the web-form source allows a burst of 10
                r = await c.post(
                    "/v1/leads?source=web-form",
                    data={"email": unique_email("rl")},
                    headers={"origin": "http://localhost:8000", "accept": "application/json"},
                )
                statuses.append(r.status_code)
                if r.status_code == 429:
                    assert int(r.headers["retry-after"]) >= 1
                    assert r.json()["code"] == "rate_limited"
    finally:
        await asyncio.to_thread(own.stop)
    assert statuses[:10] == [202] * 10
    assert statuses[10:] == [429] * 4
