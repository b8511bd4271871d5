"""Token-protected admin API: reps, teams, routing rules; one lead whole (duplicates, merges and
splits: ``services/router/dedupe/endpoints.py``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import delete

from services.router.admin import responses as R
from services.router.admin.schemas import HolidayIn, RepConfig, RepPatch, RulesIn, TeamConfig
from services.router.audit import record_audit
from services.router.context import RouterContext
from services.router.convert import calendar
from services.router.dedupe.repository import DedupeRepository
from services.router.dedupe.schemas import merge_out, review_out
from services.router.domain import caps
from services.router.domain.holiday_calendar import HolidayCalendar
from services.router.erasure.repository import ErasureRepository
from services.router.erasure.service import tombstone_out
from services.router.lifecycle.service import departure, release_rep
from services.router.models import Lead, Rep, RoutingRule, Team
from services.router.repository import RouterRepository
from services.router.routing_config import LIVE_REP_COLUMNS, rep_row, team_row
from shared.audit import diff
from shared.auth import Principal
from shared.credentials import AdminPrincipal, needs_admin, needs_read
from shared.http import ApiError, field_errors_from_pydantic, invalid_field
from shared.openapi import ok

router = APIRouter(prefix="/v1/admin", tags=["admin"])


async def get_context(request: Request) -> RouterContext:
    return request.app.state.router  # type: ignore[no-any-return]


def _same_id(body_id: str, path_id: str) -> None:
    if body_id != path_id:
        raise invalid_field(
            "id", f"id {body_id!r} in the body differs from {path_id!r} in the path"
        )


# changes need a token with the admin scope, reading one with read (admin implies it)
admin = needs_admin
read = needs_read
# a rep's name and email are personal data: the audit trail says only that they changed
REP_PERSONAL = frozenset({"name", "email"})


def _rep_out(rep: Rep, now: datetime) -> dict[str, Any]:
    counts = caps.PeriodCounts(rep.cap_day, rep.day_count, rep.cap_week, rep.week_count)
    today, this_week = caps.current(counts, rep.timezone, now)
    return {
        "id": rep.id, "name": rep.name, "email": rep.email, "team": rep.team_id, "timezone": rep.timezone,
        "working_hours": rep.working_hours, "out_of_office": rep.out_of_office, "weight": rep.weight,
        "capacity": rep.capacity, "active": rep.active, "open_leads": rep.open_leads,
        "daily_cap": rep.daily_cap, "weekly_cap": rep.weekly_cap,
        "new_leads_today": today, "new_leads_this_week": this_week,
        "local_day": caps.local_day(now, rep.timezone).isoformat(),
        "country": rep.country, "subdivision": rep.subdivision, "holidays": rep.holidays,
    }  # fmt: skip


def _rep_config(rep: Rep) -> dict[str, Any]:
    """The rep's settings as the config file (and a PUT) gives them."""
    return {
        "id": rep.id, "name": rep.name, "team": rep.team_id, "email": rep.email, "timezone": rep.timezone,
        "working_hours": rep.working_hours, "weight": rep.weight, "capacity": rep.capacity,
        "daily_cap": rep.daily_cap, "weekly_cap": rep.weekly_cap, "active": rep.active,
        "out_of_office": rep.out_of_office, "country": rep.country, "subdivision": rep.subdivision,
        "holidays": rep.holidays,
    }  # fmt: skip


def _team_out(team: Team) -> dict[str, Any]:
    return team_row(
        TeamConfig.model_validate(
            {
                **{
                    k: getattr(team, k)
                    for k in (
                        "id",
                        "name",
                        "timezone",
                        "business_hours",
                        "sla_minutes",
                        "warning_minutes",
                        "escalation",
                        "manager",
                        "recycle_after_days",
                        "away_after_days",
                        "on_rep_away",
                        "country",
                        "subdivision",
                        "holidays",
                    )
                }
            }
        )
    )


@router.get(
    "/teams",
    dependencies=[Depends(read)],
    summary="The teams",
    responses={200: ok([R.TEAM]), **R.LIST},
)
async def list_teams(ctx: RouterContext = Depends(get_context)) -> list[dict[str, Any]]:
    async with ctx.sessions() as session:
        return [_team_out(t) for t in await RouterRepository(session).teams()]


