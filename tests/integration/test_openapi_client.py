"""The checked-in ingest OpenAPI document against the real ingest process: it is what the
service serves, and a client generated from it (OpenAPI Generator's ``python``) submits a
signed lead that lands on leads.received.v1."""

from __future__ import annotations

import json
import time

import httpx

from shared.contracts import SERVICES
from shared.events.registry import LEAD_RECEIVED
from tests.kafka_helpers import TopicReader, value
from tests.openapi_client import generate_python_client
from tests.signing import signed_request, unique_email

INGEST = next(s for s in SERVICES if s.name == "ingest")


async def test_running_ingest_serves_the_checked_in_document(ingest):
    async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == json.loads(INGEST.openapi_path.read_text())


async def test_generated_client_submits_a_signed_lead(ingest, stack, tmp_path):
    started = time.monotonic()
    client = generate_python_client(INGEST.openapi_path, tmp_path / "client", "leadflow_ingest")
    generated_in = time.monotonic() - started
    print(f"client generated in {generated_in:.1f} s")

    email = unique_email("generated-client")
    lead = client.LeadIn(email=email, first_name="Grace", company="Compilers Inc", country="US")
    # signed over the exact bytes the client sends: its JSON of the model
    payload = lead.to_dict()
    _, headers = signed_request(payload, source="website")
    topic_name = ingest.env.get("LEADFLOW_TOPIC_PREFIX", "") + LEAD_RECEIVED.topic

    config = client.Configuration(host=ingest.url)
    async with TopicReader(stack.bootstrap, topic_name) as topic:
        with client.ApiClient(config) as api_client:
            api = client.LeadsApi(api_client)
            response = api.submit_lead_with_http_info(
                lead,
                _headers={k: v for k, v in headers.items() if k != "content-type"},
                _content_type="application/json",
            )
        assert response.status_code == 202
        accepted = response.data
        assert isinstance(accepted, client.LeadAccepted)
        assert accepted.status == "accepted" and accepted.purchased_list is False
        records = await topic.read(
            until=lambda rs: any(value(r)["id"] == accepted.event_id for r in rs)
        )
    (event,) = [value(r) for r in records if value(r)["id"] == accepted.event_id]
    assert event["type"] == LEAD_RECEIVED.type
    assert event["data"]["lead_id"] == accepted.lead_id
    assert event["data"]["lead"]["email"] == email
    assert event["data"]["source"] == {"id": "website", "kind": "signed"}
