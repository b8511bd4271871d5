"""The only place with router queries. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.matching import Candidate
from services.router.models import (
    Activity,
    Assignment,
    Lead,
    LeadIdentity,
    LeadSubmission,
    PendingActivity,
    Rep,
    RoutingRule,
    SlaClock,
    Team,
)

FUZZY_CANDIDATES = 200


class RouterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- leads and identities -------------------------------------------------------------
    async def lead_ids_for_identities(
        self, identities: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], uuid.UUID]:
        if not identities:
            return {}
        rows = await self.session.execute(
            select(LeadIdentity.kind, LeadIdentity.value, LeadIdentity.lead_id).where(
                tuple_(LeadIdentity.kind, LeadIdentity.value).in_(list(identities))
            )
        )
        return {(r.kind, r.value): r.lead_id for r in rows}

    async def lock_lead(self, lead_id: uuid.UUID) -> Lead | None:
        return await self.session.scalar(select(Lead).where(Lead.id == lead_id).with_for_update())

    async def lock_company(self, company_key: str) -> None:
        """Serialize lead creation per company, so typo'd twins arriving at once see each other."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": company_key}
        )

    async def fuzzy_candidates(self, company_key: str) -> list[Candidate]:
        """Leads at the same company, only the columns name matching needs (no full profiles)."""
        rows = await self.session.execute(
            select(
                Lead.id,
                Lead.first_name,
                Lead.last_name,
                Lead.profile["company"].astext,
                Lead.profile["company_domain"].astext,
            )
            .where(Lead.company_key == company_key)
            .order_by(Lead.created_at)
            .limit(FUZZY_CANDIDATES)
        )
        return [
            Candidate(
                lead_id=str(r[0]),
                first_name=r[1],
                last_name=r[2],
                company=r[3],
                company_domain=r[4],
            )
            for r in rows
        ]

    def add_lead(self, lead: Lead) -> None:
        self.session.add(lead)

    async def claim_identities(
        self, lead_id: uuid.UUID, identities: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """Attach identities to a lead; returns those already owned by another lead."""
        taken: list[tuple[str, str]] = []
        for kind, value in identities:
            inserted = await self.session.scalar(
                insert(LeadIdentity)
                .values(kind=kind, value=value, lead_id=lead_id)
                .on_conflict_do_nothing()
                .returning(LeadIdentity.kind)
            )
            if inserted is None:
                owner = await self.session.scalar(
                    select(LeadIdentity.lead_id).where(
                        LeadIdentity.kind == kind, LeadIdentity.value == value
                    )
                )
                if owner != lead_id:
                    taken.append((kind, value))
        return taken

    def add_submission(self, submission: LeadSubmission) -> None:
        self.session.add(submission)

    async def lead_for_submission(self, submission_id: uuid.UUID) -> uuid.UUID | None:
        return await self.session.scalar(
            select(LeadSubmission.lead_id).where(LeadSubmission.submission_id == submission_id)
        )

    async def submissions(self, lead_id: uuid.UUID) -> list[LeadSubmission]:
        return list(
            await self.session.scalars(
                select(LeadSubmission)
                .where(LeadSubmission.lead_id == lead_id)
                .order_by(LeadSubmission.processed_at)
            )
        )

    # --- teams, reps, rules ---------------------------------------------------------------
    async def teams(self) -> list[Team]:
        return list(await self.session.scalars(select(Team).order_by(Team.id)))

    async def team(self, team_id: str) -> Team | None:
        return await self.session.get(Team, team_id)

    async def lock_teams(self, team_ids: Sequence[str] | None = None) -> list[Team]:
        """Routing state (round-robin weights, open-lead counts) changes under these locks,
        taken in id order, so router instances decide one at a time per team. Returns the teams."""
        query = select(Team).order_by(Team.id).with_for_update()
        if team_ids is not None:
            query = query.where(Team.id.in_(sorted(set(team_ids))))
        return list(await self.session.scalars(query))

    async def reps(self, team_ids: Sequence[str] | None = None) -> list[Rep]:
        query = select(Rep).order_by(Rep.id)
        if team_ids is not None:
            query = query.where(Rep.team_id.in_(list(team_ids)))
        return list(await self.session.scalars(query))

    async def rep(self, rep_id: str) -> Rep | None:
        return await self.session.get(Rep, rep_id)

    async def rules(self) -> list[RoutingRule]:
        return list(await self.session.scalars(select(RoutingRule).order_by(RoutingRule.position)))

    async def seed(
        self, teams: list[dict[str, Any]], reps: list[dict[str, Any]], rules: list[dict[str, Any]]
    ) -> None:
        """Insert what the config has and the database lacks; keep what the admin API changed."""
        if teams:
            await self.session.execute(insert(Team).values(teams).on_conflict_do_nothing())
        if reps:
            await self.session.execute(insert(Rep).values(reps).on_conflict_do_nothing())
        if rules and not await self.session.scalar(select(func.count()).select_from(RoutingRule)):
            await self.session.execute(insert(RoutingRule).values(rules))

    async def set_rep_weights(self, weights: dict[str, int]) -> None:
        if weights:
            await self.session.execute(
                update(Rep),
                [{"id": rep_id, "current_weight": w} for rep_id, w in sorted(weights.items())],
            )

    async def add_open_lead(self, rep_id: str, delta: int) -> None:
        await self.session.execute(
            update(Rep)
            .where(Rep.id == rep_id)
            .values(open_leads=func.greatest(Rep.open_leads + delta, 0))
        )

    # --- assignments ----------------------------------------------------------------------
    async def end_current_assignment(self, lead_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(Assignment)
            .where(Assignment.lead_id == lead_id, Assignment.ended_at.is_(None))
            .values(ended_at=at)
        )

    def add_assignment(self, assignment: Assignment) -> None:
        self.session.add(assignment)

    async def assignments(self, lead_id: uuid.UUID) -> list[Assignment]:
        return list(
            await self.session.scalars(
                select(Assignment)
                .where(Assignment.lead_id == lead_id)
                .order_by(Assignment.decided_at)
            )
        )

    async def queued_leads(self, limit: int, offset: int = 0) -> list[uuid.UUID]:
        """Waiting for sales, hot and SQL leads first, then oldest first."""
        rows = await self.session.scalars(
            select(Lead.id)
            .where(Lead.status == "queued")
            .offset(offset)
            .order_by(
                (Lead.stage == "sql").desc(), (Lead.temperature == "hot").desc(), Lead.received_at
            )
            .limit(limit)
        )
        return list(rows)

    # --- activities -----------------------------------------------------------------------
    async def add_activity(self, activity: dict[str, Any]) -> bool:
        inserted = await self.session.scalar(
            insert(Activity).values(**activity).on_conflict_do_nothing().returning(Activity.id)
        )
        return inserted is not None

    async def activities(self, lead_id: uuid.UUID) -> list[Activity]:
        return list(
            await self.session.scalars(
                select(Activity).where(Activity.lead_id == lead_id).order_by(Activity.occurred_at)
            )
        )

    async def park_activity(
        self,
        activity_id: uuid.UUID,
        lead_ref: uuid.UUID,
        event_id: str,
        data: dict[str, Any],
        now: datetime,
    ) -> None:
        await self.session.execute(
            insert(PendingActivity)
            .values(
                activity_id=activity_id,
                lead_ref=lead_ref,
                event_id=event_id,
                data=data,
                parked_at=now,
            )
            .on_conflict_do_nothing()
        )

    async def take_pending_activities(
        self, lead_refs: Sequence[uuid.UUID]
    ) -> list[tuple[str, dict[str, Any]]]:
        """(event id, activity data) parked for these lead ids, removed in the same statement."""
        rows = await self.session.execute(
            delete(PendingActivity)
            .where(PendingActivity.lead_ref.in_(list(lead_refs)))
            .returning(PendingActivity.event_id, PendingActivity.data, PendingActivity.parked_at)
        )
        return [(r.event_id, r.data) for r in sorted(rows, key=lambda r: r.parked_at)]

    # --- SLA clocks -----------------------------------------------------------------------
    async def clock(self, lead_id: uuid.UUID, *, lock: bool = False) -> SlaClock | None:
        query = select(SlaClock).where(SlaClock.lead_id == lead_id)
        if lock:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def due_clock_ids(self, now: datetime, limit: int) -> list[uuid.UUID]:
        """Leads whose SLA timer is due (not locked: each is then claimed on its own)."""
        rows = await self.session.scalars(
            select(SlaClock.lead_id)
            .where(SlaClock.next_fire_at.is_not(None), SlaClock.next_fire_at <= now)
            .order_by(SlaClock.next_fire_at)
            .limit(limit)
        )
        return list(rows)

    async def claim_due_clock(self, lead_id: uuid.UUID, now: datetime) -> SlaClock | None:
        """The clock, locked, if still due; None when another scheduler has it or it moved on.
        Callers lock the lead first: lead -> clock is the lock order everywhere."""
        return await self.session.scalar(
            select(SlaClock)
            .where(
                SlaClock.lead_id == lead_id,
                SlaClock.next_fire_at.is_not(None),
                SlaClock.next_fire_at <= now,
            )
            .with_for_update(skip_locked=True)
        )

    async def postpone_clock(self, lead_id: uuid.UUID, until: datetime) -> None:
        await self.session.execute(
            update(SlaClock).where(SlaClock.lead_id == lead_id).values(next_fire_at=until)
        )

    async def awaiting_first_touch(self, now: datetime) -> tuple[int, float]:
        """Leads whose SLA clock still runs (escalated ones are their manager's now, and
        would keep an alert on forever), and the age of the oldest."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(SlaClock.started_at)).where(
                    SlaClock.state.in_(["running", "warned", "breached"])
                )
            )
        ).one()
        oldest = (now - row[1]).total_seconds() if row[1] is not None else 0.0
        return int(row[0]), oldest
