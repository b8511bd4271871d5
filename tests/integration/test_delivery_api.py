"""Delivery's admin API against the real app (httpx ASGI), PostgreSQL and Kafka: endpoint
CRUD and its problems, scopes, secret rotation (both secrets verify with ``standardwebhooks``
during the grace period, only the new one after), attempts with their cursor, test-send to a
receiver started by the test, replay of exactly a time range, address safety in production
settings and at send time, and erasure of stored payloads."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from services.delivery.app import create_app
from services.delivery.dispatch import dispatch_due
from services.delivery.runtime import DeliveryRuntime
from services.delivery.settings import DeliverySettings
from shared.auth import hash_token
from shared.events.envelope import make_event
from shared.events.models import LeadErased
from shared.events.registry import LEAD_ASSIGNED, LEAD_ERASED, LEAD_LIFECYCLE, LEAD_SLA
from tests.clock import ManualClock
from tests.integration import test_delivery as core
from tests.integration.test_delivery import Receiver, event_of, publish, stored
from tests.kafka_helpers import wait_for
from tests.unit.test_event_evolution import SAMPLES

receiver = core.receiver  # the fixture: a receiver verifying with standardwebhooks
ADMIN_TOKEN = "delivery-admin-token-0123456789"
READER_TOKEN = "delivery-reader-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
READER = {"Authorization": f"Bearer {READER_TOKEN}"}
BASE = "/v1/admin/webhooks/endpoints"


@dataclasses.dataclass
class Api:
    ctx: Any
    clock: ManualClock
    http: httpx.AsyncClient
    runtime: DeliveryRuntime

    async def create(self, url: str, types: list[str], **extra: Any) -> dict[str, Any]:
        r = await self.http.post(
            BASE, json={"url": url, "event_types": types, **extra}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def settings(self, **changes: Any) -> DeliverySettings:
        """The context's settings with ``changes``, validated."""
        return DeliverySettings(**(self.ctx.settings.model_dump() | changes))

    def with_settings(self, **changes: Any) -> httpx.AsyncClient:
        """A client of the same app whose context carries other settings."""
        settings = self.settings(**changes)
        app = create_app(settings, self.runtime)
        app.state.delivery = dataclasses.replace(self.ctx, settings=settings)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://delivery")


@pytest.fixture
async def api(env, tmp_path: Path, receiver: Receiver):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {
                "tokens": [
                    {"name": "alice", "scopes": ["admin"], "sha256": hash_token(ADMIN_TOKEN)},
                    {"name": "reader", "scopes": ["read"], "sha256": hash_token(READER_TOKEN)},
                ]
            }
        )
    )
    clock = ManualClock(datetime.now(UTC))
    receiver.now = clock
    settings = DeliverySettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url, admin_token=None,
        admin_tokens_file=tokens, kafka_bootstrap_servers=env.stack.bootstrap,
        delivery_consumer_group=f"{env.prefix}delivery",
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = DeliveryRuntime(settings, clock=clock, on_fatal=failures.append, dispatch=False)
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.delivery = ctx
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://delivery")
    yield Api(ctx, clock, http, runtime)
    await http.aclose()
    await runtime.stop()
    assert not failures


def field_of(r: httpx.Response) -> str:
    assert r.status_code == 422, r.text
    return r.json()["errors"][0]["field"]  # type: ignore[no-any-return]


async def audit_actions(api: Api) -> list[str]:
    r = await api.http.get("/v1/admin/audit", headers=READER)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["events"]]


