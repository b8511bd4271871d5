"""The erasure's queries on the router's schema: resolving what an erasure covers, erasing
or redacting each table's rows about those leads, and the tombstones."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, cast, delete, exists, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.domain.erasure import DecisionFacts, LeadFacts
from services.router.models import (
    Activity,
    Assignment,
    DuplicateReview,
    ErasedIdentity,
    ErasedRef,
    Erasure,
    Lead,
    LeadIdentity,
    LeadMerge,
    LeadStatusChange,
    LeadSubmission,
    Outbox,
    PendingActivity,
    Rep,
    SharedIdentity,
    SlaClock,
)
from shared.domain.erasure import IdentityHash

# a chain of merges longer than this is not followed (none is: merges chain one step)
MAX_MERGE_HOPS = 16


class ErasureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- tombstones ------------------------------------------------------------------------

    async def tombstone(self, erasure_id: uuid.UUID) -> Erasure | None:
        return await self.session.get(Erasure, erasure_id)

    async def tombstone_for_ref(self, ref: uuid.UUID) -> Erasure | None:
        """The erasure that erased this lead or submission id, if any."""
        return await self.session.scalar(
            select(Erasure)
            .join(ErasedRef, ErasedRef.erasure_id == Erasure.id)
            .where(ErasedRef.ref_id == ref)
        )

    async def tombstones_for_hashes(self, hashes: Sequence[IdentityHash]) -> list[Erasure]:
        if not hashes:
            return []
        pairs = [and_(ErasedIdentity.kind == h.kind, ErasedIdentity.hash == h.hash) for h in hashes]
        ids = select(ErasedIdentity.erasure_id).where(or_(*pairs))
        return list((await self.session.scalars(select(Erasure).where(Erasure.id.in_(ids)))).all())

    async def erased_refs(self, refs: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not refs:
            return set()
        rows = await self.session.scalars(
            select(ErasedRef.ref_id).where(ErasedRef.ref_id.in_(sorted(set(refs))))
        )
        return set(rows)

    async def erased_identities(
        self, hashes: Sequence[IdentityHash]
    ) -> dict[IdentityHash, datetime]:
        if not hashes:
            return {}
        wanted = set(hashes)
        rows = await self.session.execute(
            select(ErasedIdentity.kind, ErasedIdentity.hash, ErasedIdentity.erased_at).where(
                ErasedIdentity.hash.in_(sorted({h.hash for h in wanted}))
            )
        )
        found = {IdentityHash(r.kind, r.hash): r.erased_at for r in rows}
        return {h: at for h, at in found.items() if h in wanted}

    async def add_tombstone(
        self,
        tombstone: dict[str, Any],
        refs: Sequence[tuple[uuid.UUID, str]],
        hashes: Sequence[IdentityHash],
    ) -> bool:
        """Insert the tombstone, its refs and hashes; False when it exists already."""
        created = await self.session.scalar(
            insert(Erasure).values(**tombstone).on_conflict_do_nothing().returning(Erasure.id)
        )
        if created is None:
            return False
        if refs:
            await self.session.execute(
                insert(ErasedRef)
                .values([{"ref_id": r, "kind": k, "erasure_id": created} for r, k in refs])
                .on_conflict_do_nothing()
            )
        if hashes:
            stmt = insert(ErasedIdentity).values(
                [
                    {
                        "kind": h.kind,
                        "hash": h.hash,
                        "erased_at": tombstone["requested_at"],
                        "erasure_id": created,
                    }
                    for h in sorted(set(hashes))
                ]
            )
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["kind", "hash"],
                    set_={
                        "erased_at": func.greatest(
                            ErasedIdentity.erased_at, stmt.excluded.erased_at
                        ),
                        "erasure_id": stmt.excluded.erasure_id,
                    },
                )
            )
        return True

    # --- what an erasure covers ------------------------------------------------------------

    async def lead_for_ref(self, ref: uuid.UUID) -> uuid.UUID | None:
        """The lead of a lead id or a submission id, followed to the lead it was merged into."""
        lead_id = await self.session.scalar(select(Lead.id).where(Lead.id == ref))
        if lead_id is None:
            lead_id = await self.session.scalar(
                select(LeadSubmission.lead_id).where(LeadSubmission.submission_id == ref)
            )
        for _ in range(MAX_MERGE_HOPS):
            if lead_id is None:
                return None
            into = await self.session.scalar(select(Lead.merged_into).where(Lead.id == lead_id))
            if into is None:
                return lead_id
            lead_id = into
        return lead_id

    async def leads_for_identity(self, kind: str, value: str) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(LeadIdentity.lead_id).where(
                LeadIdentity.kind == kind, LeadIdentity.value == value
            )
        )
        return sorted(set(rows))

    async def held_by_others(
        self, identities: Sequence[tuple[str, str]], lead_ids: Sequence[uuid.UUID]
    ) -> set[tuple[str, str]]:
        """Which of these identities are not the erased person's alone: marked shared, or
        held by a lead outside ``lead_ids`` (a colleague on the same switchboard)."""
        if not identities:
            return set()
        pairs = [and_(SharedIdentity.kind == k, SharedIdentity.value == v) for k, v in identities]
        marked = {
            (r.kind, r.value)
            for r in await self.session.execute(
                select(SharedIdentity.kind, SharedIdentity.value).where(or_(*pairs))
            )
        }
        held = [and_(LeadIdentity.kind == k, LeadIdentity.value == v) for k, v in identities]
        others = {
            (r.kind, r.value)
            for r in await self.session.execute(
                select(LeadIdentity.kind, LeadIdentity.value).where(
                    or_(*held), LeadIdentity.lead_id.not_in(lead_ids)
                )
            )
        }
        return marked | others

    async def merged_closure(self, lead_id: uuid.UUID) -> list[uuid.UUID]:
        """The lead and every lead merged into it, directly or through another."""
        rows = await self.session.execute(
            text(
                "WITH RECURSIVE c(id) AS (SELECT CAST(:id AS uuid) UNION"
                " SELECT l.id FROM router.lead l JOIN c ON l.merged_into = c.id)"
                " SELECT id FROM c"
            ),
            {"id": str(lead_id)},
        )
        found = [r[0] for r in rows]
        return [lead_id, *sorted(i for i in found if i != lead_id)]

    async def submission_ids(self, lead_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(LeadSubmission.submission_id).where(LeadSubmission.lead_id.in_(lead_ids))
        )
        return sorted(rows)

    async def lock_leads(self, lead_ids: Sequence[uuid.UUID]) -> list[Lead]:
        rows = await self.session.scalars(
            select(Lead).where(Lead.id.in_(lead_ids)).order_by(Lead.id).with_for_update()
        )
        return list(rows)

    async def identities(self, lead_ids: Sequence[uuid.UUID]) -> list[tuple[str, str]]:
        rows = await self.session.execute(
            select(LeadIdentity.kind, LeadIdentity.value).where(LeadIdentity.lead_id.in_(lead_ids))
        )
        return sorted({(r.kind, r.value) for r in rows})

    async def submitted_contacts(
        self, lead_ids: Sequence[uuid.UUID]
    ) -> list[tuple[str | None, str | None]]:
        """(email, phone) as each submission of the leads gave them."""
        rows = await self.session.execute(
            select(
                LeadSubmission.fields["email"].astext, LeadSubmission.fields["phone"].astext
            ).where(LeadSubmission.lead_id.in_(lead_ids))
        )
        return [(r[0], r[1]) for r in rows]

    async def decisions(self, lead_ids: Sequence[uuid.UUID]) -> list[DecisionFacts]:
        rows = await self.session.scalars(
            select(Assignment).where(Assignment.lead_id.in_(lead_ids))
        )
        return [
            DecisionFacts(
                lead_id=a.lead_id,
                outcome=a.outcome,
                kind=a.kind,
                rep_id=a.rep_id,
                team_id=a.team_id,
                queue=a.queue,
                rule=a.rule,
                score=a.score.get("total") if isinstance(a.score, dict) else None,
                decided_at=a.decided_at,
            )
            for a in rows
        ]

    # --- erasing ---------------------------------------------------------------------------

    async def erase(
        self, leads: Sequence[Lead], submission_ids: Sequence[uuid.UUID], now: datetime
    ) -> dict[str, int]:
        """Erase or redact every row about these leads; returns the rows touched per table.
        Kept without the person: the lead row (status erased), its stages, status history,
        decisions (team, rep, rule, score), activities, SLA clock (stopped), submissions (ids,
        source, channel, times) and merge history (ids)."""
        ids = [lead.id for lead in leads]
        refs = sorted({*ids, *submission_ids})
        texts = [str(r) for r in refs]
        counts: dict[str, int] = {}

        async def run(table: str, stmt: Any) -> None:
            result = await self.session.execute(stmt)
            counts[table] = counts.get(table, 0) + (result.rowcount or 0)

        held = await self.identities(ids)
        await run("lead_identity", delete(LeadIdentity).where(LeadIdentity.lead_id.in_(ids)))
        for kind, value in held:  # a shared marker no other lead holds any more goes too
            await run(
                "shared_identity",
                delete(SharedIdentity).where(
                    SharedIdentity.kind == kind,
                    SharedIdentity.value == value,
                    ~exists().where(LeadIdentity.kind == kind, LeadIdentity.value == value),
                ),
            )
        await run(
            "lead_submission",
            update(LeadSubmission)
            .where(LeadSubmission.lead_id.in_(ids))
            .values(fields=None, evidence=None, detail="", conflicts=cast(literal("[]"), JSONB)),
        )
        await run(
            "assignment",
            update(Assignment)
            .where(Assignment.lead_id.in_(ids))
            .values(
                reason="",
                explanation=cast(literal("{}"), JSONB),
                score=Assignment.score.op("-")(literal("breakdown")),
            ),
        )
        await run(
            "lead_status_change",
            update(LeadStatusChange).where(LeadStatusChange.lead_id.in_(ids)).values(detail=""),
        )
        await run(
            "duplicate_review",
            update(DuplicateReview)
            .where(or_(DuplicateReview.lead_id.in_(ids), DuplicateReview.other_lead_id.in_(ids)))
            .values(evidence=cast(literal("{}"), JSONB), note=None),
        )
        # an open question about an erased lead has no answer any more: it is dismissed, so
        # nobody merges a live lead into the tombstone
        await self.session.execute(
            update(DuplicateReview)
            .where(
                or_(DuplicateReview.lead_id.in_(ids), DuplicateReview.other_lead_id.in_(ids)),
                DuplicateReview.status == "open",
            )
            .values(status="dismissed", decided_at=now, decided_by="erasure")
        )
        await run(
            "lead_merge",
            update(LeadMerge)
            .where(or_(LeadMerge.lead_id.in_(ids), LeadMerge.other_lead_id.in_(ids)))
            .values(
                identities=cast(literal("[]"), JSONB),
                evidence=cast(literal("{}"), JSONB),
                reason="",
            ),
        )
        await run(
            "pending_activity", delete(PendingActivity).where(PendingActivity.lead_ref.in_(refs))
        )
        data = Outbox.event["data"]
        await run(
            "outbox",
            delete(Outbox).where(
                or_(
                    Outbox.event["subject"].astext.in_(texts),
                    data["lead_id"].astext.in_(texts),
                    data["submission_id"].astext.in_(texts),
                    data["other_lead_id"].astext.in_(texts),
                )
            ),
        )
        await run(
            "sla_clock",
            update(SlaClock)
            .where(SlaClock.lead_id.in_(ids), SlaClock.next_fire_at.is_not(None))
            .values(
                next_fire_at=None,
                state="stopped",
                stopped_at=func.coalesce(SlaClock.stopped_at, now),
            ),
        )
        for lead in leads:  # the rep's capacity frees, as when any owner lets a lead go
            if lead.status == "assigned" and lead.owner_rep_id is not None:
                await self.session.execute(
                    update(Rep)
                    .where(Rep.id == lead.owner_rep_id)
                    .values(open_leads=func.greatest(Rep.open_leads - 1, 0))
                )
        counts["activity"] = (
            await self.session.scalar(
                select(func.count()).select_from(Activity).where(Activity.lead_id.in_(ids))
            )
            or 0
        )
        await run(
            "lead",
            update(Lead)
            .where(Lead.id.in_(ids))
            .values(
                status="erased", profile=cast(literal("{}"), JSONB), first_name=None, last_name=None,
                company_key=None, company_name_key=None, score_breakdown=cast(literal("{}"), JSONB),
                owner_rep_id=None, queue=None, updated_at=now,
            ),
        )  # fmt: skip
        return counts


def lead_facts(lead: Lead) -> LeadFacts:
    return LeadFacts(
        id=lead.id,
        status=lead.status,
        lifecycle_stage=lead.lifecycle_stage,
        stage=lead.stage,
        temperature=lead.temperature,
        score=lead.score,
        team_id=lead.team_id,
        owner_rep_id=lead.owner_rep_id,
        purchased_list=lead.is_name,
        source_id=lead.source_id,
        channel=lead.channel,
        received_at=lead.received_at,
        merged_into=lead.merged_into,
    )
