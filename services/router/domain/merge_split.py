"""An admin's merges and splits of leads, as values: the survivor of a reviewed pair, the
survivor's profile once the other lead is folded into it, the evidence lines of a review,
and, for a split, both leads rebuilt from the submissions each keeps and how their contact
identities divide.

The stored lead is what its submissions made it: each submission's fields folded with
:func:`~services.router.domain.matching.merge_fields` in the order they arrived (blanks
filled, the first value kept on a conflict). A split replays that fold over each side's
submissions, so both leads are what they would have been had they never been merged.

Pure: no session, no clock. The router's ``services/router/dedupe`` loads, calls these and
writes what they return."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.router.domain.intake import profile_of
from services.router.domain.matching import Conflict, company_keys, merge_fields
from shared.domain.contact import canonical_email

Identity = tuple[str, str]  # (kind, value): ("email", canonical address) | ("phone", E.164)


# --- merging two leads ----------------------------------------------------------------------


class NotInPair(ValueError):
    """The survivor named is neither lead of the pair."""


def survivor_of(
    lead_id: uuid.UUID, other_lead_id: uuid.UUID, requested: uuid.UUID | None
) -> tuple[uuid.UUID, uuid.UUID]:
    """(survivor, merged) of a reviewed pair. A review names the newer lead first and the
    older one it may be (``other_lead_id``); the older survives unless the admin says
    otherwise."""
    if requested is None or requested == other_lead_id:
        return other_lead_id, lead_id
    if requested == lead_id:
        return lead_id, other_lead_id
    raise NotInPair(f"survivor {requested} is neither {lead_id} nor {other_lead_id}")


@dataclass(frozen=True)
class LeadSide:
    """What a merge reads of each lead."""

    id: uuid.UUID
    profile: Mapping[str, Any]
    first_name: str | None
    last_name: str | None
    is_name: bool
    last_activity_at: datetime | None


@dataclass(frozen=True)
class MergedLead:
    """The survivor after the merge: the other lead's fields fill its blanks, its own values
    win every conflict (listed)."""

    profile: dict[str, Any]
    first_name: str | None
    last_name: str | None
    is_name: bool
    last_activity_at: datetime | None
    filled: tuple[str, ...]
    conflicts: tuple[Conflict, ...]


def merge_leads(survivor: LeadSide, merged: LeadSide) -> MergedLead:
    """Fold ``merged`` into ``survivor`` as a later submission would be: blanks filled,
    conflicting values kept and listed. A name (purchased-list only) stays a name only when
    both were; the last activity is the later of the two."""
    result = merge_fields(survivor.profile, merged.profile)
    activity = [at for at in (survivor.last_activity_at, merged.last_activity_at) if at]
    return MergedLead(
        profile=result.merged,
        first_name=survivor.first_name or merged.first_name,
        last_name=survivor.last_name or merged.last_name,
        is_name=survivor.is_name and merged.is_name,
        last_activity_at=max(activity) if activity else None,
        filled=result.filled,
        conflicts=result.conflicts,
    )


def evidence_lines(
    reason: str, evidence: Mapping[str, Any], lead_id: uuid.UUID, other_lead_id: uuid.UUID
) -> list[str]:
    """What a review weighed, one line each (the ``evidence`` of a merge event).

    A doubtful match carries the candidates intake weighed (``weighed``, each with its
    confidence, what connected them and its lines): those of the lead the pair names come
    first, after its confidence. A rep's report says who marked the pair."""
    lines = evidence.get("lines")
    if isinstance(lines, list) and lines:
        return [str(line) for line in lines]
    weighed = [w for w in evidence.get("weighed") or () if isinstance(w, Mapping)]
    if weighed:
        best = next((w for w in weighed if w.get("lead_id") == str(other_lead_id)), weighed[0])
        head = f"confidence {best.get('confidence')} via {best.get('via')}"
        return [head, *(str(line) for line in best.get("lines") or ())]
    if reason == "rep_marked":
        who = evidence.get("rep_id") or evidence.get("reported_by") or "a rep"
        line = f"{who} marked lead {lead_id} a duplicate of lead {other_lead_id}"
        if evidence.get("reported_by") and evidence.get("rep_id"):
            line += f" (reported by {evidence['reported_by']})"
        if evidence.get("occurred_at"):
            line += f" at {evidence['occurred_at']}"
        return [line]
    return [f"{reason}: lead {lead_id} may be lead {other_lead_id}"]


# --- splitting submissions back out ---------------------------------------------------------


@dataclass(frozen=True)
class StoredSubmission:
    """One submission of a lead with the fields it carried (None: recorded before
    leadflow kept them)."""

    submission_id: uuid.UUID
    fields: Mapping[str, Any] | None
    source_id: str
    channel: str
    received_at: datetime

    @property
    def purchased_list(self) -> bool:
        return self.channel == "purchased_list"