async def test_endpoint_crud_validation_and_scopes(api: Api, receiver: Receiver) -> None:
    created = await api.create(receiver.url("/a"), [LEAD_ASSIGNED.type], description="CRM")
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    eid = created["id"]

    listed = (await api.http.get(BASE, headers=READER)).json()["endpoints"]
    assert [e["id"] for e in listed] == [eid] and "secret" not in listed[0]
    one = await api.http.get(f"{BASE}/{eid}", headers=READER)
    assert one.status_code == 200 and "secret" not in one.json()

    # scopes: a reader reads, cannot change, cannot see secrets; no token is a 401
    assert (await api.http.post(BASE, json={}, headers=READER)).status_code == 403
    assert (await api.http.get(f"{BASE}/{eid}/secrets", headers=READER)).status_code == 403
    assert (await api.http.get(BASE)).status_code == 401
    secrets = await api.http.get(f"{BASE}/{eid}/secrets", headers=ADMIN)
    assert [s["secret"] for s in secrets.json()["secrets"]] == [created["secret"]]

    # problems naming the field
    r = await api.http.post(
        BASE, json={"url": "ftp://x.example", "event_types": [LEAD_ASSIGNED.type]}, headers=ADMIN
    )
    assert field_of(r) == "url"
    r = await api.http.post(
        BASE,
        json={"url": receiver.url("/b"), "event_types": ["io.leadflow.lead.nope.v1"]},
        headers=ADMIN,
    )
    assert field_of(r) == "event_types" and LEAD_ASSIGNED.type in r.json()["detail"]
    r = await api.http.post(
        BASE, json={"url": receiver.url("/b"), "event_types": []}, headers=ADMIN
    )
    assert field_of(r) == "event_types"
    missing = uuid.uuid4()
    assert (await api.http.get(f"{BASE}/{missing}", headers=READER)).status_code == 404
    assert (await api.http.patch(f"{BASE}/{missing}", json={}, headers=ADMIN)).status_code == 404

    # PATCH: types, description, operator disabling (the same path: the event, skipped) and enabling
    r = await api.http.patch(
        f"{BASE}/{eid}", json={"event_types": [LEAD_SLA.type], "description": "x"}, headers=ADMIN
    )
    assert r.status_code == 200 and r.json()["event_types"] == [LEAD_SLA.type]
    r = await api.http.patch(f"{BASE}/{eid}", json={"url": "gopher://x"}, headers=ADMIN)
    assert field_of(r) == "url"
    r = await api.http.patch(f"{BASE}/{eid}", json={"enabled": False}, headers=ADMIN)
    assert r.json()["enabled"] is False and r.json()["disabled_reason"] == "operator"
    async with api.ctx.sessions() as session:
        outbox = await session.scalar(
            text("SELECT count(*) FROM delivery.outbox WHERE key = :k"), {"k": eid.encode()}
        )
    assert outbox == 1
    r = await api.http.patch(f"{BASE}/{eid}", json={"enabled": True}, headers=ADMIN)
    assert r.json()["enabled"] is True and r.json()["disabled_reason"] is None

    r = await api.http.delete(f"{BASE}/{eid}", headers=ADMIN)
    assert r.status_code == 204
    assert (await api.http.get(f"{BASE}/{eid}", headers=READER)).status_code == 404
    actions = await audit_actions(api)
    assert {"endpoint.created", "endpoint.updated", "endpoint.deleted"} <= set(actions)
    async with api.ctx.sessions() as session:
        trail = await session.scalar(
            text("SELECT string_agg(CAST(changes AS text), ' ') FROM delivery.audit_event")
        )
    assert created["secret"] not in trail and "/a" not in trail


