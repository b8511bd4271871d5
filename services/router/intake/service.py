"""``leads.received.v1`` -> one lead per person: match, merge, score, route. One transaction.

Same person, same moment: the partition key (the match key) serializes arrivals that
share an email; unique identities catch the rest (the loser retries and then matches);
an advisory lock per company serializes creations that only fuzzy matching can join."""

from __future__ import annotations

import uuid

from services.router import metrics
from services.router.activities.service import apply_pending
from services.router.assignment.service import Origin, decide
from services.router.context import RouterContext
from services.router.convert import profile_of
from services.router.domain.matching import company_key, fuzzy_match, merge_fields
from services.router.intake.scoring import rescore
from services.router.models import Lead, LeadSubmission, ProcessedEvent
from services.router.repository import RouterRepository
from shared.db import lead_ref_key, lock_keys
from shared.domain.contact import canonical_email
from shared.events.envelope import CloudEvent
from shared.events.models import LeadReceived
from shared.metrics import on_commit
from shared.outbox import mark_processed


class IdentityRace(Exception):
    """Another transaction created a lead with one of these identities first: retry, then match."""


def identities(data: LeadReceived) -> list[tuple[str, str]]:
    keys = []
    if data.lead.email:
        keys.append(("email", canonical_email(data.lead.email)))
    if data.lead.phone:
        keys.append(("phone", data.lead.phone))
    return keys


async def handle_received(
    ctx: RouterContext, repo: RouterRepository, event: CloudEvent, data: LeadReceived
) -> None:
    now = ctx.clock()
    if not await mark_processed(repo.session, ProcessedEvent, event.id, now):
        return
    await lock_keys(repo.session, lead_ref_key(data.lead_id))
    incoming = data.lead.model_dump(mode="json")
    keys = identities(data)
    found = await repo.lead_ids_for_identities(keys)

    lead: Lead | None = None
    matched_by, detail = "new", "no earlier lead matched"
    if found:
        key = next(k for k in keys if k in found)  # email before phone
        lead = await repo.lock_lead(found[key])
        matched_by, detail = key[0], f"same {key[0]} as lead {found[key]}"
        others = {str(v) for v in found.values() if v != found[key]}
        if others:
            detail += f"; other identities belong to {', '.join(sorted(others))} (left unmerged)"
    else:
        profile = profile_of(
            incoming,
            source_id=data.source.id,
            channel=data.channel,
            purchased_list=data.purchased_list,
        )
        company = company_key(profile)
        if company is not None:
            await repo.lock_company(company)
            candidates = await repo.fuzzy_candidates(company)
            match = fuzzy_match(profile, candidates, ctx.match_thresholds)
            if match is not None:
                lead = await repo.lock_lead(uuid.UUID(match.lead_id))
                matched_by, detail = "name_company", match.detail

    filled: tuple[str, ...] = ()
    conflicts: list[dict[str, str]] = []
    kind: str
    if lead is None:
        lead = Lead(
            id=uuid.uuid4(),
            status="new",
            is_name=data.purchased_list,
            profile=incoming,
            first_name=data.lead.first_name,
            last_name=data.lead.last_name,
            company_key=company_key(
                profile_of(incoming, source_id=None, channel=None, purchased_list=False)
            ),
            source_id=data.source.id,
            channel=data.channel,
            received_at=data.received_at,
            score=0,
            temperature="cold",
            stage="none",
            score_breakdown={},
            owner_rep_id=None,
            team_id=None,
            queue=None,
            first_touch_at=None,
            last_activity_at=None,
            created_at=now,
            updated_at=now,
        )
        repo.add_lead(lead)
        await repo.session.flush()
        if await repo.claim_identities(lead.id, keys):
            raise IdentityRace(str(keys))
        kind = "initial"
    else:
        merged = merge_fields(lead.profile, incoming)
        lead.profile = merged.merged
        lead.first_name = lead.first_name or data.lead.first_name
        lead.last_name = lead.last_name or data.lead.last_name
        lead.is_name = lead.is_name and data.purchased_list
        filled = merged.filled
        conflicts = [
            {"field": c.field, "kept": c.kept, "incoming": c.incoming} for c in merged.conflicts
        ]
        taken = await repo.claim_identities(lead.id, keys)
        if taken:
            detail += f"; identities kept by other leads: {taken}"
        on_commit(repo.session, metrics.MERGES.labels(matched_by).inc)
        kind = "initial"  # decide() keeps a known lead with its active owner (sticky)

    repo.add_submission(
        LeadSubmission(
            submission_id=data.lead_id,
            lead_id=lead.id,
            event_id=event.id,
            source_id=data.source.id,
            channel=data.channel,
            matched_by=matched_by,
            detail=detail,
            filled=list(filled),
            conflicts=conflicts,
            received_at=data.received_at,
            processed_at=now,
        )
    )
    if lead.status == "converted":
        return
    await rescore(ctx, repo, lead, now, new=matched_by == "new")
    await decide(
        ctx,
        repo,
        lead,
        kind=kind,  # type: ignore[arg-type]
        cause_event_id=event.id,
        submission_id=data.lead_id,
        now=now,
        started_at=data.received_at,
        origin=Origin(data.channel, data.trade_show),
    )
    await apply_pending(ctx, repo, lead, [data.lead_id, lead.id], now)