def identities_of(fields: Mapping[str, Any]) -> tuple[Identity, ...]:
    """The contact keys a submission's fields give, as intake claims them: the canonical
    email, the phone as stored (E.164)."""
    keys: list[Identity] = []
    if fields.get("email"):
        keys.append(("email", canonical_email(str(fields["email"]))))
    if fields.get("phone"):
        keys.append(("phone", str(fields["phone"])))
    return tuple(keys)


@dataclass(frozen=True)
class Rebuilt:
    """A lead's columns folded from the submissions it keeps."""

    profile: dict[str, Any]
    first_name: str | None
    last_name: str | None
    company_key: str | None
    company_name_key: str | None
    source_id: str
    channel: str
    received_at: datetime
    is_name: bool


def in_received_order(submissions: Sequence[StoredSubmission]) -> list[StoredSubmission]:
    return sorted(submissions, key=lambda s: (s.received_at, str(s.submission_id)))


def rebuild(submissions: Sequence[StoredSubmission]) -> Rebuilt:
    """The lead these submissions make: their fields folded in received order (the first
    value of a field wins, later ones fill blanks), names and company keys from that
    profile, source, channel and time of the first one; a name when every one came from a
    purchased list."""
    if not submissions:
        raise ValueError("a lead is made of at least one submission")
    ordered = in_received_order(submissions)
    profile: dict[str, Any] = {}
    for s in ordered:
        if s.fields is None:
            raise ValueError(f"submission {s.submission_id} has no stored fields")
        profile = merge_fields(profile, s.fields).merged
    first = ordered[0]
    company, company_name = company_keys(
        profile_of(profile, source_id=None, channel=None, purchased_list=False)
    )
    return Rebuilt(
        profile=profile,
        first_name=profile.get("first_name") or None,
        last_name=profile.get("last_name") or None,
        company_key=company,
        company_name_key=company_name,
        source_id=first.source_id,
        channel=first.channel,
        received_at=first.received_at,
        is_name=all(s.purchased_list for s in ordered),
    )


class SplitRefused(Exception):
    """A split that cannot be done as asked."""


class NothingToMove(SplitRefused):
    """No submission named."""


class NotOnLead(SplitRefused):
    def __init__(self, submission_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(", ".join(map(str, submission_ids)))
        self.submission_ids = tuple(submission_ids)


class WouldMoveAll(SplitRefused):
    """Every submission named: that is the lead itself, not a split."""


class FieldsNotKept(SplitRefused):
    """Submissions recorded before leadflow kept submitted fields: neither side can be
    rebuilt."""

    def __init__(self, submission_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(", ".join(map(str, submission_ids)))
        self.submission_ids = tuple(submission_ids)


@dataclass(frozen=True)
class SplitPlan:
    """What a split does: the new lead and the old one rebuilt, the submissions that move
    (received order), the identities that leave the old lead for the new one, and those
    both keep (both sides' submissions carry them)."""

    new_lead: Rebuilt
    old_lead: Rebuilt
    moved: tuple[uuid.UUID, ...]
    kept: tuple[uuid.UUID, ...]
    move_identities: tuple[Identity, ...]
    shared_identities: tuple[Identity, ...]

    @property
    def shared_emails(self) -> tuple[Identity, ...]:
        """Addresses both leads keep: two people behind one address, no longer a match key."""
        return tuple(k for k in self.shared_identities if k[0] == "email")

    @property
    def new_lead_identities(self) -> tuple[Identity, ...]:
        return tuple(sorted({*self.move_identities, *self.shared_identities}))


def plan_split(
    submissions: Sequence[StoredSubmission],
    move: Sequence[uuid.UUID],
    held: frozenset[Identity] | set[Identity],
) -> SplitPlan:
    """Move the submissions ``move`` of a lead (``submissions``, all of them) into a lead of
    their own. ``held``: the identities the lead holds now; the new lead takes those its
    submissions carry, and an identity carried on both sides stays with both. Identities the
    lead does not hold (another lead's) go to neither."""
    wanted = list(dict.fromkeys(move))
    if not wanted:
        raise NothingToMove("name at least one submission to split out")
    by_id = {s.submission_id: s for s in submissions}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise NotOnLead(missing)
    if len(wanted) == len(by_id):
        raise WouldMoveAll("that would move every submission of the lead")
    without = [s.submission_id for s in in_received_order(submissions) if s.fields is None]
    if without:
        raise FieldsNotKept(without)
    chosen = set(wanted)
    moved = in_received_order([s for s in submissions if s.submission_id in chosen])
    kept = in_received_order([s for s in submissions if s.submission_id not in chosen])
    theirs = {k for s in moved if s.fields is not None for k in identities_of(s.fields)}
    ours = {k for s in kept if s.fields is not None for k in identities_of(s.fields)}
    return SplitPlan(
        new_lead=rebuild(moved),
        old_lead=rebuild(kept),
        moved=tuple(s.submission_id for s in moved),
        kept=tuple(s.submission_id for s in kept),
        move_identities=tuple(sorted((theirs - ours) & set(held))),
        shared_identities=tuple(sorted(theirs & ours & set(held))),
    )