async def test_rotation_test_send_and_attempts(api: Api, receiver: Receiver) -> None:
    created = await api.create(receiver.url("/r"), [LEAD_ASSIGNED.type])
    eid, old = created["id"], created["secret"]
    r = await api.http.post(
        f"{BASE}/{eid}/secrets/rotate", json={"grace_seconds": 3600}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old
    shown = (await api.http.get(f"{BASE}/{eid}/secrets", headers=ADMIN)).json()["secrets"]
    assert [s["secret"] for s in shown] == [new, old]

    async def test_send() -> dict[str, Any]:
        r = await api.http.post(f"{BASE}/{eid}/test", json={}, headers=ADMIN)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    # during the grace period both secrets verify
    for secret in (old, new):
        receiver.secrets["/r"] = secret
        sent = await test_send()
        assert sent["outcome"] == "success" and sent["status_code"] == 204, sent
        assert receiver.got[-1].webhook_id == sent["event_id"]
        assert receiver.got[-1].body["type"] == LEAD_ASSIGNED.type
    assert not receiver.rejected
    # a rotation during the grace period keeps two unexpired: the oldest expires at once
    r = await api.http.post(
        f"{BASE}/{eid}/secrets/rotate", json={"grace_seconds": 3600}, headers=ADMIN
    )
    newest = r.json()["secret"]
    shown = (await api.http.get(f"{BASE}/{eid}/secrets", headers=ADMIN)).json()["secrets"]
    assert [s["secret"] for s in shown] == [newest, new]

    api.clock.advance(seconds=3601)
    receiver.secrets["/r"] = new
    assert (await test_send())[
        "outcome"
    ] == "http_error"  # the receiver refused: not signed by `new`
    assert receiver.rejected
    receiver.secrets["/r"] = newest
    assert (await test_send())["outcome"] == "success"

    # a 410 to a test-send is reported, and the endpoint stays enabled
    receiver.statuses["/r"] = [410]
    assert (await test_send())["outcome"] == "gone"
    assert (await api.http.get(f"{BASE}/{eid}", headers=READER)).json()["enabled"] is True

    # attempts newest first, one page after the other
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.http.get(f"{BASE}/{eid}/attempts", params=params, headers=READER)).json()
        seen += [a["id"] for a in page["attempts"]]
        assert all(
            a["delivery_id"] and a["event_type"] == LEAD_ASSIGNED.type for a in page["attempts"]
        )
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    failed = (
        await api.http.get(
            f"{BASE}/{eid}/attempts", params={"outcome": "http_error"}, headers=READER
        )
    ).json()
    assert len(failed["attempts"]) == 1
    now = api.clock()
    r = await api.http.get(
        f"{BASE}/{eid}/attempts",
        params={"since": now.isoformat(), "until": now.isoformat()},
        headers=READER,
    )
    assert field_of(r) == "until"
    r = await api.http.get(f"{BASE}/{eid}/attempts", params={"cursor": "bm9wZQ"}, headers=READER)
    assert field_of(r) == "cursor"
    deliveries = (
        await api.http.get(f"{BASE}/{eid}/deliveries", params={"state": "failed"}, headers=READER)
    ).json()
    assert len(deliveries["deliveries"]) == 2 and {
        d["origin"] for d in deliveries["deliveries"]
    } == {"test"}
    one = deliveries["deliveries"][0]
    got = (await api.http.get(f"{BASE}/{eid}/deliveries/{one['id']}", headers=READER)).json()
    assert [a["number"] for a in got["attempt_list"]] == [1]
    assert {"endpoint.secret_rotated", "endpoint.tested"} <= set(await audit_actions(api))


async def test_replay_resends_exactly_the_range(
    env, api: Api, producer, receiver: Receiver
) -> None:
    t0 = api.clock() - timedelta(hours=1)
    lead = uuid.uuid4()
    events = [event_of(LEAD_ASSIGNED, lead, t0 - timedelta(hours=h)) for h in (3, 2, 1, 0)]
    other = event_of(LEAD_SLA, lead, t0 - timedelta(hours=2))
    await publish(env, producer, *events, other)
    await wait_for(lambda: stored(api.ctx, [e.id for e in [*events, other]]), timeout=30)

    created = await api.create(receiver.url("/p"), [LEAD_ASSIGNED.type, LEAD_SLA.type])
    eid = created["id"]
    receiver.secrets["/p"] = created["secret"]
    since, until = t0 - timedelta(hours=2, minutes=1), t0 - timedelta(minutes=30)
    body = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "event_types": [LEAD_ASSIGNED.type],
    }
    r = await api.http.post(f"{BASE}/{eid}/replay", json=body, headers=ADMIN)
    assert r.status_code == 202 and r.json() == {"queued": 2}, r.text
    while await dispatch_due(api.ctx):
        pass
    assert sorted(g.webhook_id for g in receiver.of("/p")) == sorted([events[1].id, events[2].id])
    assert not receiver.rejected

    # a second replay of the range while the first is pending queues nothing twice; queued
    # in event order
    assert (await api.http.post(f"{BASE}/{eid}/replay", json=body, headers=ADMIN)).json() == {
        "queued": 2
    }
    again = await api.http.post(f"{BASE}/{eid}/replay", json=body, headers=ADMIN)
    assert again.json() == {"queued": 0}, again.text
    async with api.ctx.sessions() as session:
        order = (
            await session.scalars(
                text(
                    "SELECT event_id FROM delivery.delivery WHERE origin = 'replay' "
                    "AND state = 'pending' ORDER BY id"
                )
            )
        ).all()
    assert order == [events[1].id, events[2].id]
    while await dispatch_due(api.ctx):
        pass
    # more events than the bound: a 422 naming since, nothing queued
    async with api.with_settings(delivery_replay_max_events=1) as small:
        r = await small.post(f"{BASE}/{eid}/replay", json=body, headers=ADMIN)
    assert field_of(r) == "since" and "more than 1" in r.json()["detail"]

    bad = body | {"event_types": [LEAD_LIFECYCLE.type]}
    assert (
        field_of(await api.http.post(f"{BASE}/{eid}/replay", json=bad, headers=ADMIN))
        == "event_types"
    )
    backwards = body | {"since": until.isoformat(), "until": since.isoformat()}
    assert (
        field_of(await api.http.post(f"{BASE}/{eid}/replay", json=backwards, headers=ADMIN))
        == "until"
    )
    old = body | {"since": (t0 - timedelta(days=31)).isoformat()}
    assert field_of(await api.http.post(f"{BASE}/{eid}/replay", json=old, headers=ADMIN)) == "since"
    await api.http.patch(f"{BASE}/{eid}", json={"enabled": False}, headers=ADMIN)
    r = await api.http.post(f"{BASE}/{eid}/replay", json=body, headers=ADMIN)
    assert (
        r.status_code == 409
        and r.json()["code"] == "endpoint_disabled"
        and eid in r.json()["detail"]
    )
    assert "endpoint.replayed" in await audit_actions(api)


