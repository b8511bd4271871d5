"""Plain HTML forms posting to a public source with a redirect, against the real ingest
process, Kafka and PostgreSQL: 303 to the thank-you page or to the error page with its
reason; JSON clients, origin and other request failures answered as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.events.registry import LEAD_RECEIVED
from shared.stack.stack import ServiceProcess, Stack
from tests.conftest import start_ingest
from tests.kafka_helpers import TopicReader, value
from tests.signing import unique_email

SITE = "https://www.example.test"
THANKS = f"{SITE}/thanks"
OOPS = f"{SITE}/form-error?form=demo"
BROWSER = {
    "origin": SITE,
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
REDIRECT = {"thank_you_url": THANKS, "error_url": OOPS}
SOURCES = {
    "sources": [
        {
            "id": "site-form",
            "kind": "public",
            "allowed_origins": [SITE],
            "honeypot_field": "fax_number",
            "rate_limit": {"per_minute": 600, "burst": 100},
            "redirect": REDIRECT,
        },
        {  # its own bucket, so the rate-limit test does not starve the others
            "id": "site-form-tight",
            "kind": "public",
            "allowed_origins": [SITE],
            "rate_limit": {"per_minute": 1, "burst": 2},
            "redirect": REDIRECT,
        },
        {  # behind a proxy (the module's ingest trusts 127.0.0.1 as one), and spoofed
            "id": "site-form-proxied",
            "kind": "public",
            "allowed_origins": [SITE],
            "rate_limit": {"per_minute": 1, "burst": 2},
            "redirect": REDIRECT,
        },
        {  # sent to directly by a peer that is not a trusted proxy
            "id": "site-form-spoofed",
            "kind": "public",
            "allowed_origins": [SITE],
            "rate_limit": {"per_minute": 1, "burst": 2},
            "redirect": REDIRECT,
        },
    ]
}


@pytest.fixture(scope="module")
def form_ingest(stack: Stack, tmp_root: Path) -> Iterator[ServiceProcess]:
    path = tmp_root / "sources-form-redirects.yaml"
    path.write_text(yaml.safe_dump(SOURCES))
    proc = start_ingest(
        stack,
        tmp_root,
        name="ingest-form-redirects",
        LEADFLOW_INGEST_SOURCES_FILE=str(path),
        LEADFLOW_INGEST_FORWARDED_ALLOW_IPS="127.0.0.1",  # the test client, as the proxy
    )
    yield proc
    proc.stop()


@pytest.fixture
async def client(form_ingest: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=form_ingest.url, timeout=30) as c:
        yield c


@pytest.fixture
async def topic(stack: Stack) -> AsyncIterator[TopicReader]:
    async with TopicReader(stack.bootstrap, LEAD_RECEIVED.topic) as reader:
        yield reader


def error_page(response: httpx.Response) -> dict[str, list[str]]:
    """The query the error page receives (after checking it is the error page)."""
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{SITE}/form-error"
    return parse_qs(location.query)


async def counters(client: httpx.AsyncClient) -> dict[tuple[str, tuple[str, ...]], float]:
    text = (await client.get("/metrics")).text
    out: dict[tuple[str, tuple[str, ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (
                "leadflow_ingest_leads_accepted_total",
                "leadflow_ingest_leads_rejected_total",
            ):
                out[(sample.name, tuple(sorted(sample.labels.values())))] = sample.value
    return out


def delta(before: dict, after: dict, name: str, *labels: str) -> float:
    key = (f"leadflow_ingest_leads_{name}_total", tuple(sorted(labels)))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_html_form_is_sent_to_the_thank_you_page_and_the_lead_is_published(
    client: httpx.AsyncClient, topic: TopicReader
) -> None:
    email = unique_email("html-form")
    form = {"email": email, "first_name": "Grace", "marketing_consent": "on", "fax_number": ""}
    before = await counters(client)
    response = await client.post("/v1/leads?source=site-form", data=form, headers=BROWSER)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == THANKS
    assert delta(before, await counters(client), "accepted", "public", "web") == 1
    records = await topic.read(
        until=lambda rs: any(value(r)["data"]["lead"]["email"] == email for r in rs)
    )
    (event,) = [value(r) for r in records if value(r)["data"]["lead"]["email"] == email]
    assert event["data"]["source"] == {"id": "site-form", "kind": "public"}
    assert event["data"]["lead"]["first_name"] == "Grace"


async def test_an_idempotent_replay_is_sent_to_the_thank_you_page_too(
    client: httpx.AsyncClient, topic: TopicReader
) -> None:
    email = unique_email("html-replay")
    headers = {**BROWSER, "idempotency-key": f"form-{email}"}
    first = await client.post("/v1/leads?source=site-form", data={"email": email}, headers=headers)
    again = await client.post("/v1/leads?source=site-form", data={"email": email}, headers=headers)
    assert (first.status_code, first.headers["location"]) == (303, THANKS)
    assert (again.status_code, again.headers["location"]) == (303, THANKS)
    assert again.headers["idempotent-replayed"] == "true"
    records = await topic.read(timeout=3)
    assert sum(1 for r in records if value(r)["data"]["lead"]["email"] == email) == 1


async def test_invalid_input_is_sent_to_the_error_page_naming_the_fields_only(
    client: httpx.AsyncClient, topic: TopicReader
) -> None:
    before = await counters(client)
    bad = {"email": "grace@@example.com", "phone": "12", "first_name": "Grace"}
    response = await client.post("/v1/leads?source=site-form", data=bad, headers=BROWSER)
    assert error_page(response) == {
        "form": ["demo"],
        "reason": ["invalid"],
        "fields": ["email,phone"],
    }
    assert "grace" not in response.headers["location"].lower()  # no personal data in URLs
    # the honeypot is invalid input too, counted as before
    bot = {"email": unique_email("bot"), "fax_number": "555-0100"}
    response = await client.post("/v1/leads?source=site-form", data=bot, headers=BROWSER)
    assert error_page(response) == {
        "form": ["demo"],
        "reason": ["invalid"],
        "fields": ["fax_number"],
    }
    after = await counters(client)
    assert delta(before, after, "rejected", "public", "validation") == 1
    assert delta(before, after, "rejected", "public", "honeypot") == 1
    await asyncio.sleep(0.5)
    assert await topic.new_count() == 0


async def test_a_rate_limited_form_is_sent_to_the_error_page_with_its_reason(
    client: httpx.AsyncClient,
) -> None:
    before = await counters(client)
    answers = []
    for _ in range(4):  # site-form-tight allows a burst of 2
        answers.append(
            await client.post(
                "/v1/leads?source=site-form-tight",
                data={"email": unique_email("html-rl")},
                headers=BROWSER,
            )
        )
    assert [r.headers["location"] for r in answers[:2]] == [THANKS, THANKS]
    for response in answers[2:]:
        assert error_page(response) == {"form": ["demo"], "reason": ["rate_limited"]}
        assert int(response.headers["retry-after"]) >= 1
    after = await counters(client)
    assert delta(before, after, "rejected", "public", "rate_limited") == 2
    assert delta(before, after, "accepted", "public", "web") == 2


async def test_json_clients_of_the_same_source_get_json_answers(
    client: httpx.AsyncClient,
) -> None:
    # a form body, but asking for JSON (a script posting the form)
    form_json = {**BROWSER, "accept": "application/json"}
    response = await client.post(
        "/v1/leads?source=site-form", data={"email": unique_email("js")}, headers=form_json
    )
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    # a JSON body, whatever it accepts
    response = await client.post(
        "/v1/leads?source=site-form", json={"email": unique_email("js")}, headers=BROWSER
    )
    assert response.status_code == 202 and "location" not in response.headers
    invalid = [
        await client.post("/v1/leads?source=site-form", data={"email": "nope"}, headers=form_json),
        await client.post("/v1/leads?source=site-form", json={"email": "nope"}, headers=BROWSER),
    ]
    for response in invalid:
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["email"]


async def test_request_failures_stay_problem_documents(client: httpx.AsyncClient) -> None:
    form = {"email": unique_email("evil")}
    response = await client.post(
        "/v1/leads?source=site-form", data=form, headers={**BROWSER, "origin": "https://evil.test"}
    )
    assert response.status_code == 403 and response.json()["code"] == "origin_not_allowed"
    assert response.headers["content-type"].startswith("application/problem+json")
    response = await client.post("/v1/leads", data=form, headers=BROWSER)  # no source named
    assert response.status_code == 400 and response.json()["code"] == "source_required"
    response = await client.post("/v1/leads?source=nope", data=form, headers=BROWSER)
    assert response.status_code == 401
    response = await client.post(
        "/v1/leads?source=site-form",
        data={"email": unique_email("big"), "message": "x" * 70_000},
        headers=BROWSER,
    )
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


async def test_a_made_up_forwarded_address_does_not_escape_the_rate_limit(
    client: httpx.AsyncClient,
) -> None:
    """Behind one proxy, the client is the address the proxy appended: whatever a client puts
    in X-Forwarded-For itself is left of it and never read."""

    async def post(forwarded: str) -> httpx.Response:
        return await client.post(
            "/v1/leads?source=site-form-proxied",
            data={"email": unique_email("xff")},
            headers=BROWSER | {"x-forwarded-for": forwarded},
        )

    answers = [await post(f"198.51.100.{n}, 203.0.113.7") for n in range(5)]
    assert [r.headers["location"] for r in answers[:2]] == [THANKS, THANKS]
    for response in answers[2:]:  # a fresh made-up address each time, still limited
        assert error_page(response)["reason"] == ["rate_limited"]
    other_client = await post("198.51.100.99, 203.0.113.8")
    assert other_client.headers["location"] == THANKS  # another client, its own bucket


async def test_a_spoofed_forwarded_address_from_an_untrusted_peer_is_not_believed(
    form_ingest: ServiceProcess,
) -> None:
    """127.0.0.2 is not a trusted proxy: whatever X-Forwarded-For it sends, it is keyed on its
    own address, so a fresh made-up address per request is still one client."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=form_ingest.url, transport=transport) as direct:
        answers = [
            await direct.post(
                "/v1/leads?source=site-form-spoofed",
                data={"email": unique_email("spoof")},
                headers=BROWSER | {"x-forwarded-for": f"203.0.113.{n}"},
            )
            for n in range(4)
        ]
    assert [r.headers["location"] for r in answers[:2]] == [THANKS, THANKS]
    for response in answers[2:]:
        assert error_page(response)["reason"] == ["rate_limited"]
