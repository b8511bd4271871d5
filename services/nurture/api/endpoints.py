"""Token-protected API: a lead's nurture state (scope read), and operator actions (pause,
resume, enroll, unenroll; scope admin, each recorded in the audit trail with ids only: an
operator's free-text reason stays with the enrollment, which erasure reaches). Each action locks
the lead like every other writer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import text

from services.nurture.api import responses as R
from services.nurture.api.schemas import EnrollIn, PauseIn, ResumeIn, UnenrollIn
from services.nurture.audit import record_audit
from services.nurture.context import NurtureContext
from services.nurture.domain.consent import (
    MARKETING_CHANNELS,
    ConsentRecord,
    latest,
    lead_country,
    marketing_allowed,
)
from services.nurture.leads.service import (
    end_enrollments,
    enroll,
    open_enrollments,
    pause,
    reactivate,
    resume,
)
from services.nurture.models import NurtureLead
from services.nurture.repository import NurtureRepository
from shared.credentials import AdminPrincipal, needs_admin, needs_read
from shared.http import ApiError, invalid_field
from shared.openapi import ok

router = APIRouter(prefix="/v1/nurture", tags=["nurture"])
MAX_START_AHEAD = timedelta(days=366)


async def get_context(request: Request) -> NurtureContext:
    return request.app.state.nurture  # type: ignore[no-any-return]


# operator actions need a token with the admin scope, reading one with read
admin = needs_admin
read = needs_read


async def _locked_lead(repo: NurtureRepository, ref: uuid.UUID) -> NurtureLead:
    lead_id = await repo.resolve(ref)
    lead = await repo.lead(lead_id, lock=True) if lead_id is not None else None
    if lead is None:
        raise ApiError(404, "not_found", f"nurture has no lead {ref}")
    return lead


def consent_state(
    ctx: NurtureContext, lead: NurtureLead, consents: list[ConsentRecord]
) -> dict[str, Any]:
    """Per marketing channel: what the lead's country requires, its latest consent, and
    whether a step on it would go out now."""
    country = lead_country(lead.country, lead.phone)
    out: dict[str, Any] = {}
    for channel in MARKETING_CHANNELS:
        last = latest(consents, channel)
        decision = marketing_allowed(
            ctx.consent, country, channel, consents, unknown=ctx.settings.nurture_unknown_consent
        )
        out[channel] = {
            "required": str(ctx.consent.rule(country, channel)),
            "state": str(last.state) if last else None,
            "source": str(last.source) if last else None,
            "recorded_at": last.recorded_at if last else None,
            "allowed": decision.allowed,
            "reason": decision.reason,
        }
    return out


async def lead_state(
    ctx: NurtureContext, repo: NurtureRepository, lead: NurtureLead
) -> dict[str, Any]:
    steps = await repo.steps_of_lead(lead.id)
    consents = (await repo.consents_of([lead.id])).get(lead.id, [])
    by_enrollment: dict[uuid.UUID, list[Any]] = {}
    for s in steps:
        by_enrollment.setdefault(s.enrollment_id, []).append(s)
    enrollments = []
    for e in await repo.enrollments(lead.id):
        own = by_enrollment.get(e.id, [])
        nxt = next((s for s in own if s.state in ("pending", "paused")), None)
        enrollments.append({
            "id": str(e.id), "sequence_id": e.sequence_id, "trigger": e.trigger, "status": e.status,
            "reason": e.reason, "enrolled_at": e.enrolled_at, "ended_at": e.ended_at, "show_id": e.show_id,
            "next_step": {"step": nxt.step, "due_at": nxt.due_at, "state": nxt.state, "note": nxt.note} if nxt else None,
            "steps": [{"step": s.step, "state": s.state, "planned_at": s.planned_at, "due_at": s.due_at, "emitted_at": s.emitted_at,
                       "note": s.note} for s in own],
        })  # fmt: skip
    return {
        "lead_id": str(lead.id), "list": lead.list_name, "list_reason": lead.list_reason,
        "sales_status": lead.sales_status, "sales_status_at": lead.sales_status_at,
        "timezone": lead.timezone,
        "timezone_source": lead.timezone_source, "channel": lead.channel, "purchased_list": lead.is_name,
        "suppression": {"reason": lead.suppressed, "at": lead.suppressed_at} if lead.suppressed else None,
        "converted_at": lead.converted_at, "with_sales": lead.with_sales, "last_engaged_at": lead.last_engaged_at,
        "remarket_at": lead.remarket_at, "sunset_at": lead.sunset_at, "reengaged_at": lead.reengaged_at,
        "idle_since": lead.idle_since, "country": lead_country(lead.country, lead.phone),
        "consent": consent_state(ctx, lead, consents), "skipped_for_consent": lead.consent_skips,
        "enrollments": enrollments,
    }  # fmt: skip


@router.get(
    "/sequences",
    dependencies=[Depends(read)],
    summary="The sequences, windows, cap and lifecycle clocks in force",
    responses={200: ok(R.SEQUENCES), **R.LIST},
)
async def sequences(ctx: NurtureContext = Depends(get_context)) -> dict[str, Any]:
    return ctx.config.model_dump(mode="json")


@router.get(
    "/leads/{lead_id}",
    dependencies=[Depends(read)],
    summary="A lead's nurture state: list, suppression, enrollments and their steps",
    responses={200: ok(R.STATE), **R.GET_LEAD},
)
async def get_lead(
    lead_id: uuid.UUID, ctx: NurtureContext = Depends(get_context)
) -> dict[str, Any]:
    async with ctx.sessions() as session:
        # one snapshot for the lead, its steps, consents and enrollments: read one after the
        # other under read committed, a change committed between them would show half done
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        repo = NurtureRepository(session)
        resolved = await repo.resolve(lead_id)
        lead = await repo.lead(resolved) if resolved else None
        if lead is None:
            raise ApiError(404, "not_found", f"nurture has no lead {lead_id}")
        return await lead_state(ctx, repo, lead)


@router.post(
    "/leads/{lead_id}/pause",
    dependencies=[Depends(admin)],
    summary="Pause the lead's active enrollments",
    responses={200: ok(R.PAUSED), **R.PAUSE},
)
async def pause_lead(
    lead_id: uuid.UUID,
    principal: AdminPrincipal,
    body: PauseIn | None = None,
    ctx: NurtureContext = Depends(get_context),
) -> dict[str, Any]:
    body = body or PauseIn()
    async with ctx.sessions.begin() as session:
        repo = NurtureRepository(session)
        lead = await _locked_lead(repo, lead_id)
        now = ctx.clock()
        if not await pause(
            repo,
            lead,
            by="operator",
            reason=body.reason,
            cause=f"api:pause:{uuid.uuid4()}",
            now=now,
        ):
            raise ApiError(409, "nothing_to_pause", f"lead {lead_id} has no active enrollment")
        await record_audit(session, principal, "nurture.paused", "lead", lead.id, {})
        state = await lead_state(ctx, repo, lead)
    ctx.relay.notify()
    return state


@router.post(
    "/leads/{lead_id}/resume",
    dependencies=[Depends(admin)],
    summary="Resume the lead's paused enrollments",
    responses={200: ok(R.STATE), **R.RESUME},
)
async def resume_lead(
    lead_id: uuid.UUID,
    principal: AdminPrincipal,
    body: ResumeIn | None = None,
    ctx: NurtureContext = Depends(get_context),
) -> dict[str, Any]:
    body = body or ResumeIn()
    async with ctx.sessions.begin() as session:
        repo = NurtureRepository(session)
        lead = await _locked_lead(repo, lead_id)
        if lead.suppressed:
            raise ApiError(
                409,
                "suppressed",
                f"lead {lead_id} is suppressed ({lead.suppressed}): nothing is sent to it",
            )
        lead.with_sales = False
        if not await resume(
            repo, lead, reason=body.reason, cause=f"api:resume:{uuid.uuid4()}", now=ctx.clock()
        ):
            raise ApiError(409, "nothing_to_resume", f"lead {lead_id} has no paused enrollment")
        await record_audit(session, principal, "nurture.resumed", "lead", lead.id, {})
        state = await lead_state(ctx, repo, lead)
    ctx.relay.notify()
    return state


@router.post(
    "/leads/{lead_id}/enrollments",
    status_code=201,
    dependencies=[Depends(admin)],
    summary="Enroll the lead in a sequence",
    responses={201: ok(R.STATE, "Created"), **R.ENROLL},
)
async def enroll_lead(
    lead_id: uuid.UUID,
    body: EnrollIn,
    principal: AdminPrincipal,
    ctx: NurtureContext = Depends(get_context),
) -> dict[str, Any]:
    try:
        seq = ctx.config.sequence(body.sequence_id)
    except KeyError:
        known = ", ".join(s.id for s in ctx.config.sequences)
        raise invalid_field(
            "sequence_id", f"unknown sequence {body.sequence_id!r}; known: {known}"
        ) from None
    if body.start_at is not None and body.start_at.tzinfo is None:
        raise invalid_field(
            "start_at", "start_at must carry a time zone offset, e.g. 2026-12-01T09:00:00Z"
        )
    if body.start_at is not None and body.start_at > ctx.clock() + MAX_START_AHEAD:
        raise invalid_field("start_at", "start_at must be within a year from now")
    async with ctx.sessions.begin() as session:
        repo = NurtureRepository(session)
        lead = await _locked_lead(repo, lead_id)
        if lead.suppressed:
            raise ApiError(
                409,
                "suppressed",
                f"lead {lead_id} is suppressed ({lead.suppressed}): it cannot be enrolled",
            )
        if lead.converted_at is not None:
            raise ApiError(409, "converted", f"lead {lead_id} has converted: it is a customer now")
        now = ctx.clock()
        cause = f"api:enroll:{uuid.uuid4()}"
        reactivate(repo, lead, reason="enrolled by an operator", cause=cause, now=now)
        created = await enroll(
            ctx, repo, lead, trigger=seq.trigger.kind, sequence_id=seq.id, start_at=body.start_at or now,
            reason=body.reason, cause=cause, now=now,
        )  # fmt: skip
        if created is None:
            raise ApiError(
                409, "already_enrolled", f"lead {lead_id} is already in sequence {seq.id}"
            )
        await record_audit(
            session, principal, "enrollment.added", "lead", lead.id,
            {"sequence_id": seq.id, "start_at": (body.start_at or now).isoformat()},
        )  # fmt: skip
        state = await lead_state(ctx, repo, lead)
    ctx.relay.notify()
    return state


@router.delete(
    "/leads/{lead_id}/enrollments/{sequence_id}",
    dependencies=[Depends(admin)],
    summary="End the lead's enrollment in a sequence",
    responses={
        200: ok(R.STATE | {"enrollments": [R.STATE["enrollments"][0] | {"status": "unenrolled"}]}),
        **R.UNENROLL,
    },
)
async def unenroll_lead(
    lead_id: uuid.UUID,
    sequence_id: str,
    principal: AdminPrincipal,
    body: UnenrollIn | None = None,
    ctx: NurtureContext = Depends(get_context),
) -> dict[str, Any]:
    body = body or UnenrollIn()
    async with ctx.sessions.begin() as session:
        repo = NurtureRepository(session)
        lead = await _locked_lead(repo, lead_id)
        running = [e for e in await open_enrollments(repo, lead) if e.sequence_id == sequence_id]
        if not running:
            raise ApiError(404, "not_enrolled", f"lead {lead_id} is not in sequence {sequence_id}")
        await end_enrollments(repo, lead, running, status="unenrolled", reason=body.reason,
                              cause=f"api:unenroll:{uuid.uuid4()}", now=ctx.clock())  # fmt: skip
        await record_audit(
            session, principal, "enrollment.removed", "lead", lead.id,
            {"sequence_id": sequence_id},
        )  # fmt: skip
        state = await lead_state(ctx, repo, lead)
    ctx.relay.notify()
    return state