async def test_private_addresses_refused_in_production_and_at_send(
    api: Api, receiver: Receiver
) -> None:
    production = dict(
        env="production", admin_token=None, erasure_hash_key="a-real-hash-key-1234",
        delivery_allow_private_networks=None, delivery_require_https=None,
    )  # fmt: skip
    async with api.with_settings(**production) as prod:
        for url, kind in (
            ("https://127.0.0.1/hook", "loopback"),
            ("https://10.1.2.3/hook", "private"),
            ("https://localhost/hook", "loopback"),
            ("https://[::ffff:10.0.0.1]/hook", "private"),
        ):
            r = await prod.post(
                BASE, json={"url": url, "event_types": [LEAD_ASSIGNED.type]}, headers=ADMIN
            )
            assert field_of(r) == "url" and kind in r.json()["detail"], (url, r.text)
        r = await prod.post(
            BASE,
            json={"url": receiver.url("/x"), "event_types": [LEAD_ASSIGNED.type]},
            headers=ADMIN,
        )
        assert field_of(r) == "url" and "https" in r.json()["detail"]
    async with api.with_settings(**production, delivery_allowed_networks=["10.1.0.0/16"]) as prod:
        r = await prod.post(
            BASE,
            json={"url": "https://10.1.2.3/hook", "event_types": [LEAD_ASSIGNED.type]},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
    async with api.with_settings(**production, delivery_allowed_hosts=["localhost"]) as prod:
        r = await prod.post(
            BASE,
            json={"url": "https://localhost/hook", "event_types": [LEAD_ASSIGNED.type]},
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text

    # at send time: the address is checked before each attempt
    created = await api.create(receiver.url("/s"), [LEAD_ASSIGNED.type])
    eid = created["id"]
    receiver.secrets["/s"] = created["secret"]
    api.ctx.settings = api.settings(delivery_allow_private_networks=False)
    r = await api.http.post(f"{BASE}/{eid}/test", json={}, headers=ADMIN)
    assert r.json()["outcome"] == "refused_address" and r.json()["status_code"] is None
    assert not receiver.of("/s")
    api.ctx.settings = api.settings(
        delivery_allow_private_networks=False, delivery_allowed_networks=["127.0.0.0/8"]
    )
    r = await api.http.post(f"{BASE}/{eid}/test", json={}, headers=ADMIN)
    assert r.json()["outcome"] == "success", r.text
    assert len(receiver.of("/s")) == 1
    attempts = (
        await api.http.get(
            f"{BASE}/{eid}/attempts", params={"outcome": "refused_address"}, headers=READER
        )
    ).json()
    assert len(attempts["attempts"]) == 1 and "loopback" in attempts["attempts"][0]["error"]


async def test_erasure_erases_stored_payloads_and_delivers_the_erased_event(
    env, api: Api, producer, receiver: Receiver
) -> None:
    created = await api.create(
        receiver.url("/e"), [LEAD_ASSIGNED.type, LEAD_LIFECYCLE.type, LEAD_ERASED.type]
    )
    eid = created["id"]
    receiver.secrets["/e"] = created["secret"]
    person, merged_away, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    submission = uuid.uuid4()
    at = api.clock() - timedelta(minutes=10)
    first = event_of(LEAD_ASSIGNED, person, at)
    await publish(env, producer, first)
    await wait_for(lambda: stored(api.ctx, [first.id]), timeout=30)
    while await dispatch_due(api.ctx):
        pass  # delivered: an attempt with a response excerpt
    later = event_of(LEAD_LIFECYCLE, person, at + timedelta(minutes=1))
    data = SAMPLES[LEAD_ASSIGNED.type].model_copy(
        update={"lead_id": bystander, "submission_id": submission}
    )
    by_submission = make_event(
        type=LEAD_ASSIGNED.type, source="/t", subject=str(bystander), data=data, time=at
    )
    unrelated = event_of(LEAD_ASSIGNED, uuid.uuid4(), at + timedelta(minutes=2))
    await publish(env, producer, later, by_submission, unrelated)
    await wait_for(lambda: stored(api.ctx, [later.id, by_submission.id, unrelated.id]), timeout=30)

    erasure = LeadErased(
        erasure_id=uuid.uuid4(), lead_id=person, lead_ids=[person, merged_away],
        submission_ids=[submission], identity_hashes=[], requested_at=api.clock(), requested_by="admin",
    )  # fmt: skip
    erased_event = make_event(
        type=LEAD_ERASED.type, source="/t", subject=str(person), data=erasure, time=api.clock()
    )
    await publish(env, producer, erased_event)
    await wait_for(lambda: stored(api.ctx, [erased_event.id]), timeout=30)

    async with api.ctx.sessions() as session:
        rows = {
            r.id: r
            for r in (
                await session.execute(
                    text("SELECT id, payload, erased_at, sequence, lead_id FROM delivery.event")
                )
            ).all()
        }
        states = dict(
            (
                await session.execute(
                    text(
                        "SELECT event_id, state || ':' || coalesce(skipped_reason, '') FROM delivery.delivery"
                    )
                )
            ).all()
        )
        excerpts = (
            (
                await session.execute(
                    text("SELECT response_excerpt FROM delivery.attempt WHERE event_id = :id"),
                    {"id": first.id},
                )
            )
            .scalars()
            .all()
        )
    for erased in (first.id, later.id, by_submission.id):
        row = rows[erased]
        assert row.payload["data"] == {"erased": True} and row.erased_at is not None, erased
        assert row.payload["id"] == erased and row.payload["type"] and row.payload["time"]
    assert rows[first.id].payload["leadsequence"] == rows[first.id].sequence == 1
    assert rows[unrelated.id].erased_at is None and rows[unrelated.id].payload["data"]["lead_id"]
    assert rows[erased_event.id].erased_at is None  # the erasure event itself is kept as is
    assert states[later.id] == "skipped:erased" and states[by_submission.id] == "skipped:erased"
    assert excerpts == [None]
    assert states[erased_event.id] == "pending:" and states[unrelated.id] == "pending:"

    while await dispatch_due(api.ctx):
        pass
    ids = [g.webhook_id for g in receiver.of("/e")]
    assert ids.count(erased_event.id) == 1 and unrelated.id in ids and later.id not in ids
    assert not receiver.rejected

    # a replay does not resend erased payloads
    since = (at - timedelta(minutes=1)).isoformat()
    until = (api.clock() + timedelta(minutes=1)).isoformat()
    r = await api.http.post(
        f"{BASE}/{eid}/replay", json={"since": since, "until": until}, headers=ADMIN
    )
    assert r.json() == {"queued": 2}, r.text  # the unrelated event and the erasure event
    before = len(receiver.of("/e"))
    while await dispatch_due(api.ctx):
        pass
    replayed = [g.webhook_id for g in receiver.of("/e")[before:]]
    assert sorted(replayed) == sorted([unrelated.id, erased_event.id])

    # the same erasure again does nothing
    await publish(env, producer, erased_event)
    await wait_for(lambda: stored(api.ctx, [erased_event.id]), timeout=5)

    # events about the erased lead or submission that arrive after the erasure: stored
    # already erased, never fanned out
    late = event_of(LEAD_LIFECYCLE, merged_away, api.clock())
    late_data = SAMPLES[LEAD_ASSIGNED.type].model_copy(
        update={"lead_id": uuid.uuid4(), "submission_id": submission}
    )
    late_by_submission = make_event(
        type=LEAD_ASSIGNED.type, source="/t", subject="x", data=late_data, time=api.clock()
    )
    await publish(env, producer, late, late_by_submission)
    await wait_for(lambda: stored(api.ctx, [late.id, late_by_submission.id]), timeout=30)
    async with api.ctx.sessions() as session:
        for event_id in (late.id, late_by_submission.id):
            row = (
                await session.execute(
                    text("SELECT payload, erased_at FROM delivery.event WHERE id = :id"),
                    {"id": event_id},
                )
            ).one()
            assert row.payload["data"] == {"erased": True} and row.erased_at is not None
            assert row.payload["id"] == event_id
            count = await session.scalar(
                text("SELECT count(*) FROM delivery.delivery WHERE event_id = :id"),
                {"id": event_id},
            )
            assert count == 0
        refs = await session.scalar(text("SELECT count(*) FROM delivery.erased_ref"))
    assert refs == 3  # person, merged_away, the submission


async def test_malformed_host_names_are_a_422_naming_url(api: Api, receiver: Receiver) -> None:
    bad = [
        "https://a..b.com/", "https://.x.com/", f"https://{'a' * 64}.com/",
        "https://hooks.internal../",
    ]  # fmt: skip
    for url in bad:
        r = await api.http.post(
            BASE, json={"url": url, "event_types": [LEAD_SLA.type]}, headers=ADMIN
        )
        assert field_of(r) == "url", url
    # an IDN the old IDNA codec refuses (bidi) is resolved in httpx's ASCII form: no 500
    r = await api.http.post(
        BASE, json={"url": "https://\u05d01.com/", "event_types": [LEAD_SLA.type]}, headers=ADMIN
    )
    assert r.status_code in (201, 422), r.text
    eid = (await api.create(receiver.url("/m"), [LEAD_SLA.type]))["id"]
    for url in bad:
        r = await api.http.patch(f"{BASE}/{eid}", json={"url": url}, headers=ADMIN)
        assert field_of(r) == "url", url


async def test_out_of_range_values_are_a_422_naming_the_field(api: Api, receiver: Receiver) -> None:
    import base64

    eid = (await api.create(receiver.url("/r"), [LEAD_SLA.type]))["id"]
    r = await api.http.get(f"{BASE}/{eid}/deliveries/{2**63}", headers=READER)
    assert r.status_code == 422 and "delivery_id" in r.text
    r = await api.http.get(f"{BASE}/{eid}/deliveries/0", headers=READER)
    assert r.status_code == 422

    def cursor(raw: str) -> str:
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    for c in (cursor(f"delivery|{2**63}"), cursor("delivery|-1")):
        r = await api.http.get(f"{BASE}/{eid}/deliveries", params={"cursor": c}, headers=READER)
        assert field_of(r) == "cursor"
    for c in (
        cursor(f"attempt|2026-12-01T00:00:00+00:00|{2**63}"),
        cursor("attempt|0001-01-01T00:00:00+14:00|1"),
        cursor("attempt|2026-12-01T00:00:00|1"),
    ):
        r = await api.http.get(f"{BASE}/{eid}/attempts", params={"cursor": c}, headers=READER)
        assert field_of(r) == "cursor"
    for name in ("since", "until"):
        for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
            r = await api.http.get(f"{BASE}/{eid}/attempts", params={name: value}, headers=READER)
            assert field_of(r) == name
            body = {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z", name: value}
            r = await api.http.post(f"{BASE}/{eid}/replay", json=body, headers=ADMIN)
            assert field_of(r) == name
    # a "+" sent unescaped arrives as a space and is read as "+"
    r = await api.http.get(f"{BASE}/{eid}/attempts?since=2026-12-01T00:00:00+01:00", headers=READER)
    assert r.status_code == 200, r.text
    r = await api.http.post(
        BASE, json={"url": receiver.url("/x"), "event_types": ["x" * 129]}, headers=ADMIN
    )
    assert r.status_code == 422
    r = await api.http.post(
        BASE, json={"url": receiver.url("/x"), "event_types": [LEAD_SLA.type] * 51}, headers=ADMIN
    )
    assert r.status_code == 422


async def test_a_test_send_that_raises_or_loses_its_endpoint_is_never_left_pending(
    api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.delivery.api import endpoints
    from services.delivery.dispatch import Sent
    from services.delivery.domain.outcome import Response as AttemptResponse

    eid = (await api.create(receiver.url("/t"), [LEAD_SLA.type]))["id"]

    async def raising(ctx: Any, item: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(endpoints, "attempt_one", raising)
    r = await api.http.post(f"{BASE}/{eid}/test", json={}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "connect_error" and "RuntimeError" in r.json()["error"]
    async with api.ctx.sessions() as session:
        state = await session.scalar(
            text("SELECT state FROM delivery.delivery WHERE id = :id"),
            {"id": r.json()["delivery_id"]},
        )
    assert state == "failed"
    # a test-send left pending (as before this fix) is never claimed and does not keep its
    # event from being pruned
    from services.delivery.runtime import prune_events

    async with api.ctx.sessions.begin() as session:
        await session.execute(
            text("UPDATE delivery.delivery SET state = 'pending' WHERE id = :id"),
            {"id": r.json()["delivery_id"]},
        )
    assert await dispatch_due(api.ctx) == 0
    async with api.ctx.sessions.begin() as session:
        assert await prune_events(session, api.clock() + timedelta(days=1)) == 1

    async def deleting(ctx: Any, item: Any) -> Any:  # the endpoint goes while sending
        async with ctx.sessions.begin() as session:
            await session.execute(
                text("DELETE FROM delivery.endpoint WHERE id = :id"), {"id": item.endpoint_id}
            )
        return Sent(AttemptResponse(204, timedelta(milliseconds=5)), ctx.clock())

    monkeypatch.setattr(endpoints, "attempt_one", deleting)
    r = await api.http.post(f"{BASE}/{eid}/test", json={}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["outcome"] == "success", r.text
    async with api.ctx.sessions() as session:
        left = await session.scalar(text("SELECT count(*) FROM delivery.attempt"))
    assert left == 0


async def test_pending_deliveries_of_unsubscribed_types_are_skipped(
    api: Api, receiver: Receiver
) -> None:
    from services.delivery import metrics

    eid = (await api.create(receiver.url("/u"), [LEAD_ASSIGNED.type, LEAD_SLA.type]))["id"]
    now = api.clock()
    async with api.ctx.sessions.begin() as session:
        for event_id, event_type in (("ev-u-a", LEAD_ASSIGNED.type), ("ev-u-s", LEAD_SLA.type)):
            await session.execute(
                text(
                    "INSERT INTO delivery.event (id, type, topic, time, payload, stored_at) "
                    "VALUES (:id, :type, 't', :now, CAST('{}' AS jsonb), :now)"
                ),
                {"id": event_id, "type": event_type, "now": now},
            )
            await session.execute(
                text(
                    "INSERT INTO delivery.delivery (endpoint_id, event_id, origin, state, "
                    "next_attempt_at, created_at) VALUES (:e, :ev, 'live', 'pending', :now, :now)"
                ),
                {"e": uuid.UUID(eid), "ev": event_id, "now": now},
            )
    before = metrics.DELIVERIES.labels("skipped", LEAD_ASSIGNED.type)._value.get()
    r = await api.http.patch(f"{BASE}/{eid}", json={"event_types": [LEAD_SLA.type]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    async with api.ctx.sessions() as session:
        states = dict(
            (
                await session.execute(
                    text(
                        "SELECT event_id, state || ':' || coalesce(skipped_reason, '') "
                        "FROM delivery.delivery"
                    )
                )
            ).all()
        )
    assert states == {"ev-u-a": "skipped:unsubscribed", "ev-u-s": "pending:"}
    assert metrics.DELIVERIES.labels("skipped", LEAD_ASSIGNED.type)._value.get() == before + 1


async def test_rotation_answers_the_kept_secrets_actual_expiry(
    api: Api, receiver: Receiver
) -> None:
    eid = (await api.create(receiver.url("/k"), [LEAD_SLA.type]))["id"]
    r = await api.http.post(
        f"{BASE}/{eid}/secrets/rotate", json={"grace_seconds": 3600}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    expected = api.clock() + timedelta(seconds=3600)
    assert datetime.fromisoformat(r.json()["previous_expires_at"]) == expected
    # a kept secret expiring before the new grace ends keeps its expiry, and says so
    async with api.ctx.sessions.begin() as session:
        await session.execute(
            text("UPDATE delivery.endpoint_secret SET expires_at = :at WHERE expires_at IS NULL"),
            {"at": api.clock() + timedelta(hours=2)},
        )
    r = await api.http.post(
        f"{BASE}/{eid}/secrets/rotate", json={"grace_seconds": 86400}, headers=ADMIN
    )
    expected = api.clock() + timedelta(hours=2)  # not now, when the older one expires
    assert datetime.fromisoformat(r.json()["previous_expires_at"]) == expected, r.text
