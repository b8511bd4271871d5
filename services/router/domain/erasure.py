"""Erasure as values: which leads one erasure covers, its id, and the tombstone it leaves
(counts and the non-personal parts of the decisions). No session, no clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# erasure ids derive from the erased lead, so two admins erasing one lead at once write one
# tombstone (the second insert conflicts) and a repeated request finds the first
ERASURE_NAMESPACE = uuid.UUID("2f1d9c4e-7b3a-4e58-9a61-0c5e8d7f3b21")


def erasure_id_for(lead_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(ERASURE_NAMESPACE, f"erasure:{lead_id}")


@dataclass(frozen=True)
class LeadFacts:
    """What stays known about an erased lead: nothing that names the person."""

    id: uuid.UUID
    status: str
    lifecycle_stage: str
    stage: str
    temperature: str
    score: int
    team_id: str | None
    owner_rep_id: str | None
    purchased_list: bool
    source_id: str
    channel: str
    received_at: datetime
    merged_into: uuid.UUID | None


@dataclass(frozen=True)
class DecisionFacts:
    lead_id: uuid.UUID
    outcome: str
    kind: str
    rep_id: str | None
    team_id: str | None
    queue: str | None
    rule: str | None
    score: int | None
    decided_at: datetime


def summary(leads: Iterable[LeadFacts], decisions: Iterable[DecisionFacts]) -> dict[str, Any]:
    """The non-personal summary a tombstone keeps: per lead its last status, stage, team, rep,
    score and temperature; every routing decision without its explanation."""
    return {
        "leads": [
            {
                "lead_id": str(f.id),
                "status": f.status,
                "lifecycle_stage": f.lifecycle_stage,
                "stage": f.stage,
                "temperature": f.temperature,
                "score": f.score,
                "team_id": f.team_id,
                "rep_id": f.owner_rep_id,
                "purchased_list": f.purchased_list,
                "source": f.source_id,
                "channel": f.channel,
                "received_at": f.received_at.isoformat(),
                "merged_into": str(f.merged_into) if f.merged_into else None,
            }
            for f in leads
        ],
        "decisions": [
            {
                "lead_id": str(d.lead_id),
                "outcome": d.outcome,
                "kind": d.kind,
                "rep_id": d.rep_id,
                "team_id": d.team_id,
                "queue": d.queue,
                "rule": d.rule,
                "score": d.score,
                "decided_at": d.decided_at.isoformat(),
            }
            for d in sorted(decisions, key=lambda d: (d.decided_at, str(d.lead_id)))
        ],
    }
