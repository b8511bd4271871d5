"""An admin's decisions on duplicates: merging two leads of one person (from the review list or
directly), dismissing a pair, and splitting submissions back out into a lead of their own.

Each runs in the caller's transaction and takes its locks in the order intake takes them:
advisory locks on the contact identities and company keys of the leads involved, then the
lead rows in id order. An arrival of one of these people waits for the decision and then
matches what it left. Identities or company keys that changed between the first read and
the locks (another writer got there first) raise :class:`KeysMoved`; the caller retries.

The rules themselves are pure (``services/router/domain/merge_split.py``); this module loads,
calls them, and writes the rows, the merge history, the ``leads.merges.v1`` event (outbox)
and, for a split, the new lead's routing decision."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.router import metrics
from services.router.assignment.service import Origin, close_clock, decide
from services.router.context import RouterContext
from services.router.convert import lead_profile
from services.router.dedupe.repository import DedupeRepository
from services.router.domain.intake import StageMove
from services.router.domain.lifecycle import LeadStatus, Stage, occupies, scored_stage
from services.router.domain.merge_split import (
    Identity,
    LeadSide,
    SplitPlan,
    StoredSubmission,
    evidence_lines,
    merge_leads,
    plan_split,
)
from services.router.domain.scoring import score
from services.router.events import emit_merge
from services.router.intake.scoring import rescore
from services.router.models import Assignment, DuplicateReview, Lead, LeadMerge, LeadSubmission
from shared.db import company_lock_key, identity_lock_key, lock_keys
from shared.events.models import IdentityRef
from shared.events.models import LeadMerge as MergeEvent
from shared.logging import get_logger
from shared.metrics import on_commit

log = get_logger(__name__)


class DedupeError(Exception):
    """A decision that cannot be made as asked (the endpoint answers 404, 409 or 422)."""


class NotFound(DedupeError):
    pass


class AlreadyDecided(DedupeError):
    """The review was merged or dismissed before."""


class AlreadyMerged(DedupeError):
    """One of the leads was merged into another: it is that one now."""


class SameLead(DedupeError):
    pass


class LeadErased(DedupeError):
    """One of the leads was erased: it holds no person to merge, split or compare."""


class KeysMoved(Exception):
    """What the locks were chosen from changed before they were held: decide again."""


@dataclass(frozen=True)
class Decider:
    """Who decided, and their note (why)."""

    by: str
    note: str | None = None


@dataclass(frozen=True)
class MergeOutcome:
    record: LeadMerge
    survivor: Lead
    merged: Lead
    reviews: tuple[DuplicateReview, ...]
    released_rep_id: str | None


@dataclass(frozen=True)
class SplitOutcome:
    record: LeadMerge
    lead: Lead
    new_lead: Lead
    shared_identities: tuple[Identity, ...]
    assignment: Assignment | None


# --- locks ----------------------------------------------------------------------------------


def _keys(identities: Iterable[Identity], company_keys: Iterable[str | None]) -> frozenset[str]:
    return frozenset(
        [identity_lock_key(k, v) for k, v in identities]
        + [company_lock_key(c) for c in company_keys if c is not None]
    )


async def _lock(
    repo: DedupeRepository, keys: frozenset[str], lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Lead]:
    """Advisory locks on ``keys``, then the lead rows in id order."""
    await lock_keys(repo.session, *sorted(keys))
    return await repo.lock_leads(lead_ids)


def _check_held(keys: frozenset[str], needed: frozenset[str]) -> None:
    if not needed <= keys:
        raise KeysMoved(", ".join(sorted(needed - keys)))


async def _lead_keys(repo: DedupeRepository, lead_ids: Sequence[uuid.UUID]) -> frozenset[str]:
    """The identities the leads hold and their company keys, as lock keys (unlocked read)."""
    rows = {r.id: r for r in await repo.lock_keys_of(lead_ids)}
    missing = [lead_id for lead_id in lead_ids if lead_id not in rows]
    if missing:
        raise NotFound(f"no lead {missing[0]}")
    for lead_id in lead_ids:
        _not_merged(rows[lead_id])
    held = await repo.identities_held(lead_ids)
    return _keys(
        (k for ids in held.values() for k in ids),
        (c for r in rows.values() for c in (r.company_key, r.company_name_key)),
    )


def _not_merged(lead: Any) -> None:
    if lead.status == LeadStatus.erased:
        raise LeadErased(f"lead {lead.id} was erased")
    if lead.status == LeadStatus.merged:
        raise AlreadyMerged(f"lead {lead.id} was merged into lead {lead.merged_into}")


# --- merging --------------------------------------------------------------------------------


async def merge_review(
    ctx: RouterContext,
    repo: DedupeRepository,
    lead_id: uuid.UUID,
    other_lead_id: uuid.UUID,
    *,
    survivor_id: uuid.UUID,
    decider: Decider,
    now: datetime,
) -> MergeOutcome:
    """Merge the pair under review (its survivor chosen by the caller)."""
    review = await repo.review(lead_id, other_lead_id)
    if review is None:
        raise NotFound(f"no duplicate review of lead {lead_id} and lead {other_lead_id}")
    _open(review)
    merged_id = lead_id if survivor_id == other_lead_id else other_lead_id
    return await merge(ctx, repo, survivor_id, merged_id, decider=decider, now=now, review=review)


def _open(review: DuplicateReview) -> None:
    if review.status != "open":
        raise AlreadyDecided(
            f"the review of lead {review.lead_id} and lead {review.other_lead_id} was"
            f" {review.status} by {review.decided_by or 'someone'} at"
            f" {review.decided_at.isoformat() if review.decided_at else 'an unknown time'}"
        )


async def merge(
    ctx: RouterContext,
    repo: DedupeRepository,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    *,
    decider: Decider,
    now: datetime,
    review: DuplicateReview | None = None,
) -> MergeOutcome:
    """Fold lead ``merged_id`` into lead ``survivor_id``: its submissions, identities and
    activities move to the survivor, its ownership, SLA clock and capacity end, it becomes
    status ``merged``; the survivor's profile gains its fields (blanks filled, its own values
    kept) and is scored again. Open reviews of the pair are decided ``merged``."""
    if survivor_id == merged_id:
        raise SameLead(f"lead {survivor_id} cannot be merged into itself")
    pair = [survivor_id, merged_id]
    keys = await _lead_keys(repo, pair)
    leads = await _lock(repo, keys, pair)
    survivor, merged = leads[survivor_id], leads[merged_id]
    _not_merged(survivor)
    _not_merged(merged)
    _check_held(keys, await _lead_keys(repo, pair))
    reviews = await repo.open_reviews_between(survivor_id, merged_id)
    if review is not None and not any(
        (r.lead_id, r.other_lead_id) == (review.lead_id, review.other_lead_id) for r in reviews
    ):
        current = await repo.review(review.lead_id, review.other_lead_id, lock=True)
        if current is None:
            raise NotFound(
                f"no duplicate review of lead {review.lead_id} and {review.other_lead_id}"
            )
        _open(current)

    held = (await repo.identities_held([merged_id]))[merged_id]
    folded = merge_leads(_side(survivor), _side(merged))
    submission_ids = await repo.move_submissions(
        merged.id, survivor.id, f"moved from lead {merged.id} by an admin merge"
    )
    given = await repo.give_identities(survivor.id, sorted(held))
    await repo.drop_identities(merged.id)
    await repo.move_activities(merged.id, survivor.id)  # the survivor's score counts them
    released = await _end_ownership(repo, merged, now)
    merged.status = LeadStatus.merged
    merged.merged_into = survivor.id
    merged.company_key = merged.company_name_key = None  # fuzzy matching never finds it again
    merged.updated_at = now

    survivor.profile = folded.profile
    survivor.first_name, survivor.last_name = folded.first_name, folded.last_name
    survivor.is_name = folded.is_name
    survivor.last_activity_at = folded.last_activity_at
    if survivor.duplicate_of == merged.id:  # the doubt is settled: it is that lead now
        survivor.duplicate_of = None
    survivor.updated_at = now
    # The survivor keeps its owner and routing: only its score (and the stage the score
    # moves it to) is brought up to date. A merge changes who the person is known to be,
    # not who works them; a lead that now scores for sales is picked up as engagement
    # picks leads up, by its next activity or submission.
    await rescore(ctx, repo, survivor, now)

    lines = [
        line
        for r in reviews
        for line in evidence_lines(r.reason, r.evidence, r.lead_id, r.other_lead_id)
    ]
    reason = decider.note or (
        f"{decider.by} merged lead {merged.id} into lead {survivor.id}"
        + (" from the duplicate review list" if reviews else "")
    )
    record = LeadMerge(
        id=uuid.uuid4(),
        action="merge",
        lead_id=survivor.id,
        other_lead_id=merged.id,
        submission_ids=[str(s) for s in submission_ids],
        identities=[{"kind": k, "value": v} for k, v in given],
        decided_by=decider.by,
        reason=reason,
        evidence={
            "lines": lines,
            "reviews": [{"lead_id": str(r.lead_id), "other_lead_id": str(r.other_lead_id),
                         "reason": r.reason, "evidence": r.evidence} for r in reviews],
            "filled": list(folded.filled),
            "conflicts": [vars(c) for c in folded.conflicts],
            "released_rep_id": released,
        },
        at=now,
    )  # fmt: skip
    repo.add_merge(record)
    for r in reviews:
        r.status, r.decided_by, r.decided_at, r.note = "merged", decider.by, now, decider.note
    emit_merge(
        repo.session,
        MergeEvent(
            change="merged", lead_id=survivor.id, other_lead_id=merged.id, how="admin",
            submission_ids=submission_ids, identities=[IdentityRef(kind=k, value=v) for k, v in given],  # type: ignore[arg-type]
            evidence=lines, decided_by=decider.by, reason=reason, at=now,
        ),
        cause=str(record.id),
        now=now,
    )  # fmt: skip
    decided = [r.reason for r in reviews]

    def count() -> None:
        metrics.MERGES.labels("admin").inc()
        for why in decided:
            metrics.DUPLICATE_REVIEWS_DECIDED.labels(why, "merged").inc()

    on_commit(repo.session, count)
    log.info(
        "router.leads_merged",
        lead_id=str(survivor.id),
        merged_lead_id=str(merged.id),
        submissions=len(submission_ids),
        identities=len(given),
        released_rep_id=released,
        decided_by=decider.by,
    )
    return MergeOutcome(record, survivor, merged, tuple(reviews), released)


def _side(lead: Lead) -> LeadSide:
    return LeadSide(
        id=lead.id,
        profile=lead.profile,
        first_name=lead.first_name,
        last_name=lead.last_name,
        is_name=lead.is_name,
        last_activity_at=lead.last_activity_at,
    )


async def _end_ownership(repo: DedupeRepository, lead: Lead, now: datetime) -> str | None:
    """The lead leaves whoever had it: its decision ends, its first-touch clock closes, and a
    rep it occupied gets the capacity back. Returns that rep."""
    released = None
    if occupies(lead.status) and lead.owner_rep_id is not None:
        await repo.add_open_lead(lead.owner_rep_id, -1)
        released = lead.owner_rep_id
    await repo.end_current_assignment(lead.id, now)
    await close_clock(repo, lead.id)
    lead.owner_rep_id, lead.team_id, lead.queue = None, None, None
    return released


# --- dismissing -----------------------------------------------------------------------------


async def dismiss_review(
    repo: DedupeRepository,
    lead_id: uuid.UUID,
    other_lead_id: uuid.UUID,
    *,
    decider: Decider,
    now: datetime,
) -> DuplicateReview:
    """Two people after all: the review is closed, both leads stay as they are."""
    review = await repo.review(lead_id, other_lead_id, lock=True)
    if review is None:
        raise NotFound(f"no duplicate review of lead {lead_id} and lead {other_lead_id}")
    _open(review)
    review.status, review.decided_by, review.decided_at, review.note = (
        "dismissed",
        decider.by,
        now,
        decider.note,
    )
    why = review.reason
    on_commit(repo.session, metrics.DUPLICATE_REVIEWS_DECIDED.labels(why, "dismissed").inc)
    log.info(
        "router.duplicate_dismissed",
        lead_id=str(lead_id),
        other_lead_id=str(other_lead_id),
        decided_by=decider.by,
    )
    return review


# --- splitting ------------------------------------------------------------------------------


def _stored(rows: Sequence[LeadSubmission]) -> list[StoredSubmission]:
    return [
        StoredSubmission(
            submission_id=s.submission_id,
            fields=s.fields,
            source_id=s.source_id,
            channel=s.channel,
            received_at=s.received_at,
        )
        for s in rows
    ]


async def _split_plan(
    repo: DedupeRepository, lead_id: uuid.UUID, move: Sequence[uuid.UUID]
) -> tuple[SplitPlan, frozenset[str]]:
    """The plan on the lead's submissions as they are now, and every key it touches (404 or
    409 for a lead that is not there or was merged)."""
    lead_keys = await _lead_keys(repo, [lead_id])
    submissions = _stored(await repo.submissions_in_order(lead_id))
    held = (await repo.identities_held([lead_id]))[lead_id]
    plan = plan_split(submissions, move, held)
    keys = lead_keys | _keys(
        plan.new_lead_identities,
        (plan.new_lead.company_key, plan.new_lead.company_name_key,
         plan.old_lead.company_key, plan.old_lead.company_name_key),
    )  # fmt: skip
    return plan, keys


async def split(
    ctx: RouterContext,
    repo: DedupeRepository,
    lead_id: uuid.UUID,
    submission_ids: Sequence[uuid.UUID],
    *,
    decider: Decider,
    now: datetime,
) -> SplitOutcome:
    """Move the submissions ``submission_ids`` of a lead into a lead of their own, routed as
    a new lead; both leads are rebuilt from the submissions each keeps (see
    :func:`~services.router.domain.merge_split.plan_split`)."""
    _plan, keys = await _split_plan(repo, lead_id, submission_ids)
    leads = await _lock(repo, keys, [lead_id])
    lead = leads[lead_id]
    _not_merged(lead)
    plan, needed = await _split_plan(repo, lead_id, submission_ids)  # under the locks
    _check_held(keys, needed)

    new = Lead(
        id=uuid.uuid4(), status=LeadStatus.new, is_name=plan.new_lead.is_name,
        profile=plan.new_lead.profile, first_name=plan.new_lead.first_name,
        last_name=plan.new_lead.last_name, company_key=plan.new_lead.company_key,
        company_name_key=plan.new_lead.company_name_key, source_id=plan.new_lead.source_id,
        channel=plan.new_lead.channel, received_at=plan.new_lead.received_at, score=0,
        temperature="cold", stage="none", score_breakdown={}, owner_rep_id=None, team_id=None,
        queue=None, first_touch_at=None, last_activity_at=None, created_at=now, updated_at=now,
        lifecycle_stage=Stage.name if plan.new_lead.is_name else Stage.lead, stage_entered_at=now,
    )  # fmt: skip
    # scored as intake scores an arrival: no activities yet, its first stage entered once
    result = score(lead_profile(new), [], ctx.scoring.rules, now)
    new.score, new.temperature, new.stage = result.total, result.temperature, result.stage
    new.score_breakdown = result.to_dict()
    new.lifecycle_stage = scored_stage(
        Stage(new.lifecycle_stage), result.stage, is_name=new.is_name, reopen=True
    )
    repo.session.add(new)
    await repo.session.flush()
    await repo.record_stage_moves(
        [StageMove(new.id, new.lifecycle_stage, None, now, "split", None)]
    )
    moved = await repo.move_submissions(
        lead.id, new.id, f"split out of lead {lead.id} by an admin", plan.moved
    )
    await repo.give_identities(new.id, plan.new_lead_identities)
    await repo.drop_identities(lead.id, plan.move_identities)
    await repo.share_identities(plan.shared_emails, now)

    old = plan.old_lead
    lead.profile, lead.first_name, lead.last_name = old.profile, old.first_name, old.last_name
    lead.company_key, lead.company_name_key = old.company_key, old.company_name_key
    lead.source_id, lead.channel, lead.received_at = old.source_id, old.channel, old.received_at
    lead.is_name = old.is_name
    lead.updated_at = now
    # As after a merge, the lead that stays keeps its owner; only its score is brought up to
    # date with what it is now.
    await rescore(ctx, repo, lead, now)

    record = LeadMerge(
        id=uuid.uuid4(),
        action="split",
        lead_id=lead.id,
        other_lead_id=new.id,
        submission_ids=[str(s) for s in moved],
        identities=[{"kind": k, "value": v} for k, v in plan.move_identities],
        decided_by=decider.by,
        reason=decider.note or f"{decider.by} split {len(moved)} submissions out of lead {lead.id}",
        evidence={
            "lines": _split_lines(plan),
            "kept_submission_ids": [str(s) for s in plan.kept],
            "shared_identities": [{"kind": k, "value": v} for k, v in plan.shared_identities],
        },
        at=now,
    )
    repo.add_merge(record)
    # the new lead is routed as any new lead: a decision of kind initial on leads.assigned.v1
    assignment = await decide(
        ctx, repo, new, kind="initial", cause_event_id=f"split:{record.id}",
        submission_id=moved[0], now=now, started_at=now, origin=Origin(channel=new.channel),
    )  # fmt: skip
    emit_merge(
        repo.session,
        MergeEvent(
            change="split", lead_id=lead.id, other_lead_id=new.id, how="admin",
            submission_ids=moved,
            identities=[IdentityRef(kind=k, value=v) for k, v in plan.move_identities],  # type: ignore[arg-type]
            evidence=record.evidence["lines"], decided_by=decider.by, reason=record.reason, at=now,
        ),
        cause=str(record.id),
        now=now,
    )  # fmt: skip
    on_commit(repo.session, metrics.SPLITS.inc)
    log.info(
        "router.lead_split",
        lead_id=str(lead.id),
        new_lead_id=str(new.id),
        submissions=len(moved),
        identities=len(plan.move_identities),
        shared=len(plan.shared_identities),
        decided_by=decider.by,
    )
    return SplitOutcome(record, lead, new, plan.shared_identities, assignment)


def _split_lines(plan: SplitPlan) -> list[str]:
    lines = [f"{len(plan.moved)} submissions moved, {len(plan.kept)} stayed"]
    if plan.move_identities:
        lines.append("moved with them: " + ", ".join(f"{k} {v}" for k, v in plan.move_identities))
    if plan.shared_identities:
        lines.append("both leads keep: " + ", ".join(f"{k} {v}" for k, v in plan.shared_identities))
    return lines
