"""Consent-aware nurture against real Kafka and PostgreSQL, time from a manual clock: marketing
steps go out only with the consent the lead's country requires (rep tasks always), a later
opt-in starts them, purchased-list names follow the policy, a double opt-in request's
confirmed click records consent, an unsubscribe is a withdrawal; a lead's country gives its
zone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY

from services.nurture.app import create_app
from services.nurture.runtime import NurtureRuntime
from services.nurture.settings import CONFIG_DIR, NurtureSettings
from services.nurture.steps.service import fire_due
from shared.events.registry import LEAD_ACTIVITY, LEAD_ASSIGNED, NURTURE_STEP
from tests.clock import ManualClock
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.nurture_env import activity, assigned

# Tuesday 1 December 2026, 15:00 UTC: 16:00 in Berlin, 10:00 in New York
TUESDAY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer leadflow-dev-admin-token"}
CONFIRM = {"delay": "0m", "channel": "email", "template": "confirm-subscription", "confirm_opt_in": True}  # fmt: skip


def _sequences_with_double_opt_in(tmp_path: Path) -> Path:
    """The shipped sequences with a double opt-in request as the welcome's first step."""
    doc = yaml.safe_load((CONFIG_DIR / "nurture.yaml").read_text())
    welcome = next(s for s in doc["sequences"] if s["id"] == "web-welcome")
    welcome["steps"].insert(0, CONFIRM)
    path = tmp_path / "nurture.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(params=["shipped"])
async def nurture(request, env, tmp_path):
    clock = ManualClock(TUESDAY)
    extra = {}
    if request.param == "double_opt_in":
        extra["nurture_sequences_file"] = _sequences_with_double_opt_in(tmp_path)
    settings = NurtureSettings(
        env="test", topic_prefix=env.prefix, database_url=env.database_url,
        kafka_bootstrap_servers=env.stack.bootstrap, nurture_consumer_group=f"{env.prefix}nurture",
        **extra,
    )  # fmt: skip
    failures: list[BaseException] = []
    runtime = NurtureRuntime(settings, clock=clock, on_fatal=failures.append, schedule=False)
    ctx = await runtime.start()
    app = create_app(settings, runtime)
    app.state.nurture = ctx
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nurture")
    yield ctx, clock, api
    await api.aclose()
    await runtime.stop()
    assert not failures


async def publish(env, producer, *events):
    topic = {LEAD_ASSIGNED.type: LEAD_ASSIGNED.topic, LEAD_ACTIVITY.type: LEAD_ACTIVITY.topic}
    await producer.publish_many(
        [(env.topic(topic[e.type]), e.subject.encode(), e, ()) for e in events]
    )


async def known(api, lead_id, predicate=lambda s: True) -> dict:
    async def check():
        r = await api.get(f"/v1/nurture/leads/{lead_id}", headers=ADMIN)
        return r.json() if r.status_code == 200 and predicate(r.json()) else None

    return await wait_for(check, timeout=20)


async def run_days(ctx, clock, days: int) -> None:
    """Let ``days`` pass, a few hours at a time, firing what falls due."""
    for _ in range(days * 4):
        clock.advance(hours=6)
        await fire_due(ctx)


def steps_of(records, lead_id) -> list[tuple[str, int, str, str]]:
    out = []
    for r in records:
        d = value(r)["data"]
        if d["lead_id"] == str(lead_id):
            out.append((d["sequence_id"], d["step"], d["channel"], d["template_id"]))
    return out


def step_states(state: dict, sequence_id: str) -> list[tuple[str, str | None]]:
    e = next(e for e in state["enrollments"] if e["sequence_id"] == sequence_id)
    return [(s["state"], s["note"]) for s in e["steps"]]


def skipped(channel: str, reason: str) -> float:
    got = REGISTRY.get_sample_value(
        "leadflow_nurture_steps_skipped_total", {"channel": channel, "reason": reason}
    )
    return got or 0.0


