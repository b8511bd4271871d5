"""Token-protected admin API for duplicates: the review list, merging a pair (from the list or
directly), dismissing a pair, splitting submissions back out of a lead."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends

from services.router.admin import responses as R
from services.router.admin.endpoints import get_context, read
from services.router.assignment.service import TeamContended
from services.router.audit import record_audit
from services.router.context import RouterContext
from services.router.dedupe import service
from services.router.dedupe.repository import DedupeRepository
from services.router.dedupe.schemas import (
    REVIEW_STATUSES,
    DismissIn,
    MergeLeadIn,
    MergeReviewIn,
    SplitIn,
    lead_summary,
    merge_out,
    review_out,
)
from services.router.domain import merge_split
from shared.auth import Principal
from shared.credentials import AdminPrincipal
from shared.http import ApiError, invalid_field
from shared.openapi import ok

router = APIRouter(prefix="/v1/admin", tags=["admin"])

RouterCtx = Annotated[RouterContext, Depends(get_context)]
T = TypeVar("T")

# Another writer changed the identities or company keys of these leads between the first
# read and the locks, or kept changing the reps of the team a split-off lead routes to: the
# next attempt sees what it committed. Three cover two writers and one more.
ATTEMPTS = 3


async def _decide(
    ctx: RouterContext, work: Callable[[DedupeRepository, datetime], Awaitable[T]]
) -> T:
    """Run ``work`` in one transaction (again if its locks moved), and relay its events."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with ctx.sessions.begin() as session:
                result = await work(DedupeRepository(session), ctx.clock())
            break
        except (service.KeysMoved, TeamContended):
            if attempt == ATTEMPTS:
                raise ApiError(
                    409, "busy", "these leads kept changing while this was decided: try again"
                ) from None
        except service.NotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except service.AlreadyDecided as exc:
            raise ApiError(409, "already_decided", str(exc)) from None
        except service.AlreadyMerged as exc:
            raise ApiError(409, "already_merged", str(exc)) from None
        except service.SameLead as exc:
            raise ApiError(409, "same_lead", str(exc)) from None
        except service.LeadErased as exc:
            raise ApiError(409, "lead_erased", str(exc)) from None
        except merge_split.NothingToMove as exc:
            raise invalid_field("submission_ids", str(exc)) from None
        except merge_split.NotOnLead as exc:
            raise ApiError(
                422,
                "validation_error",
                f"not submissions of this lead: {exc}",
                errors=[
                    {"field": "submission_ids", "message": f"{s} is not a submission of this lead",
                     "type": "value_error"}
                    for s in exc.submission_ids
                ],
            ) from None  # fmt: skip
        except merge_split.WouldMoveAll as exc:
            raise invalid_field(
                "submission_ids", f"{exc}: leave at least one submission on the lead"
            ) from None
        except merge_split.FieldsNotKept as exc:
            raise ApiError(
                409,
                "fields_not_kept",
                f"submission {exc} was recorded before leadflow kept submitted fields: the"
                " lead cannot be rebuilt without it, so it cannot be split",
            ) from None
    ctx.relay.notify()
    return result


@router.get(
    "/duplicates",
    dependencies=[Depends(read)],
    summary="Pairs of leads that may be one person, and how each was decided",
    responses={200: ok([R.REVIEW]), **R.LIST_DUPLICATES},
)
async def list_duplicates(ctx: RouterCtx, status: str = "open") -> list[dict[str, Any]]:
    if status not in REVIEW_STATUSES:
        raise invalid_field("status", f"status must be open, merged or dismissed, not {status!r}")
    async with ctx.sessions() as session:
        repo = DedupeRepository(session)
        reviews = await repo.duplicate_reviews(status)
        leads = await repo.leads_by_id(
            sorted({i for r in reviews for i in (r.lead_id, r.other_lead_id)})
        )
        return [review_out(r, leads) for r in reviews]


@router.post(
    "/duplicates/{lead_id}/{other_lead_id}/merge",
    summary="Merge a pair under review into one lead (by default into the older one)",
    responses={200: ok(R.MERGED), **R.MERGE_REVIEW},
)
async def merge_review(
    lead_id: uuid.UUID,
    other_lead_id: uuid.UUID,
    ctx: RouterCtx,
    principal: AdminPrincipal,
    body: Annotated[MergeReviewIn | None, Body()] = None,
) -> dict[str, Any]:
    body = body or MergeReviewIn()
    try:
        survivor, _merged = merge_split.survivor_of(lead_id, other_lead_id, body.survivor)
    except merge_split.NotInPair as exc:
        raise invalid_field("survivor", str(exc)) from None
    decider = service.Decider(by=body.decided_by, note=body.note)

    async def work(repo: DedupeRepository, now: datetime) -> dict[str, Any]:
        out = await service.merge_review(
            ctx, repo, lead_id, other_lead_id, survivor_id=survivor, decider=decider, now=now
        )
        await _audit_merge(repo, principal, out, review=True)
        return _merged_out(out)

    return await _decide(ctx, work)


