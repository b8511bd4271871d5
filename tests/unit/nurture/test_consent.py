"""Consent for marketing as pure functions: the policy file, the decision per step, what
submissions and activities record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.nurture.consent_file import ConsentPolicyFileError, load_consent_policy
from services.nurture.domain.consent import (
    ConsentPolicy,
    ConsentRecord,
    ConsentSource,
    ConsentState,
    Rule,
    activity_consents,
    confirmation_allowed,
    marketing_allowed,
    submission_consents,
)
from services.nurture.settings import CONFIG_DIR

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
POLICY = load_consent_policy(CONFIG_DIR / "consent.yaml")


def rec(state: ConsentState, channel: str = "email", at: datetime = T0) -> ConsentRecord:
    return ConsentRecord(channel, state, ConsentSource.form, at)  # type: ignore[arg-type]


def test_the_shipped_policy_requires_opt_in_in_the_eu_uk_and_canada():
    for country in ("DE", "FR", "IE", "NO", "GB", "CH", "CA"):
        assert POLICY.rule(country, "email") == Rule.opt_in, country
        assert POLICY.rule(country, "sms") == Rule.opt_in, country
    assert POLICY.rule("US", "email") == Rule.opt_out
    assert POLICY.rule(None, "email") == Rule.opt_out
    assert POLICY.rule("US", "sms") == Rule.opt_in  # texts need prior consent (TCPA)
    assert POLICY.rule("de", "email") == Rule.opt_in


def test_a_german_lead_without_consent_gets_no_email_but_its_rep_task():
    assert not marketing_allowed(POLICY, "DE", "email", []).allowed
    assert marketing_allowed(POLICY, "DE", "task", []).allowed
    assert marketing_allowed(POLICY, "US", "email", []).allowed  # opt-out region
    later = [rec(ConsentState.denied, at=T0), rec(ConsentState.granted, at=T0 + timedelta(days=3))]
    assert marketing_allowed(POLICY, "DE", "email", later).allowed  # an opt-in later


def test_unknown_consent_follows_the_setting_in_opt_in_regions_only():
    unknown = [rec(ConsentState.unknown)]
    assert not marketing_allowed(POLICY, "DE", "email", unknown).allowed
    assert marketing_allowed(POLICY, "DE", "email", unknown, unknown="allow").allowed
    assert marketing_allowed(POLICY, "US", "email", unknown).allowed
    # no record at all (a purchased-list name without consent) is not "unknown"
    assert not marketing_allowed(POLICY, "DE", "email", [], unknown="allow").allowed


def test_a_lead_from_before_consent_of_no_known_country_follows_the_setting():
    """It may be in an opt-in region: no marketing by default, as there."""
    unknown = [rec(ConsentState.unknown)]
    assert not marketing_allowed(POLICY, None, "email", unknown).allowed
    assert marketing_allowed(POLICY, None, "email", unknown, unknown="allow").allowed
    # a new lead of no known country follows the default rule (email opt-out) as before
    assert marketing_allowed(POLICY, None, "email", []).allowed


def test_reasons_say_why():
    d = marketing_allowed(POLICY, "DE", "email", [])
    assert d.reason == "DE: email needs opt-in; no consent recorded"
    d = marketing_allowed(POLICY, "US", "email", [rec(ConsentState.withdrawn)])
    assert not d.allowed and "withdrawn" in d.reason
    assert not marketing_allowed(POLICY, "US", "email", [], do_not_contact=True).allowed


def test_double_opt_in_is_asked_once_and_only_where_opt_in_is_needed():
    assert confirmation_allowed(POLICY, "DE", []).allowed
    assert confirmation_allowed(POLICY, "DE", [rec(ConsentState.unknown)]).allowed
    # treated as consented by the setting: nothing to ask
    assert not confirmation_allowed(
        POLICY, "DE", [rec(ConsentState.unknown)], unknown="allow"
    ).allowed
    assert not confirmation_allowed(POLICY, "US", []).allowed
    for state in (ConsentState.pending_confirmation, ConsentState.granted, ConsentState.denied):
        assert not confirmation_allowed(POLICY, "DE", [rec(state)]).allowed, state
    pending = [rec(ConsentState.pending_confirmation)]
    assert not marketing_allowed(POLICY, "DE", "email", pending).allowed
    confirmed = [*pending, *activity_consents("click", T0, "e1", confirms_opt_in=True)]
    assert marketing_allowed(POLICY, "DE", "email", confirmed).allowed


def test_what_submissions_and_activities_record():
    assert submission_consents(None, "web", T0, "e") == ()
    web = submission_consents(True, "web", T0, "e")
    assert {(c.channel, c.state, c.source) for c in web} == {
        ("email", ConsentState.granted, ConsentSource.form),
        ("sms", ConsentState.granted, ConsentSource.form),
    }
    listed = submission_consents(False, "purchased_list", T0, "e")
    assert {(c.state, c.source) for c in listed} == {(ConsentState.denied, ConsentSource.import_)}
    gone = activity_consents("unsubscribe", T0, "e")
    assert {(c.channel, c.state) for c in gone} == {
        ("email", ConsentState.withdrawn),
        ("sms", ConsentState.withdrawn),
    }
    assert [c.channel for c in activity_consents("opt_in", T0, "e", consent_channel="sms")] == [
        "sms"
    ]
    assert len(activity_consents("opt_in", T0, "e")) == 2
    assert activity_consents("click", T0, "e") == ()  # an ordinary click is not consent


def test_a_bad_policy_file_names_the_file_and_key(tmp_path: Path):
    bad = tmp_path / "consent.yaml"
    bad.write_text("default: {email: opt_in, sms: maybe}\n")
    with pytest.raises(ConsentPolicyFileError, match=r"consent\.yaml is invalid: default\.sms"):
        load_consent_policy(bad)
    bad.write_text(
        "default: {email: opt_in, sms: opt_in}\nregions:\n"
        "  - {name: a, countries: [DE], channels: {email: opt_in, sms: opt_in}}\n"
        "  - {name: b, countries: [DE], channels: {email: opt_out, sms: opt_out}}\n"
    )
    with pytest.raises(ConsentPolicyFileError, match="country DE is in regions a and b"):
        load_consent_policy(bad)
    bad.write_text(
        "default: {email: opt_in, sms: opt_in}\nregions: [{name: a, countries: [Germany], channels: {email: opt_in, sms: opt_in}}]\n"
    )
    with pytest.raises(ConsentPolicyFileError, match=r"regions\.0\.countries"):
        load_consent_policy(bad)
    with pytest.raises(ConsentPolicyFileError, match="not found"):
        load_consent_policy(tmp_path / "missing.yaml")


# --- properties -----------------------------------------------------------------------

countries = st.sampled_from(["DE", "FR", "GB", "CA", "US", "BR", "SG", "JP", None])
channels = st.sampled_from(["email", "sms"])
states = st.sampled_from(list(ConsentState))
records = st.lists(
    st.builds(
        ConsentRecord,
        channel=channels,
        state=states,
        source=st.sampled_from(list(ConsentSource)),
        recorded_at=st.integers(0, 1000).map(lambda m: T0 + timedelta(minutes=m)),
    ),
    max_size=6,
)
policies = st.builds(
    lambda de, us: ConsentPolicy.model_validate(
        {
            "default": {"email": us, "sms": us},
            "regions": [
                {"name": "eu", "countries": ["DE", "FR"], "channels": {"email": de, "sms": de}}
            ],
        }
    ),
    st.sampled_from(["opt_in", "opt_out"]),
    st.sampled_from(["opt_in", "opt_out"]),
)


def _last(consents, channel):
    mine = [c for c in consents if c.channel == channel]
    return max(reversed(mine), key=lambda c: c.recorded_at) if mine else None


@given(policies, countries, channels, records, st.sampled_from(["deny", "allow"]))
def test_opt_in_never_allows_without_granted_consent(policy, country, channel, consents, unknown):
    d = marketing_allowed(policy, country, channel, consents, unknown=unknown)
    last = _last(consents, channel)
    if policy.rule(country, channel) == Rule.opt_in and d.allowed:
        assert last is not None
        assert last.state == ConsentState.granted or (
            last.state == ConsentState.unknown and unknown == "allow"
        )


@given(policies, countries, channels, records, st.sampled_from(["deny", "allow"]))
def test_withdrawn_or_declined_always_blocks(policy, country, channel, consents, unknown):
    last = _last(consents, channel)
    d = marketing_allowed(policy, country, channel, consents, unknown=unknown)
    if last is not None and last.state in (ConsentState.withdrawn, ConsentState.denied):
        assert not d.allowed
    if last is not None and last.state == ConsentState.granted:
        assert d.allowed


@given(policies, countries, records, st.booleans())
def test_tasks_are_not_marketing(policy, country, consents, dnc):
    assert marketing_allowed(policy, country, "task", consents, do_not_contact=dnc).allowed


@given(policies, countries, channels, records)
def test_do_not_contact_blocks_every_marketing_step(policy, country, channel, consents):
    assert not marketing_allowed(policy, country, channel, consents, do_not_contact=True).allowed
    assert not confirmation_allowed(policy, country, consents, do_not_contact=True).allowed


@given(policies, countries, channels, records)
def test_opt_out_allows_unless_the_lead_said_no(policy, country, channel, consents):
    if policy.rule(country, channel) != Rule.opt_out:
        return
    last = _last(consents, channel)
    said_no = last is not None and last.state in (ConsentState.withdrawn, ConsentState.denied)
    # a lead from before consent was kept, of no known country: the setting (deny) decides
    unplaced = country is None and last is not None and last.state == ConsentState.unknown
    assert marketing_allowed(policy, country, channel, consents).allowed == (
        not said_no and not unplaced
    )


@given(policies, countries, records, st.sampled_from(["deny", "allow"]))
def test_a_confirmation_is_asked_at_most_once_and_never_after_a_no(
    policy, country, consents, unknown
):
    asked = ConsentRecord(
        "email",
        ConsentState.pending_confirmation,
        ConsentSource.double_opt_in,
        T0 + timedelta(days=1),
    )
    assert not confirmation_allowed(policy, country, [*consents, asked], unknown=unknown).allowed
    last = _last(consents, "email")
    d = confirmation_allowed(policy, country, consents, unknown=unknown)
    if d.allowed:
        assert policy.rule(country, "email") == Rule.opt_in
        assert last is None or last.state == ConsentState.unknown
        # asking never makes marketing allowed by itself
        assert not marketing_allowed(policy, country, "email", [*consents, asked]).allowed