def show_lead(lead, clock, country, **fields):
    # met at a Berlin show that ended Wednesday 2 December: first contact Monday 7 December
    return assigned(
        lead, clock.now, channel="trade_show", timezone=None, country=country,
        show=("saastr-eu", date(2026, 12, 2), "Europe/Berlin"), **fields,
    )  # fmt: skip


async def test_a_german_lead_without_consent_gets_the_rep_task_but_no_marketing_email(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    german, american = uuid.uuid4(), uuid.uuid4()
    before = skipped("email", "consent")
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
        await publish(
            env, producer, show_lead(german, clock, "DE"), show_lead(american, clock, "US")
        )
        s = await known(api, german)
        assert s["country"] == "DE"
        assert s["consent"]["email"]["required"] == "opt_in"
        assert s["consent"]["email"]["allowed"] is False
        await known(api, american)
        await run_days(ctx, clock, 20)
        got = await steps.read(until=lambda rs: len(rs) >= 4)
        # Germany requires opt-in: only the rep's call goes out
        assert steps_of(got, german) == [("trade-show-follow-up", 2, "task", "show-call")]
        # the same lead where email is opt-out gets its emails too
        assert steps_of(got, american) == [
            ("trade-show-follow-up", 1, "email", "show-nice-to-meet"),
            ("trade-show-follow-up", 2, "task", "show-call"),
            ("trade-show-follow-up", 3, "email", "show-recap"),
        ]
    s = await known(api, german)
    assert step_states(s, "trade-show-follow-up") == [
        ("skipped", "no consent: DE: email needs opt-in; no consent recorded"),
        ("emitted", None),
        ("skipped", "no consent: DE: email needs opt-in; no consent recorded"),
    ]
    assert s["skipped_for_consent"] == 2
    assert s["enrollments"][0]["status"] == "completed"  # the sequence went on past the skips
    assert (await known(api, american))["skipped_for_consent"] == 0
    assert skipped("email", "consent") - before == 2


async def test_an_opt_in_recorded_later_starts_the_emails(env, nurture, producer, stack):
    ctx, clock, api = nurture
    lead = uuid.uuid4()
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
        await publish(env, producer, assigned(lead, clock.now, timezone=None, country="DE"))
        await known(api, lead)
        assert await fire_due(ctx) == 1  # the first welcome email: skipped, no consent
        s = await known(api, lead)
        assert step_states(s, "web-welcome")[0][0] == "skipped"
        assert s["timezone"] == "Europe/Berlin" and s["timezone_source"] == "country"

        await publish(env, producer, activity(lead, "opt_in", clock.now, consent_channel="email"))
        s = await known(api, lead, lambda s: s["consent"]["email"]["state"] == "granted")
        assert s["consent"]["email"]["source"] == "opt_in" and s["consent"]["email"]["allowed"]
        assert s["consent"]["sms"]["state"] is None  # consented to email only
        await run_days(ctx, clock, 10)
        got = await steps.read(until=lambda rs: len(rs) >= 2)
        assert steps_of(got, lead) == [
            ("web-welcome", 2, "email", "welcome-resources"),
            ("web-welcome", 3, "email", "welcome-case-study"),
        ]
    assert (await known(api, lead))["skipped_for_consent"] == 1


async def test_purchased_list_names_follow_the_policy(env, nurture, producer, stack):
    ctx, clock, api = nurture
    no_consent, consented, american = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def name(lead, country, consent=None):
        return assigned(
            lead, clock.now, outcome="nurture", channel="purchased_list", purchased_list=True,
            stage="none", timezone=None, country=country, marketing_consent=consent,
        )  # fmt: skip

    async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
        await publish(
            env, producer,
            name(no_consent, "DE"), name(consented, "DE", True), name(american, "US"),
        )  # fmt: skip
        s = await known(api, no_consent)
        # a German list name with only a country is contacted in Berlin, not New York
        assert (s["timezone"], s["timezone_source"]) == ("Europe/Berlin", "country")
        s = await known(api, consented)
        assert (s["consent"]["email"]["state"], s["consent"]["email"]["source"]) == (
            "granted",
            "import",
        )
        s = await known(api, american)
        assert (s["timezone"], s["timezone_source"]) == ("America/New_York", "default")
        await run_days(ctx, clock, 2)
        got = await steps.read(until=lambda rs: len(rs) >= 2)
        assert steps_of(got, no_consent) == []
        assert steps_of(got, consented) == [("list-names", 1, "email", "list-intro")]
        assert steps_of(got, american) == [("list-names", 1, "email", "list-intro")]
    s = await known(api, no_consent)
    assert s["skipped_for_consent"] == 1
    assert step_states(s, "list-names")[0] == (
        "skipped",
        "no consent: DE: email needs opt-in; no consent recorded",
    )


async def test_an_unsubscribe_is_recorded_as_a_withdrawal_per_channel(env, nurture, producer):
    _, clock, api = nurture
    lead = uuid.uuid4()
    await publish(env, producer, assigned(lead, clock.now, country="US", marketing_consent=True))
    s = await known(api, lead, lambda s: s["consent"]["email"]["state"] == "granted")
    assert s["consent"]["sms"]["state"] == "granted"
    await publish(env, producer, activity(lead, "unsubscribe", clock.now))
    s = await known(api, lead, lambda s: s["suppression"] is not None)
    assert s["suppression"]["reason"] == "unsubscribed"  # suppressed as before
    for channel in ("email", "sms"):
        assert s["consent"][channel]["state"] == "withdrawn"
        assert s["consent"][channel]["source"] == "unsubscribe"
        assert s["consent"][channel]["allowed"] is False


@pytest.mark.parametrize("nurture", ["double_opt_in"], indirect=True)
async def test_double_opt_in_is_asked_where_needed_and_its_click_records_consent(
    env, nurture, producer, stack
):
    ctx, clock, api = nurture
    german, american = uuid.uuid4(), uuid.uuid4()
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
        await publish(
            env, producer,
            assigned(german, clock.now, timezone=None, country="DE"),
            assigned(american, clock.now, country="US"),
        )  # fmt: skip
        await known(api, german)
        await known(api, american)
        await fire_due(ctx)
        await fire_due(ctx)  # the American's confirmation is skipped, its welcome follows now
        got = await steps.read(until=lambda rs: len(rs) >= 2)
        request = next(value(r)["data"] for r in got if value(r)["data"]["lead_id"] == str(german))
        assert request["template_id"] == "confirm-subscription"
        s = await known(api, german)
        assert s["consent"]["email"]["state"] == "pending_confirmation"
        assert s["consent"]["email"]["source"] == "double_opt_in"
        a = await known(api, american)
        assert step_states(a, "web-welcome")[0] == (
            "skipped",
            "not sent: US: email is opt-out, no confirmation needed",
        )

        # the German clicks the link in the request: consent, and the welcome goes on
        click = activity(
            german, "click", clock.now, metadata={"confirms_opt_in": request["step_id"]}
        )
        await publish(env, producer, click)
        s = await known(api, german, lambda s: s["consent"]["email"]["state"] == "granted")
        assert s["consent"]["email"]["source"] == "double_opt_in"
        await run_days(ctx, clock, 10)
        got = await steps.read(until=lambda rs: len(steps_of(rs, german)) >= 3)
    assert [t for *_, t in steps_of(got, german)] == [
        "confirm-subscription", "welcome-resources", "welcome-case-study",
    ]  # fmt: skip
    s = await known(api, german)
    states = [st for st, _ in step_states(s, "web-welcome")]
    # welcome-thanks was due at once, before the click: skipped; the rest went out
    assert states == ["emitted", "skipped", "emitted", "emitted"]
    assert s["skipped_for_consent"] == 1
