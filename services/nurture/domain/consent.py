"""Consent for marketing, as values: the policy file (per country or region, what each
marketing channel needs: opt-in or opt-out), a lead's consent history per channel, and the
decision whether a step may go out.

Marketing is what nurture sends the lead itself: email and SMS steps. A rep's task (a call
to make, a follow-up) is sales contact, not marketing, and never needs consent here.

Pure: no clock, no session. The step timer asks :func:`marketing_allowed` for each due
email or SMS step and :func:`confirmation_allowed` for a double opt-in request."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Rule(StrEnum):
    opt_in = "opt_in"  # nothing goes out without consent the lead gave
    opt_out = "opt_out"  # marketing may go out until the lead declines or unsubscribes


class ConsentState(StrEnum):
    granted = "granted"
    denied = "denied"  # declined when asked (a form's unticked box, an import's "no")
    withdrawn = "withdrawn"  # unsubscribed
    pending_confirmation = "pending_confirmation"  # a double opt-in request went out
    unknown = "unknown"  # a lead from before consent was kept: the unknown-consent setting


class ConsentSource(StrEnum):
    form = "form"  # marketing_consent of a web submission
    import_ = "import"  # marketing_consent of a trade-show or purchased-list row
    opt_in = "opt_in"  # an opt_in activity (a preference centre, a later form)
    double_opt_in = "double_opt_in"  # the request (pending) and its confirmed click (granted)
    unsubscribe = "unsubscribe"  # an unsubscribe activity
    migration = "migration"  # leads already in nurture when consent started to be kept


MarketingChannel = Literal["email", "sms"]
MARKETING_CHANNELS: tuple[MarketingChannel, ...] = ("email", "sms")
UnknownConsent = Literal["deny", "allow"]


@dataclass(frozen=True)
class ConsentRecord:
    """One ``nurture.consent`` row: what the lead said (or did) on one channel, and when.
    The latest per channel is the lead's consent on that channel."""

    channel: MarketingChannel
    state: ConsentState
    source: ConsentSource
    recorded_at: datetime
    event_id: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


# --- the policy file ---


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelRules(_Strict):
    email: Rule
    sms: Rule

    def rule(self, channel: MarketingChannel) -> Rule:
        return self.email if channel == "email" else self.sms


class RegionConfig(_Strict):
    name: str = Field(min_length=1, max_length=64)
    countries: tuple[str, ...] = Field(min_length=1, description="ISO 3166-1 alpha-2 codes")
    channels: ChannelRules

    @field_validator("countries", mode="before")
    @classmethod
    def _not_yaml_booleans(cls, v: object) -> object:
        if isinstance(v, list | tuple) and any(isinstance(c, bool) for c in v):
            raise ValueError("a country code read as true/false: quote it, e.g. 'NO'")
        return v

    @field_validator("countries")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if len(c) != 2 or not c.isascii() or not c.isalpha() or not c.isupper()]
        if bad:
            raise ValueError(f"countries must be ISO 3166-1 alpha-2 codes in capitals: {bad}")
        return v


class ConsentPolicy(_Strict):
    version: int = 1
    default: ChannelRules = Field(description="countries no region names, and unknown countries")
    regions: tuple[RegionConfig, ...] = ()

    @model_validator(mode="after")
    def _valid(self) -> ConsentPolicy:
        names = [r.name for r in self.regions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"region names must be unique: {', '.join(dupes)} repeated")
        seen: dict[str, str] = {}
        for region in self.regions:
            for country in region.countries:
                if country in seen:
                    raise ValueError(
                        f"country {country} is in regions {seen[country]} and {region.name}"
                    )
                seen[country] = region.name
        return self

    def region_of(self, country: str | None) -> RegionConfig | None:
        code = (country or "").upper()
        return next((r for r in self.regions if code in r.countries), None)

    def rule(self, country: str | None, channel: MarketingChannel) -> Rule:
        region = self.region_of(country)
        return (region.channels if region else self.default).rule(channel)


# --- decisions ---


def lead_country(country: str | None, phone: str | None) -> str | None:
    """The country the policy applies to: as submitted, else the phone number's (a number
    of a shared calling code, +1 say, still names one country)."""
    if country:
        return country.strip().upper()[:2] or None
    return _phone_region(phone) if phone else None