@router.put(
    "/teams/{team_id}",
    dependencies=[Depends(admin)],
    summary="Create or replace a team",
    responses={200: ok(R.TEAM), **R.PUT_TEAM},
)
async def put_team(
    team_id: str,
    body: TeamConfig,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    _same_id(body.id, team_id)
    async with ctx.sessions.begin() as session:
        existing = await RouterRepository(session).team(team_id)
        before = _team_out(existing) if existing is not None else None
        await session.merge(Team(**team_row(body)))
        action = "team.updated" if existing is not None else "team.created"
        await record_audit(
            session, principal, action, "team", team_id, diff(before, team_row(body))
        )
    return team_row(body)


@router.get(
    "/reps",
    dependencies=[Depends(read)],
    summary="The reps, with their open leads and this period's new leads",
    responses={200: ok([R.REP]), **R.LIST},
)
async def list_reps(ctx: RouterContext = Depends(get_context)) -> list[dict[str, Any]]:
    async with ctx.sessions() as session:
        now = ctx.clock()
        return [_rep_out(r, now) for r in await RouterRepository(session).reps()]


@router.put(
    "/reps/{rep_id}",
    dependencies=[Depends(admin)],
    summary="Create or replace a rep (a departed rep's open leads are released)",
    responses={200: ok(R.REP_SAVED), **R.PUT_REP},
)
async def put_rep(
    rep_id: str,
    body: RepConfig,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    _same_id(body.id, rep_id)
    async with ctx.sessions.begin() as session:
        repo = RouterRepository(session)
        if await repo.team(body.team) is None:
            raise invalid_field("team", f"unknown team {body.team!r}")
        existing = await repo.rep(rep_id)
        before = _rep_config(existing) if existing is not None else None
        now = ctx.clock()
        row = rep_row(body, now)
        if existing is not None:  # keep live counters
            row.update({c: getattr(existing, c) for c in LIVE_REP_COLUMNS})
        rep = await session.merge(Rep(**row))
        out = _rep_out(rep, now)
        action = "rep.updated" if existing is not None else "rep.created"
        changes = diff(before, _rep_config(rep), redact=REP_PERSONAL)
        await record_audit(session, principal, action, "rep", rep_id, changes)
    return await _release_if_departed(ctx, rep_id, out)


async def _release_if_departed(
    ctx: RouterContext, rep_id: str, out: dict[str, Any]
) -> dict[str, Any]:
    """A rep deactivated, or away longer than the team allows: their open leads are
    re-routed (or queued, per team) now, each with a decision and a lifecycle event."""
    async with ctx.sessions() as session:
        repo = RouterRepository(session)
        rep = await repo.rep(rep_id)
        team = await repo.team(rep.team_id) if rep is not None else None
        why = departure(rep, team, ctx.clock()) if rep is not None else None
    released = await release_rep(ctx, rep_id, why=why) if why is not None else 0
    if released:
        out = {**out, "open_leads": out["open_leads"] - released}
    return {**out, "released": {"leads": released, "why": why}}


@router.patch(
    "/reps/{rep_id}",
    dependencies=[Depends(admin)],
    summary="Change part of a rep (a departed rep's open leads are released)",
    responses={200: ok(R.REP_SAVED), **R.PATCH_REP},
)
async def patch_rep(
    rep_id: str,
    body: RepPatch,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    async with ctx.sessions.begin() as session:
        repo = RouterRepository(session)
        rep = await repo.rep(rep_id)
        if rep is None:
            raise ApiError(404, "not_found", f"no rep {rep_id}")
        before = _rep_config(rep)
        current = RepConfig.model_validate(before)
        changes = body.model_dump(exclude_unset=True)
        try:
            updated = RepConfig.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            errors = field_errors_from_pydantic(exc.errors(include_url=False))
            raise ApiError(422, "validation_error", "invalid rep", errors=errors) from None
        if await repo.team(updated.team) is None:
            raise invalid_field("team", f"unknown team {updated.team!r}")
        now = ctx.clock()
        row = rep_row(updated, now)
        row.update({c: getattr(rep, c) for c in LIVE_REP_COLUMNS})
        for key, value in row.items():
            setattr(rep, key, value)
        out = _rep_out(rep, now)
        audited = diff(before, _rep_config(rep), redact=REP_PERSONAL)
        await record_audit(session, principal, "rep.updated", "rep", rep_id, audited)
    return await _release_if_departed(ctx, rep_id, out)


# --- holiday calendars ----------------------------------------------------------------------
Year = Query(None, ge=1970, le=2100, description="the calendar year; default: this year")


def _calendar_out(kind: str, row: Team | Rep, year: int) -> dict[str, Any]:
    found = calendar(row.country, row.subdivision, row.holidays) or HolidayCalendar()
    return {
        kind: row.id,
        "year": year,
        "timezone": row.timezone,
        "country": row.country,
        "subdivision": row.subdivision,
        "holidays": [{**h.to_dict(), "source": h.source} for h in found.in_year(year)],
    }


async def _calendar_row(
    repo: RouterRepository, kind: str, row_id: str, *, lock: bool = False
) -> Team | Rep:
    row: Team | Rep | None
    if kind == "team" and lock:
        locked = await repo.lock_teams([row_id])
        row = locked[0] if locked else None
    elif kind == "team":
        row = await repo.team(row_id)
    else:
        row = await repo.rep(row_id, lock=lock)
    if row is None:
        raise ApiError(404, "not_found", f"no {kind} {row_id}")
    return row


def _with_date(row: Team | Rep, day: date, name: str | None) -> None:
    """Add (or rename) an added date; ``name`` None removes it. A new list: JSONB is replaced."""
    kept = [h for h in row.holidays if h["date"] != day.isoformat()]
    if name is not None:
        kept.append({"date": day.isoformat(), "name": name})
    row.holidays = sorted(kept, key=lambda h: h["date"])


async def _list_holidays(
    ctx: RouterContext, kind: str, row_id: str, year: int | None
) -> dict[str, Any]:
    async with ctx.sessions() as session:
        now = ctx.clock()
        row = await _calendar_row(RouterRepository(session), kind, row_id)
        return _calendar_out(kind, row, year or caps.local_day(now, row.timezone).year)


async def _set_holiday(
    ctx: RouterContext,
    principal: Principal,
    kind: str,
    row_id: str,
    day: date,
    name: str | None,
) -> dict[str, Any]:
    """Add, rename (``name``) or remove (None) an added date of a team or rep."""
    async with ctx.sessions.begin() as session:
        row = await _calendar_row(RouterRepository(session), kind, row_id, lock=True)
        held = next((h for h in row.holidays if h["date"] == day.isoformat()), None)
        if name is None and held is None:
            raise ApiError(
                404, "not_found", f"{day.isoformat()} is not an added date of {kind} {row_id}"
            )
        _with_date(row, day, name)
        action = "holiday.removed" if name is None else "holiday.added"
        changes = {
            "date": day.isoformat(),
            "name": {"before": held and held["name"], "after": name},
        }
        await record_audit(session, principal, action, kind, row_id, changes)
        return {"date": day.isoformat(), "name": name, "source": "added"}


@router.get(
    "/teams/{team_id}/holidays",
    dependencies=[Depends(read)],
    responses={200: ok(R.CALENDAR), **R.calendar_errors("team")},
)
async def list_team_holidays(
    team_id: str, year: int | None = Year, ctx: RouterContext = Depends(get_context)
) -> dict[str, Any]:
    """The team's calendar for a year: public holidays of its country/subdivision and added
    dates. Its SLA clocks count no business time on these days."""
    return await _list_holidays(ctx, "team", team_id, year)


@router.put(
    "/teams/{team_id}/holidays/{day}",
    dependencies=[Depends(admin)],
    responses={200: ok(R.HOLIDAY), **R.calendar_errors("team", write=True)},
)
async def put_team_holiday(
    team_id: str,
    day: date,
    body: HolidayIn,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    """Add a date to the team's calendar (or rename it): closed all day in its zone."""
    return await _set_holiday(ctx, principal, "team", team_id, day, body.name)


@router.delete(
    "/teams/{team_id}/holidays/{day}",
    dependencies=[Depends(admin)],
    status_code=204,
    responses=R.calendar_errors("team", delete=True),
)
async def delete_team_holiday(
    team_id: str, day: date, principal: AdminPrincipal, ctx: RouterContext = Depends(get_context)
) -> Response:
    """Remove an added date (public holidays come from the country and stay)."""
    await _set_holiday(ctx, principal, "team", team_id, day, None)
    return Response(status_code=204)


@router.get(
    "/reps/{rep_id}/holidays",
    dependencies=[Depends(read)],
    responses={200: ok(R.CALENDAR | {"rep": "rep-ana"}), **R.calendar_errors("rep")},
)
async def list_rep_holidays(
    rep_id: str, year: int | None = Year, ctx: RouterContext = Depends(get_context)
) -> dict[str, Any]:
    """The rep's own calendar for a year: on these days the rep gets no new leads."""
    return await _list_holidays(ctx, "rep", rep_id, year)


@router.put(
    "/reps/{rep_id}/holidays/{day}",
    dependencies=[Depends(admin)],
    responses={200: ok(R.HOLIDAY), **R.calendar_errors("rep", write=True)},
)
async def put_rep_holiday(
    rep_id: str,
    day: date,
    body: HolidayIn,
    principal: AdminPrincipal,
    ctx: RouterContext = Depends(get_context),
) -> dict[str, Any]:
    """Add a date to the rep's own calendar (or rename it): no new leads that local day."""
    return await _set_holiday(ctx, principal, "rep", rep_id, day, body.name)


@router.delete(
    "/reps/{rep_id}/holidays/{day}",
    dependencies=[Depends(admin)],
    status_code=204,
    summary="Remove an added date of the rep",
    responses=R.calendar_errors("rep", delete=True),
)
async def delete_rep_holiday(
    rep_id: str, day: date, principal: AdminPrincipal, ctx: RouterContext = Depends(get_context)
) -> Response:
    await _set_holiday(ctx, principal, "rep", rep_id, day, None)
    return Response(status_code=204)


@router.get(
    "/rules",
    dependencies=[Depends(read)],
    summary="The routing rules, in order",
    responses={200: ok([R.RULE]), **R.LIST},
)
async def list_rules(ctx: RouterContext = Depends(get_context)) -> list[dict[str, Any]]:
    async with ctx.sessions() as session:
        return [
            {"name": r.name, "team": r.team_id, "when": r.conditions}
            for r in await RouterRepository(session).rules()
        ]


@router.put(
    "/rules",
    dependencies=[Depends(admin)],
    summary="Replace the routing rules (first match wins)",
    responses={200: ok([R.RULE]), **R.PUT_RULES},
)
async def put_rules(
    body: RulesIn, principal: AdminPrincipal, ctx: RouterContext = Depends(get_context)
) -> list[dict[str, Any]]:
    after = [
        {"name": r.name, "team": r.team, "when": r.when.model_dump(exclude_none=True)}
        for r in body.rules
    ]
    async with ctx.sessions.begin() as session:
        repo = RouterRepository(session)
        before = [
            {"name": r.name, "team": r.team_id, "when": r.conditions} for r in await repo.rules()
        ]
        teams = {t.id for t in await repo.teams()}
        for i, rule in enumerate(body.rules):
            if rule.team not in teams:
                raise invalid_field(
                    f"rules.{i}.team", f"rule {rule.name}: unknown team {rule.team!r}"
                )
        await session.execute(delete(RoutingRule))
        for position, rule in enumerate(body.rules):
            session.add(
                RoutingRule(
                    position=position,
                    name=rule.name,
                    team_id=rule.team,
                    conditions=rule.when.model_dump(exclude_none=True),
                )
            )
        changes = diff({"rules": before}, {"rules": after})
        await record_audit(session, principal, "rules.replaced", "rules", "routing", changes)
    return after


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@router.get(
    "/leads/{lead_id}",
    dependencies=[Depends(read)],
    summary="One lead whole: owner, score, merges, decisions, SLA, sales status and stage history",
    description="An erased lead (or submission) answers its tombstone instead, with `erased: true`.",
    responses={200: ok(R.LEAD_WHOLE), **R.GET_LEAD},
)
async def get_lead(lead_id: uuid.UUID, ctx: RouterContext = Depends(get_context)) -> dict[str, Any]:
    async with ctx.sessions() as session:
        erased = await ErasureRepository(session).tombstone_for_ref(lead_id)
        if erased is not None:  # the person was erased: the tombstone is all there is
            return {"id": str(lead_id), **tombstone_out(erased)}
        repo = DedupeRepository(session)
        lead = await session.get(Lead, lead_id)
        if lead is None:
            canonical = await repo.lead_for_submission(lead_id)
            lead = await session.get(Lead, canonical) if canonical else None
        if lead is None:
            raise ApiError(404, "not_found", f"no lead {lead_id}")
        clock = await repo.clock(lead.id)
        reviews = await repo.reviews_of(lead.id)
        paired = await repo.leads_by_id(
            sorted({i for r in reviews for i in (r.lead_id, r.other_lead_id)})
        )
        return {
            "id": str(lead.id),
            "erased": False,
            "status": lead.status,
            "sales_status": None
            if lead.sales_status is None
            else {
                "status": lead.sales_status,
                "reason": lead.disqualify_reason,
                "at": _iso(lead.sales_status_at),
            },
            "lifecycle_stage": {
                "stage": lead.lifecycle_stage,
                "since": _iso(lead.stage_entered_at),
            },
            "last_owner_rep_id": lead.last_owner_rep_id,
            "last_worked_at": _iso(lead.last_worked_at),
            "recycled_at": _iso(lead.recycled_at),
            "duplicate_of": str(lead.duplicate_of) if lead.duplicate_of else None,
            "merged_into": str(lead.merged_into) if lead.merged_into else None,
            "company_keys": {"company": lead.company_key, "company_name": lead.company_name_key},
            "merges": [merge_out(m) for m in await repo.merges_of(lead.id)],
            "open_reviews": [review_out(r, paired) for r in reviews],
            "status_history": [
                {
                    "status": c.status,
                    "reason": c.reason,
                    "rep_id": c.rep_id,
                    "reported_by": c.reported_by,
                    "duplicate_of": str(c.duplicate_of) if c.duplicate_of else None,
                    "occurred_at": _iso(c.occurred_at),
                    "recorded_at": _iso(c.recorded_at),
                    "applied": c.applied,
                    "detail": c.detail,
                }
                for c in await repo.status_changes(lead.id)
            ],
            "stages": [
                {
                    "stage": st.stage,
                    "previous_stage": st.previous_stage,
                    "entered_at": _iso(st.entered_at),
                    "left_at": _iso(st.left_at),
                    "cause": st.cause,
                }
                for st in await repo.stages(lead.id)
            ],
            "purchased_list": lead.is_name,
            "owner": {"rep_id": lead.owner_rep_id, "team_id": lead.team_id, "queue": lead.queue},
            "profile": lead.profile,
            "score": lead.score_breakdown,
            "received_at": lead.received_at.isoformat(),
            "first_touch_at": lead.first_touch_at.isoformat() if lead.first_touch_at else None,
            "submissions": [
                {
                    "submission_id": str(s.submission_id),
                    "source": s.source_id,
                    "channel": s.channel,
                    "matched_by": s.matched_by,
                    "detail": s.detail,
                    "filled": s.filled,
                    "conflicts": s.conflicts,
                    "evidence": s.evidence,
                    "received_at": s.received_at.isoformat(),
                }
                for s in await repo.submissions(lead.id)
            ],
            "decisions": [
                {
                    "outcome": a.outcome,
                    "kind": a.kind,
                    "rep_id": a.rep_id,
                    "team_id": a.team_id,
                    "queue": a.queue,
                    "rule": a.rule,
                    "reason": a.reason,
                    "explanation": a.explanation,
                    "decided_at": a.decided_at.isoformat(),
                    "ended_at": a.ended_at.isoformat() if a.ended_at else None,
                }
                for a in await repo.assignments(lead.id)
            ],
            "activities": [
                {
                    "kind": a.kind,
                    "touch_channel": a.touch_channel,
                    "rep_id": a.rep_id,
                    "occurred_at": a.occurred_at.isoformat(),
                }
                for a in await repo.activities(lead.id)
            ],
            "sla": None
            if clock is None
            else {
                "state": clock.state,
                "team_id": clock.team_id,
                "rep_id": clock.rep_id,
                "started_at": clock.started_at.isoformat(),
                "warn_at": clock.warn_at.isoformat(),
                "due_at": clock.due_at.isoformat(),
                "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
                "escalations": clock.escalations,
            },
        }
