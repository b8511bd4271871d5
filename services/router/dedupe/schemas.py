"""The duplicate review and merge/split admin API at the boundary: request bodies, and the
views of a review, a lead in brief and a merge record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.router.models import DuplicateReview, Lead, LeadMerge

REVIEW_STATUSES = ("open", "merged", "dismissed")


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000, description="why (kept with the decision)")
    decided_by: str = Field(
        "admin", min_length=1, max_length=64, description="who decided (kept and published)"
    )


class MergeReviewIn(Decision):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "survivor": "0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f",
                    "note": "same person, typo in the name",
                    "decided_by": "ops-maria",
                }
            ]
        }
    )

    survivor: uuid.UUID | None = Field(
        None, description="the lead that stays: one of the pair; default the older one"
    )


class DismissIn(Decision):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"note": "father and son at one company", "decided_by": "ops-maria"}]
        }
    )

    pass


class MergeLeadIn(Decision):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lead_id": "7d2a9e4b-1c3f-4b5a-8e6d-0f1a2b3c4d5e",
                    "note": "the CRM knows them as one",
                    "decided_by": "ops-maria",
                }
            ]
        }
    )

    lead_id: uuid.UUID = Field(description="the lead merged into the one in the path")


class SplitIn(Decision):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "submission_ids": ["7d2a9e4b-1c3f-4b5a-8e6d-0f1a2b3c4d5e"],
                    "note": "a colleague on the shared switchboard number",
                    "decided_by": "ops-maria",
                }
            ]
        }
    )

    submission_ids: list[uuid.UUID] = Field(
        min_length=1, description="the submissions that leave the lead for a lead of their own"
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def lead_summary(lead_id: uuid.UUID, lead: Lead | None) -> dict[str, Any]:
    """A lead in brief, as the review list shows each side."""
    if lead is None:
        return {"id": str(lead_id), "missing": True}
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or None
    profile = lead.profile or {}
    return {
        "id": str(lead.id),
        "name": name,
        "email": profile.get("email"),
        "company": profile.get("company") or profile.get("company_domain"),
        "status": lead.status,
        "owner": lead.owner_rep_id,
        "team": lead.team_id,
        "merged_into": str(lead.merged_into) if lead.merged_into else None,
    }


def review_out(review: DuplicateReview, leads: Mapping[uuid.UUID, Lead]) -> dict[str, Any]:
    return {
        "lead_id": str(review.lead_id),
        "other_lead_id": str(review.other_lead_id),
        "lead": lead_summary(review.lead_id, leads.get(review.lead_id)),
        "other_lead": lead_summary(review.other_lead_id, leads.get(review.other_lead_id)),
        "reason": review.reason,
        "reported_by": review.reported_by,
        "evidence": review.evidence,
        "status": review.status,
        "created_at": _iso(review.created_at),
        "decided_at": _iso(review.decided_at),
        "decided_by": review.decided_by,
        "note": review.note,
    }


def merge_out(record: LeadMerge) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "action": record.action,
        "lead_id": str(record.lead_id),
        "other_lead_id": str(record.other_lead_id),
        "submission_ids": record.submission_ids,
        "identities": record.identities,
        "decided_by": record.decided_by,
        "reason": record.reason,
        "evidence": record.evidence,
        "at": _iso(record.at),
    }