@functools.lru_cache(maxsize=65_536)
def _phone_region(phone: str) -> str | None:
    """The phone number's country (parsing is the costly part of a step's consent check: a
    lead's every step asks again)."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None


def latest(consents: Iterable[ConsentRecord], channel: MarketingChannel) -> ConsentRecord | None:
    """The lead's consent on ``channel``: the last recorded (a later record wins; records of
    the same instant keep the order given)."""
    found: ConsentRecord | None = None
    for c in consents:
        if c.channel == channel and (found is None or c.recorded_at >= found.recorded_at):
            found = c
    return found


def marketing_allowed(
    policy: ConsentPolicy,
    country: str | None,
    channel: str,
    consents: Sequence[ConsentRecord],
    *,
    unknown: UnknownConsent = "deny",
    do_not_contact: bool = False,
) -> Decision:
    """May a step on ``channel`` go to a lead of ``country`` with these consents?

    A task is not marketing: always. A lead on a do-not-contact list, or whose latest
    consent on the channel is withdrawn (unsubscribed) or denied, gets none. Granted
    consent allows it. Otherwise the country's rule decides: opt-out allows it; opt-in
    needs consent, so no record (a purchased-list name without consent, a form that did
    not ask) and a double opt-in not yet confirmed block it, and consent ``unknown`` (a lead
    from before consent was kept) is allowed only when ``unknown`` is ``allow``."""
    if channel not in MARKETING_CHANNELS:
        return Decision(True, f"{channel} is not marketing")
    if do_not_contact:
        return Decision(False, "on the do-not-contact list")
    mc: MarketingChannel = "email" if channel == "email" else "sms"
    last = latest(consents, mc)
    state = last.state if last is not None else None
    if state == ConsentState.withdrawn:
        return Decision(False, f"{channel} consent withdrawn ({last.source if last else ''})")
    if state == ConsentState.denied:
        return Decision(False, f"{channel} consent declined")
    if state == ConsentState.granted:
        return Decision(True, f"{channel} consent granted")
    rule = policy.rule(country, mc)
    where = country.upper() if country else "unknown country"
    # a lead from before consent was kept, whose country nurture never learned, may be in an
    # opt-in region: the setting decides for it, not the default rule
    if rule == Rule.opt_out and not (country is None and state == ConsentState.unknown):
        return Decision(True, f"{where}: {channel} is opt-out")
    if state == ConsentState.pending_confirmation:
        return Decision(False, f"{where}: {channel} needs opt-in; confirmation pending")
    if state == ConsentState.unknown:
        if unknown == "allow":
            return Decision(True, f"{where}: {channel} consent unknown, allowed by setting")
        return Decision(False, f"{where}: {channel} needs opt-in; consent unknown")
    return Decision(False, f"{where}: {channel} needs opt-in; no consent recorded")


def confirmation_allowed(
    policy: ConsentPolicy,
    country: str | None,
    consents: Sequence[ConsentRecord],
    *,
    unknown: UnknownConsent = "deny",
    do_not_contact: bool = False,
) -> Decision:
    """May a double opt-in request (an email asking to confirm) go out? Only where email is
    opt-in and the lead's email consent is not known yet (no record, or ``unknown`` while
    ``unknown`` is ``deny``): not to a lead that consented (nothing to ask), declined or
    unsubscribed (it said no), or was asked already (once per lead)."""
    if do_not_contact:
        return Decision(False, "on the do-not-contact list")
    where = country.upper() if country else "unknown country"
    if policy.rule(country, "email") != Rule.opt_in:
        return Decision(False, f"{where}: email is opt-out, no confirmation needed")
    last = latest(consents, "email")
    if last is not None and last.state == ConsentState.unknown and unknown == "allow":
        return Decision(False, "email consent unknown, allowed by setting")
    if last is None or last.state == ConsentState.unknown:
        return Decision(True, f"{where}: email needs opt-in; asking to confirm")
    if last.state == ConsentState.pending_confirmation:
        return Decision(False, "confirmation already requested")
    return Decision(False, f"email consent {last.state} already")


def submission_consents(
    marketing_consent: bool | None, channel: str | None, at: datetime, event_id: str
) -> tuple[ConsentRecord, ...]:
    """What a submission says about consent, for email and SMS alike: granted or denied,
    from the form (web) or the import (trade-show badge scans, purchased lists); nothing
    when it did not say."""
    if marketing_consent is None:
        return ()
    state = ConsentState.granted if marketing_consent else ConsentState.denied
    source = ConsentSource.form if channel in (None, "web") else ConsentSource.import_
    return tuple(ConsentRecord(ch, state, source, at, event_id) for ch in MARKETING_CHANNELS)


def activity_consents(
    kind: str,
    at: datetime,
    event_id: str,
    *,
    consent_channel: str | None = None,
    confirms_opt_in: bool = False,
) -> tuple[ConsentRecord, ...]:
    """What an activity records: an unsubscribe withdraws email and SMS consent; an
    ``opt_in`` grants it (on ``consent_channel``, else both); a click on a double opt-in
    request's link (``confirms_opt_in``) grants email consent."""
    if kind == "unsubscribe":
        return tuple(
            ConsentRecord(ch, ConsentState.withdrawn, ConsentSource.unsubscribe, at, event_id)
            for ch in MARKETING_CHANNELS
        )
    if kind == "opt_in":
        channels = [c for c in MARKETING_CHANNELS if consent_channel in (None, c)]
        return tuple(
            ConsentRecord(ch, ConsentState.granted, ConsentSource.opt_in, at, event_id)
            for ch in channels
        )
    if kind == "click" and confirms_opt_in:
        return (
            ConsentRecord("email", ConsentState.granted, ConsentSource.double_opt_in, at, event_id),
        )
    return ()
