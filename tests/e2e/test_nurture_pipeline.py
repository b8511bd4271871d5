"""The whole pipeline over real HTTP, Kafka and PostgreSQL: a web form through ingest, the
router's decision, nurture's welcome step on nurture.steps.v1; a reply reported through
ingest's activity API stops the sequence."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from shared.events.registry import LEAD_LIFECYCLE, NURTURE_STEP
from shared.settings import DEV_ADMIN_TOKEN
from shared.stack.common import free_port
from shared.stack.stack import ServiceProcess
from tests.conftest import start_ingest
from tests.integration.test_nurture_reliability import NURTURE
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.router_env import FIXTURES, ROUTER, sales_ready
from tests.signing import signed_request

ADMIN = {"authorization": f"Bearer {DEV_ADMIN_TOKEN}"}


def start(spec, env, log_dir, **extra) -> ServiceProcess:
    proc = ServiceProcess(
        spec, env.env(**extra), port=free_port(), log=log_dir / f"{spec.name}.log"
    )
    proc.start()
    proc.wait_ready()
    return proc


@pytest.fixture
async def pipeline(env, stack, tmp_path):
    """Ingest, router and nurture as processes on the test's own database and topics."""
    ingest = await asyncio.to_thread(
        start_ingest, stack, tmp_path, name="ingest-e2e", LEADFLOW_TOPIC_PREFIX=env.prefix
    )
    router = await asyncio.to_thread(start, ROUTER, env, tmp_path)
    nurture = await asyncio.to_thread(
        start, NURTURE, env, tmp_path,
        LEADFLOW_NURTURE_SEQUENCES_FILE=str(FIXTURES / "nurture-24x7.yaml"),
        LEADFLOW_NURTURE_CONSUMER_GROUP=f"{env.prefix}nurture",
    )  # fmt: skip
    try:
        yield ingest, router, nurture
    finally:
        for proc in (nurture, router, ingest):
            await asyncio.to_thread(proc.stop)


async def test_web_lead_to_welcome_step_and_a_reply_stops_it(pipeline, env, stack):
    ingest, _router, nurture = pipeline
    async with (
        TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps,
        httpx.AsyncClient(base_url=ingest.url, timeout=30) as client,
        httpx.AsyncClient(base_url=nurture.url, timeout=10) as api,
    ):
        email = f"grace.{uuid.uuid4().hex[:8]}@example.com"
        # a German form that asked: Germany needs opt-in before the welcome email goes out
        body, headers = signed_request(
            sales_ready(email, first_name="Grace", marketing_consent=True)
        )
        response = await client.post("/v1/leads", content=body, headers=headers)
        assert response.status_code == 202, response.text
        submission = response.json()["lead_id"]

        records = await steps.read(
            until=lambda rs: any(value(r)["data"]["to"] == email for r in rs), timeout=30
        )
        step = next(value(r)["data"] for r in records if value(r)["data"]["to"] == email)
        assert (step["sequence_id"], step["step"], step["channel"]) == (
            "web-welcome",
            1,
            "email",
        )
        assert step["first_name"] == "Grace"

        # the CRM reports a reply with the id ingest answered; nurture resolves it
        body, headers = signed_request(
            {"kind": "reply", "occurred_at": "2026-11-24T09:00:00Z"}, source="crm"
        )
        response = await client.post(
            f"/v1/leads/{submission}/activities", content=body, headers=headers
        )
        assert response.status_code == 202, response.text

        async def stopped():
            r = await api.get(f"/v1/nurture/leads/{submission}", headers=ADMIN)
            return (
                r.json()
                if r.status_code == 200 and r.json()["enrollments"][0]["status"] == "stopped"
                else None
            )

        state = await wait_for(stopped, timeout=30)
        assert state["lead_id"] == step["lead_id"] and state["enrollments"][0]["reason"] == "reply"
        metrics = (await api.get("/metrics")).text
        assert (
            'leadflow_nurture_steps_emitted_total{channel="email",sequence="web-welcome",step="1"}'
            in metrics
        )


async def test_a_lead_sales_disqualifies_not_now_goes_to_nurtures_remarket_list(
    pipeline, env, stack
):
    """A sales tool says "not now" through ingest; the router frees the rep and recycles the
    lead; nurture puts it on the remarket list."""
    ingest, router, nurture = pipeline
    async with (
        TopicReader(stack.bootstrap, env.topic(LEAD_LIFECYCLE.topic)) as lifecycle,
        httpx.AsyncClient(base_url=ingest.url, timeout=30) as client,
        httpx.AsyncClient(base_url=router.url, timeout=10) as admin,
        httpx.AsyncClient(base_url=nurture.url, timeout=10) as api,
    ):
        email = f"later.{uuid.uuid4().hex[:8]}@example.com"
        body, headers = signed_request(sales_ready(email, first_name="Lin"))
        response = await client.post("/v1/leads", content=body, headers=headers)
        assert response.status_code == 202, response.text
        submission = response.json()["lead_id"]

        async def owned():
            r = await admin.get(f"/v1/admin/leads/{submission}", headers=ADMIN)
            return r.json() if r.status_code == 200 and r.json()["status"] == "assigned" else None

        lead = await wait_for(owned, timeout=30)
        owner = lead["owner"]["rep_id"]
        reps = {r["id"]: r for r in (await admin.get("/v1/admin/reps", headers=ADMIN)).json()}
        assert reps[owner]["open_leads"] == 1

        unknown = {"kind": "disqualified", "reason": "later_maybe", "rep_id": owner}
        body, headers = signed_request(unknown, source="crm")
        response = await client.post(
            f"/v1/leads/{submission}/activities", content=body, headers=headers
        )
        assert response.status_code == 422 and "bad_timing" in response.json()["detail"]

        not_now = {"kind": "disqualified", "reason": "bad_timing", "rep_id": owner}
        body, headers = signed_request(not_now, source="crm")
        response = await client.post(
            f"/v1/leads/{submission}/activities", content=body, headers=headers
        )
        assert response.status_code == 202, response.text

        async def remarketed():
            r = await api.get(f"/v1/nurture/leads/{lead['id']}", headers=ADMIN)
            return r.json() if r.status_code == 200 and r.json()["list"] == "remarket" else None

        state = await wait_for(remarketed, timeout=30)
        assert "bad_timing" in state["list_reason"]
        events = await lifecycle.read(until=lambda rs: len(rs) >= 1, timeout=15)
        data = value(events[0])["data"]
        assert (data["change"], data["marketing"], data["released_rep_id"]) == (
            "recycled",
            "remarket",
            owner,
        )
        reps = {r["id"]: r for r in (await admin.get("/v1/admin/reps", headers=ADMIN)).json()}
        assert reps[owner]["open_leads"] == 0
        lead = (await admin.get(f"/v1/admin/leads/{submission}", headers=ADMIN)).json()
        assert lead["status"] == "recycled" and lead["lifecycle_stage"]["stage"] == "recycled"
