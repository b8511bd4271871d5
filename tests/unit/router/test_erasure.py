"""The tombstone an erasure leaves (services/router/domain/erasure.py): ids, counts and the
decisions, never the person."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.router.domain.erasure import DecisionFacts, LeadFacts, erasure_id_for, summary

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEAD = uuid.UUID("0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f")


def facts(lead_id: uuid.UUID = LEAD, **kw: object) -> LeadFacts:
    base: dict[str, object] = dict(
        id=lead_id, status="assigned", lifecycle_stage="mql", stage="mql", temperature="warm",
        score=42, team_id="emea-mid", owner_rep_id="rep-ana", purchased_list=False,
        source_id="website", channel="web", received_at=AT, merged_into=None,
    )  # fmt: skip
    return LeadFacts(**{**base, **kw})  # type: ignore[arg-type]


def decision(minutes: int, lead_id: uuid.UUID = LEAD) -> DecisionFacts:
    return DecisionFacts(
        lead_id=lead_id, outcome="assigned", kind="initial", rep_id="rep-ana", team_id="emea-mid",
        queue=None, rule="dach", score=42, decided_at=AT + timedelta(minutes=minutes),
    )  # fmt: skip


@given(st.uuids())
def test_an_erasure_id_is_one_per_lead(lead_id: uuid.UUID) -> None:
    assert erasure_id_for(lead_id) == erasure_id_for(lead_id)
    assert erasure_id_for(lead_id) != erasure_id_for(uuid.UUID(int=lead_id.int ^ 1))
    assert erasure_id_for(lead_id) != lead_id


def test_the_summary_keeps_decisions_in_order_and_is_plain_json() -> None:
    merged = uuid.uuid4()
    kept = summary(
        [facts(), facts(merged, status="merged", merged_into=LEAD, team_id=None)],
        [decision(5), decision(1, merged), decision(3)],
    )
    assert [d["decided_at"] for d in kept["decisions"]] == [
        (AT + timedelta(minutes=m)).isoformat() for m in (1, 3, 5)
    ]
    assert kept["leads"][1] == kept["leads"][1] | {"status": "merged", "merged_into": str(LEAD)}
    assert json.loads(json.dumps(kept)) == kept
    assert {k for lead in kept["leads"] for k in lead} == {
        "lead_id", "status", "lifecycle_stage", "stage", "temperature", "score", "team_id",
        "rep_id", "purchased_list", "source", "channel", "received_at", "merged_into",
    }  # fmt: skip