@router.post(
    "/duplicates/{lead_id}/{other_lead_id}/dismiss",
    summary="Two people after all: close the review, both leads stay",
    responses={
        200: ok(R.REVIEW | {"status": "dismissed", "decided_by": "admin"}),
        **R.DISMISS_REVIEW,
    },
)
async def dismiss_review(
    lead_id: uuid.UUID,
    other_lead_id: uuid.UUID,
    ctx: RouterCtx,
    principal: AdminPrincipal,
    body: Annotated[DismissIn | None, Body()] = None,
) -> dict[str, Any]:
    body = body or DismissIn()
    decider = service.Decider(by=body.decided_by, note=body.note)

    async def work(repo: DedupeRepository, now: datetime) -> dict[str, Any]:
        review = await service.dismiss_review(
            repo, lead_id, other_lead_id, decider=decider, now=now
        )
        await record_audit(
            repo.session, principal, "review.resolved", "lead", lead_id,
            {"other_lead_id": str(other_lead_id), "status": review.status},
        )  # fmt: skip
        return review_out(review, await repo.leads_by_id([lead_id, other_lead_id]))

    return await _decide(ctx, work)


@router.post(
    "/leads/{survivor_id}/merge",
    summary="Merge another lead into this one (no review needed)",
    responses={200: ok(R.MERGED), **R.MERGE_LEAD},
)
async def merge_lead(
    survivor_id: uuid.UUID, body: MergeLeadIn, ctx: RouterCtx, principal: AdminPrincipal
) -> dict[str, Any]:
    decider = service.Decider(by=body.decided_by, note=body.note)

    async def work(repo: DedupeRepository, now: datetime) -> dict[str, Any]:
        out = await service.merge(ctx, repo, survivor_id, body.lead_id, decider=decider, now=now)
        await _audit_merge(repo, principal, out, review=False)
        return _merged_out(out)

    return await _decide(ctx, work)


@router.post(
    "/leads/{lead_id}/split",
    status_code=201,
    summary="Move submissions out of a lead into a lead of their own, routed as a new lead",
    responses={201: ok(R.SPLIT, "Created"), **R.SPLIT_LEAD},
)
async def split_lead(
    lead_id: uuid.UUID, body: SplitIn, ctx: RouterCtx, principal: AdminPrincipal
) -> dict[str, Any]:
    decider = service.Decider(by=body.decided_by, note=body.note)

    async def work(repo: DedupeRepository, now: datetime) -> dict[str, Any]:
        out = await service.split(ctx, repo, lead_id, body.submission_ids, decider=decider, now=now)
        await record_audit(
            repo.session, principal, "split.applied", "lead", lead_id,
            {"split_id": str(out.record.id), "new_lead_id": str(out.new_lead.id),
             "submission_ids": [str(i) for i in body.submission_ids]},
        )  # fmt: skip
        a = out.assignment
        return {
            "split": merge_out(out.record),
            "lead": lead_summary(out.lead.id, out.lead),
            "new_lead": lead_summary(out.new_lead.id, out.new_lead),
            "shared_identities": [{"kind": k, "value": v} for k, v in out.shared_identities],
            "decision": None
            if a is None
            else {"outcome": a.outcome, "kind": a.kind, "rep_id": a.rep_id, "team_id": a.team_id,
                  "queue": a.queue, "rule": a.rule, "reason": a.reason},
        }  # fmt: skip

    return await _decide(ctx, work)


async def _audit_merge(
    repo: DedupeRepository, principal: Principal, out: service.MergeOutcome, *, review: bool
) -> None:
    """Ids only: the identities a merge moved are contact data and stay out of the trail."""
    await record_audit(
        repo.session, principal, "merge.applied", "lead", out.survivor.id,
        {"merge_id": str(out.record.id), "merged_lead_id": str(out.merged.id),
         "submission_ids": [str(i) for i in out.record.submission_ids or []],
         "from_review": review, "released_rep_id": out.released_rep_id},
    )  # fmt: skip


def _merged_out(out: service.MergeOutcome) -> dict[str, Any]:
    return {
        "merge": merge_out(out.record),
        "survivor": lead_summary(out.survivor.id, out.survivor),
        "merged": lead_summary(out.merged.id, out.merged),
        "reviews": [
            {"lead_id": str(r.lead_id), "other_lead_id": str(r.other_lead_id), "status": r.status}
            for r in out.reviews
        ],
        "released_rep_id": out.released_rep_id,
    }
