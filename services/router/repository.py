"""The only place with router queries. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.caps import PeriodCounts
from services.router.domain.intake import FUZZY_CANDIDATES
from services.router.domain.matching import Candidate
from services.router.models import (
    Activity,
    Assignment,
    DuplicateReview,
    Lead,
    LeadIdentity,
    LeadStage,
    LeadStatusChange,
    LeadSubmission,
    PendingActivity,
    ProcessedEvent,
    Rep,
    RoutingRule,
    SharedIdentity,
    SlaClock,
    Team,
)
from shared.db import lock_keys


class RouterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- leads and identities -------------------------------------------------------------
    async def leads_for_identities(
        self, identities: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[uuid.UUID]]:
        """The leads holding each identity (several may hold a phone), in lead id order (the
        match policy's answer does not depend on the order)."""
        if not identities:
            return {}
        rows = await self.session.execute(
            select(LeadIdentity.kind, LeadIdentity.value, LeadIdentity.lead_id)
            .where(tuple_(LeadIdentity.kind, LeadIdentity.value).in_(list(identities)))
            .order_by(LeadIdentity.kind, LeadIdentity.value, LeadIdentity.lead_id)
        )
        found: dict[tuple[str, str], list[uuid.UUID]] = {}
        for r in rows:
            found.setdefault((r.kind, r.value), []).append(r.lead_id)
        return found

    async def shared_identities(
        self, identities: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Those of ``identities`` that are no longer match keys."""
        if not identities:
            return set()
        rows = await self.session.execute(
            select(SharedIdentity.kind, SharedIdentity.value).where(
                tuple_(SharedIdentity.kind, SharedIdentity.value).in_(list(identities))
            )
        )
        return {(r.kind, r.value) for r in rows}

    async def lock_lead(self, lead_id: uuid.UUID) -> Lead | None:
        return await self.session.scalar(select(Lead).where(Lead.id == lead_id).with_for_update())

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

    async def reps(
        self, team_ids: Sequence[str] | None = None, *, refresh: bool = False
    ) -> list[Rep]:
        """``refresh``: read the rows again even if this session has them (after a lock)."""
        query = select(Rep).order_by(Rep.id)
        if refresh:
            query = query.execution_options(populate_existing=True)
        if team_ids is not None:
            query = query.where(Rep.team_id.in_(list(team_ids)))
        return list(await self.session.scalars(query))

    async def rep(self, rep_id: str, *, lock: bool = False) -> Rep | None:
        return await self.session.get(Rep, rep_id, with_for_update=lock or None)

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

    async def take_lead(self, rep_id: str, counts: PeriodCounts) -> None:
        """The rep became a lead's owner: one more open lead, and its new-lead counts (as
        :func:`~services.router.domain.assignment.took_lead` computed them), in one UPDATE."""
        await self.session.execute(
            update(Rep)
            .where(Rep.id == rep_id)
            .values(
                open_leads=func.greatest(Rep.open_leads + 1, 0),
                cap_day=counts.cap_day,
                day_count=counts.day_count,
                cap_week=counts.cap_week,
                week_count=counts.week_count,
            )
        )

    async def set_period_counts(self, counts: dict[str, PeriodCounts]) -> None:
        """Reps' new-lead counts, one statement for the lot (executemany by primary key)."""
        if counts:
            await self.session.execute(
                update(Rep),
                [
                    {
                        "id": rep_id,
                        "cap_day": c.cap_day,
                        "day_count": c.day_count,
                        "cap_week": c.cap_week,
                        "week_count": c.week_count,
                    }
                    for rep_id, c in sorted(counts.items())
                ],
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
        """Waiting for sales, in drain order (:func:`queue_drain_order`)."""
        rows = await self.session.scalars(
            select(Lead.id)
            .where(Lead.status == "queued")
            .offset(offset)
            .order_by(*queue_drain_order())
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

    async def lock_leads_skip_locked(self, lead_ids: Sequence[uuid.UUID]) -> list[Lead]:
        """The leads, locked in id order; those another transaction holds are left out."""
        if not lead_ids:
            return []
        return list(
            await self.session.scalars(
                select(Lead)
                .where(Lead.id.in_(sorted(set(lead_ids))))
                .order_by(Lead.id)
                .with_for_update(skip_locked=True)
            )
        )

    async def claim_due_clocks(
        self, lead_ids: Sequence[uuid.UUID], now: datetime
    ) -> list[SlaClock]:
        """The clocks of these (locked) leads that are still due, locked, in lead id order."""
        if not lead_ids:
            return []
        return list(
            await self.session.scalars(
                select(SlaClock)
                .where(
                    SlaClock.lead_id.in_(list(lead_ids)),
                    SlaClock.next_fire_at.is_not(None),
                    SlaClock.next_fire_at <= now,
                )
                .order_by(SlaClock.lead_id)
                .with_for_update(skip_locked=True)
            )
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

    async def status_changes(self, lead_id: uuid.UUID) -> list[LeadStatusChange]:
        rows = await self.session.scalars(
            select(LeadStatusChange)
            .where(LeadStatusChange.lead_id == lead_id)
            .order_by(LeadStatusChange.occurred_at, LeadStatusChange.recorded_at)
        )
        return list(rows)

    async def stages(self, lead_id: uuid.UUID) -> list[LeadStage]:
        rows = await self.session.scalars(
            select(LeadStage).where(LeadStage.lead_id == lead_id).order_by(LeadStage.entered_at)
        )
        return list(rows)

    async def duplicate_reviews(self, status: str, limit: int = 500) -> list[DuplicateReview]:
        rows = await self.session.scalars(
            select(DuplicateReview)
            .where(DuplicateReview.status == status)
            .order_by(DuplicateReview.created_at)
            .limit(limit)
        )
        return list(rows)

    async def record_stage_moves(self, moves: Sequence[Any]) -> None:
        """Close the stages the leads left and insert the ones they entered (two statements)."""
        if not moves:
            return
        left = sorted({m.lead_id for m in moves if m.previous_stage is not None})
        if left:
            at = max(m.entered_at for m in moves)
            await self.session.execute(
                update(LeadStage)
                .where(LeadStage.lead_id.in_(left), LeadStage.left_at.is_(None))
                .values(left_at=at)
            )
        last = {m.lead_id: i for i, m in enumerate(moves)}  # a lead may move twice in a batch
        await self.session.execute(
            insert(LeadStage.__table__),
            [
                {
                    "id": uuid.uuid4(),
                    "lead_id": m.lead_id,
                    "stage": m.stage,
                    "previous_stage": m.previous_stage,
                    "entered_at": m.entered_at,
                    "left_at": None if last[m.lead_id] == i else m.entered_at,
                    "cause": m.cause,
                }
                for i, m in enumerate(moves)
            ],
        )

    # --- admin merges (services/router/dedupe) --------------------------------------------
    async def merged_into(self, lead_id: uuid.UUID) -> uuid.UUID | None:
        """The lead an admin merged this one into (None: not merged, or no such lead)."""
        return await self.session.scalar(select(Lead.merged_into).where(Lead.id == lead_id))


class BatchRepository(RouterRepository):
    """Set-at-a-time reads and writes for a batch of arrivals (one transaction)."""

    async def mark_processed_many(self, event_ids: Sequence[str], now: datetime) -> set[str]:
        """Record event ids; returns those not processed before."""
        if not event_ids:
            return set()
        rows = await self.session.execute(
            insert(ProcessedEvent).on_conflict_do_nothing().returning(ProcessedEvent.event_id),
            [{"event_id": e, "processed_at": now} for e in dict.fromkeys(event_ids)],
        )
        return {r[0] for r in rows}

    async def lock_keys(self, keys: Sequence[str]) -> None:
        """Advisory locks on many keys in one statement (see :func:`shared.db.lock_keys`)."""
        await lock_keys(self.session, *keys)

    async def fuzzy_candidates_many(
        self, company_keys: Sequence[str], widen: Sequence[str] = ()
    ) -> dict[str, list[Candidate]]:
        """The oldest leads (up to FUZZY_CANDIDATES) whose ``company_key`` is each key; for a
        key in ``widen`` (the name keys arrivals look under) also those whose
        ``company_name_key`` is, so a form with only "Acme" finds the lead that came with
        acme.com. A domain key is only ever a ``company_key``: its look-up needs no OR."""
        widened = sorted(set(widen))
        exact = sorted(set(company_keys) - set(widened))
        if not exact and not widened:
            return {}
        lateral = (
            "SELECT l.id, l.first_name, l.last_name, l.profile->>'company' AS company,"
            " l.profile->>'company_domain' AS company_domain, l.created_at"
            " FROM router.lead AS l WHERE {where}"
            f" ORDER BY l.created_at LIMIT {FUZZY_CANDIDATES}"
        )
        rows = await self.session.execute(
            text(
                "SELECT k, c.id, c.first_name, c.last_name, c.company, c.company_domain,"
                " c.created_at FROM unnest(CAST(:exact AS text[])) AS k CROSS JOIN LATERAL ("
                + lateral.format(where="l.company_key = k")
                + ") AS c UNION ALL"
                " SELECT k, c.id, c.first_name, c.last_name, c.company, c.company_domain,"
                " c.created_at FROM unnest(CAST(:widened AS text[])) AS k CROSS JOIN LATERAL ("
                + lateral.format(where="l.company_key = k OR l.company_name_key = k")
                + ") AS c ORDER BY 1, 7"
            ),
            {"exact": exact, "widened": widened},
        )
        company_keys = [*exact, *widened]
        found: dict[str, list[Candidate]] = {k: [] for k in company_keys}
        for r in rows:
            found[r[0]].append(
                Candidate(
                    lead_id=r[1],
                    first_name=r[2],
                    last_name=r[3],
                    company=r[4],
                    company_domain=r[5],
                )
            )
        return found

    async def lock_lead_rows(self, lead_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
        """Whole lead rows, locked in id order."""
        if not lead_ids:
            return []
        table = Lead.__table__
        rows = await self.session.execute(
            select(table)
            .where(table.c.id.in_(sorted(set(lead_ids))))
            .order_by(table.c.id)
            .with_for_update()
        )
        return [dict(r._mapping) for r in rows]

    async def activity_rows(self, lead_ids: Sequence[uuid.UUID]) -> list[Any]:
        if not lead_ids:
            return []
        rows = await self.session.execute(
            select(Activity.lead_id, Activity.kind, Activity.touch_channel, Activity.occurred_at)
            .where(Activity.lead_id.in_(list(lead_ids)))
            .order_by(Activity.occurred_at)
        )
        return list(rows)

    async def clock_rows(self, lead_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
        """The leads' SLA clocks, locked (callers hold the leads: lead -> clock order)."""
        if not lead_ids:
            return []
        table = SlaClock.__table__
        rows = await self.session.execute(
            select(table)
            .where(table.c.lead_id.in_(sorted(set(lead_ids))))
            .order_by(table.c.lead_id)
            .with_for_update()
        )
        return [dict(r._mapping) for r in rows]

    async def pending_refs(self, refs: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not refs:
            return set()
        rows = await self.session.scalars(
            select(PendingActivity.lead_ref)
            .where(PendingActivity.lead_ref.in_(list(set(refs))))
            .distinct()
        )
        return set(rows)

    async def team_rows(
        self, team_ids: Sequence[str] | None = None, *, lock: bool = False
    ) -> list[Any]:
        table = Team.__table__
        query = select(table).order_by(table.c.id)
        if team_ids is not None:
            query = query.where(table.c.id.in_(sorted(set(team_ids))))
        if lock:
            query = query.with_for_update()
        return list(await self.session.execute(query))

    async def rep_rows(self, team_ids: Sequence[str] | None = None) -> list[Any]:
        table = Rep.__table__
        query = select(table).order_by(table.c.id)
        if team_ids is not None:
            query = query.where(table.c.team_id.in_(sorted(set(team_ids))))
        return list(await self.session.execute(query))

    async def rule_rows(self) -> list[Any]:
        table = RoutingRule.__table__
        return list(await self.session.execute(select(table).order_by(table.c.position)))

    # --- writes ---------------------------------------------------------------------------
    async def insert_rows(self, model: Any, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(model.__table__), list(rows))

    async def update_leads(self, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk UPDATE by primary key: each dict holds ``id`` and the columns to set."""
        if rows:
            await self.session.execute(update(Lead), list(rows))

    async def claim_identities_many(self, rows: Sequence[tuple[str, str, uuid.UUID]]) -> None:
        """Record that these leads hold these identities (a pair already recorded stays)."""
        if rows:
            await self.session.execute(
                insert(LeadIdentity).on_conflict_do_nothing(),
                [{"kind": k, "value": v, "lead_id": lead_id} for k, v, lead_id in rows],
            )

    async def insert_shared_identities(self, rows: Sequence[Any], now: datetime) -> list[str]:
        """Record identities detected as shared; returns the kinds of those new here."""
        if not rows:
            return []
        inserted = await self.session.execute(
            insert(SharedIdentity).on_conflict_do_nothing().returning(SharedIdentity.kind),
            [
                {
                    "kind": r.kind,
                    "value": r.value,
                    "reason": "many_people",
                    "lead_count": r.lead_count,
                    "detected_at": now,
                }
                for r in rows
            ],
        )
        return [r[0] for r in inserted]

    async def insert_reviews(self, rows: Sequence[Any], now: datetime) -> None:
        """Put doubtful matches on the review list (a pair already listed stays as it is)."""
        if rows:
            await self.session.execute(
                insert(DuplicateReview).on_conflict_do_nothing(),
                [
                    {
                        "lead_id": r.lead_id,
                        "other_lead_id": r.other_lead_id,
                        "reported_by": "leadflow",
                        "reason": "doubtful_match",
                        "evidence": r.evidence,
                        "status": "open",
                        "created_at": now,
                    }
                    for r in rows
                ],
            )

    async def end_assignments(self, lead_ids: Sequence[uuid.UUID], at: datetime) -> None:
        if lead_ids:
            await self.session.execute(
                update(Assignment)
                .where(Assignment.lead_id.in_(list(lead_ids)), Assignment.ended_at.is_(None))
                .values(ended_at=at)
            )

    async def add_open_leads(self, deltas: dict[str, int]) -> None:
        for rep_id, delta in sorted(deltas.items()):
            await self.add_open_lead(rep_id, delta)

    async def upsert_clocks(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        statement = insert(SlaClock.__table__)
        columns = [c for c in rows[0] if c != "lead_id"]
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["lead_id"], set_={c: statement.excluded[c] for c in columns}
            ),
            list(rows),
        )


def queue_drain_order() -> tuple[Any, ...]:
    """The order the fallback queue drains in: SQL leads first, then hot ones, then the
    oldest; the lead id breaks ties, so the order is total. ``GET /v1/admin/queue`` lists the
    queue in this order too."""
    return (
        (Lead.stage == "sql").desc(),
        (Lead.temperature == "hot").desc(),
        Lead.received_at,
        Lead.id,
    )
