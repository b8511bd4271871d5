"""Queries of the admin's merges and splits: the pair under review, the identities and
company keys to lock, moving submissions, identities and activities between leads, the
merge history. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from services.router.models import (
    Activity,
    DuplicateReview,
    Lead,
    LeadIdentity,
    LeadMerge,
    LeadSubmission,
    SharedIdentity,
)
from services.router.repository import RouterRepository

Identity = tuple[str, str]


class DedupeRepository(RouterRepository):
    # --- reading ------------------------------------------------------------------------
    async def lock_keys_of(self, lead_ids: Sequence[uuid.UUID]) -> list[Any]:
        """(id, status, merged_into, company_key, company_name_key) of these leads, unlocked:
        what to take advisory locks on before the rows are locked."""
        rows = await self.session.execute(
            select(
                Lead.id, Lead.status, Lead.merged_into, Lead.company_key, Lead.company_name_key
            ).where(Lead.id.in_(list(lead_ids)))
        )
        return list(rows)

    async def identities_held(
        self, lead_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, set[Identity]]:
        found: dict[uuid.UUID, set[Identity]] = {lead_id: set() for lead_id in lead_ids}
        rows = await self.session.execute(
            select(LeadIdentity.lead_id, LeadIdentity.kind, LeadIdentity.value).where(
                LeadIdentity.lead_id.in_(list(lead_ids))
            )
        )
        for r in rows:
            found[r.lead_id].add((r.kind, r.value))
        return found

    async def lock_leads(self, lead_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Lead]:
        """The leads, locked in id order, read again (this session may have seen them)."""
        rows = await self.session.scalars(
            select(Lead)
            .where(Lead.id.in_(sorted(set(lead_ids))))
            .order_by(Lead.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {lead.id: lead for lead in rows}

    async def review(
        self, lead_id: uuid.UUID, other_lead_id: uuid.UUID, *, lock: bool = False
    ) -> DuplicateReview | None:
        query = select(DuplicateReview).where(
            DuplicateReview.lead_id == lead_id, DuplicateReview.other_lead_id == other_lead_id
        )
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(query)

    async def open_reviews_between(self, a: uuid.UUID, b: uuid.UUID) -> list[DuplicateReview]:
        """Open reviews of this pair, either way round, locked."""
        rows = await self.session.scalars(
            select(DuplicateReview)
            .where(
                DuplicateReview.status == "open",
                or_(
                    (DuplicateReview.lead_id == a) & (DuplicateReview.other_lead_id == b),
                    (DuplicateReview.lead_id == b) & (DuplicateReview.other_lead_id == a),
                ),
            )
            .order_by(DuplicateReview.lead_id)
            .with_for_update()
        )
        return list(rows)

    async def reviews_of(self, lead_id: uuid.UUID, status: str = "open") -> list[DuplicateReview]:
        rows = await self.session.scalars(
            select(DuplicateReview)
            .where(
                DuplicateReview.status == status,
                or_(DuplicateReview.lead_id == lead_id, DuplicateReview.other_lead_id == lead_id),
            )
            .order_by(DuplicateReview.created_at)
        )
        return list(rows)

    async def leads_by_id(self, lead_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Lead]:
        if not lead_ids:
            return {}
        rows = await self.session.scalars(select(Lead).where(Lead.id.in_(sorted(set(lead_ids)))))
        return {lead.id: lead for lead in rows}

    async def merges_of(self, lead_id: uuid.UUID) -> list[LeadMerge]:
        """The merges and splits this lead was either side of, oldest first."""
        rows = await self.session.scalars(
            select(LeadMerge)
            .where(or_(LeadMerge.lead_id == lead_id, LeadMerge.other_lead_id == lead_id))
            .order_by(LeadMerge.at, LeadMerge.id)
        )
        return list(rows)

    async def submissions_in_order(self, lead_id: uuid.UUID) -> list[LeadSubmission]:
        """The lead's submissions in the order they arrived (read again: a split reads them
        before and after its locks)."""
        rows = await self.session.scalars(
            select(LeadSubmission)
            .where(LeadSubmission.lead_id == lead_id)
            .order_by(LeadSubmission.received_at, LeadSubmission.submission_id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    # --- moving things between leads ----------------------------------------------------
    async def move_submissions(
        self,
        from_lead: uuid.UUID,
        to_lead: uuid.UUID,
        note: str,
        submission_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[uuid.UUID]:
        """Move the lead's submissions (those named, else all) to another lead; each keeps
        its history, its detail gains ``note``. Returns the ids moved, in received order."""
        query = (
            update(LeadSubmission)
            .where(LeadSubmission.lead_id == from_lead)
            .values(
                lead_id=to_lead,
                matched_by="admin",
                detail=LeadSubmission.detail + f"; {note}",
            )
            .returning(LeadSubmission.submission_id, LeadSubmission.received_at)
        )
        if submission_ids is not None:
            query = query.where(LeadSubmission.submission_id.in_(list(submission_ids)))
        rows = await self.session.execute(query.execution_options(synchronize_session=False))
        return [r.submission_id for r in sorted(rows, key=lambda r: (r.received_at, str(r[0])))]

    async def give_identities(
        self, lead_id: uuid.UUID, identities: Sequence[Identity]
    ) -> list[Identity]:
        """The lead holds these too; returns those it did not hold before."""
        if not identities:
            return []
        rows = await self.session.execute(
            insert(LeadIdentity)
            .on_conflict_do_nothing()
            .returning(LeadIdentity.kind, LeadIdentity.value),
            [{"kind": k, "value": v, "lead_id": lead_id} for k, v in sorted(set(identities))],
        )
        return sorted((r[0], r[1]) for r in rows)

    async def drop_identities(
        self, lead_id: uuid.UUID, identities: Sequence[Identity] | None = None
    ) -> None:
        """The lead no longer holds these (None: any)."""
        query = delete(LeadIdentity).where(LeadIdentity.lead_id == lead_id)
        if identities is not None:
            if not identities:
                return
            query = query.where(tuple_(LeadIdentity.kind, LeadIdentity.value).in_(list(identities)))
        await self.session.execute(query)

    async def move_activities(self, from_lead: uuid.UUID, to_lead: uuid.UUID) -> int:
        result = await self.session.execute(
            update(Activity)
            .where(Activity.lead_id == from_lead)
            .values(lead_id=to_lead)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def share_identities(self, identities: Sequence[Identity], now: datetime) -> None:
        """Record identities several people use (no longer match keys), with how many leads
        hold each now; one recorded before keeps its reason."""
        if not identities:
            return
        rows = await self.session.execute(
            select(LeadIdentity.kind, LeadIdentity.value, func.count().label("n"))
            .where(tuple_(LeadIdentity.kind, LeadIdentity.value).in_(list(identities)))
            .group_by(LeadIdentity.kind, LeadIdentity.value)
        )
        counts = {(r.kind, r.value): int(r.n) for r in rows}
        await self.session.execute(
            insert(SharedIdentity).on_conflict_do_nothing(),
            [
                {"kind": k, "value": v, "reason": "split", "lead_count": counts.get((k, v), 2),
                 "detected_at": now}
                for k, v in sorted(set(identities))
            ],
        )  # fmt: skip

    def add_merge(self, record: LeadMerge) -> None:
        self.session.add(record)
