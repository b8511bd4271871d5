"""Made-up event data for test-sends: one builder per deliverable type, valid against the
type's JSON schema, fresh uuids each time, no real person (``example.com`` addresses, a
placeholder name, a reserved-for-fiction phone number)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.events.models import (
    EventModel,
    IdentityHashRef,
    IdentityRef,
    LeadAssigned,
    LeadData,
    LeadErased,
    LeadLifecycle,
    LeadMerge,
    LeadSla,
    NurtureLifecycle,
    NurtureStep,
    ScoreData,
    SlaWindow,
)
from shared.events.registry import (
    LEAD_ASSIGNED,
    LEAD_ERASED,
    LEAD_LIFECYCLE,
    LEAD_MERGE,
    LEAD_SLA,
    NURTURE_LIFECYCLE,
    NURTURE_STEP,
)

DEFAULT_TYPE = LEAD_ASSIGNED.type
EMAIL = "test.person@example.com"


def _lead() -> LeadData:
    return LeadData(email=EMAIL, first_name="Test", company="Example Inc.")


def _score() -> ScoreData:
    return ScoreData(
        total=42, fit=35, engagement=7, temperature="warm", stage="mql", breakdown=[],
        rules_version="sample",
    )  # fmt: skip


def _assigned(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return LeadAssigned(
        lead_id=lead_id, submission_id=uuid.uuid4(), outcome="assigned", kind="initial",
        rep_id="rep-sample", team_id="team-sample", rule="sample-rule",
        reason="a sample decision sent by test-send", explanation={"sample": True},
        score=_score(), purchased_list=False,
        sla=SlaWindow(started_at=at, warn_at=at + timedelta(minutes=45), due_at=at + timedelta(hours=1)),
        lead=_lead(), received_at=at, decided_at=at, channel="web",
    )  # fmt: skip


def _sla(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return LeadSla(
        lead_id=lead_id, kind="reassignment", team_id="team-sample", rep_id="rep-sample",
        new_rep_id="rep-sample-2", started_at=at - timedelta(hours=1), due_at=at, at=at,
        business_minutes_elapsed=60.0, detail="a sample SLA event sent by test-send",
    )  # fmt: skip


def _lifecycle(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return LeadLifecycle(
        lead_id=lead_id, change="recycled", status="recycled", reason="bad_timing",
        marketing="remarket", stage="recycled", previous_stage="sql", rep_id="rep-sample",
        owner_rep_id=None, released_rep_id="rep-sample", team_id="team-sample",
        reported_by="crm", occurred_at=at, at=at, detail="a sample lifecycle change",
    )  # fmt: skip


def _merge(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return LeadMerge(
        change="merged", lead_id=lead_id, other_lead_id=uuid.uuid4(), how="admin",
        submission_ids=[uuid.uuid4()], identities=[IdentityRef(kind="email", value=EMAIL)],
        evidence=["a sample merge sent by test-send"], decided_by="admin",
        reason="a sample merge", at=at,
    )  # fmt: skip


def _erased(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return LeadErased(
        erasure_id=uuid.uuid4(), lead_id=lead_id, lead_ids=[lead_id],
        submission_ids=[uuid.uuid4()], identity_hashes=[IdentityHashRef(kind="email", hash="0" * 64)],
        requested_at=at, requested_by="admin",
    )  # fmt: skip


def _step(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return NurtureStep(
        step_id=uuid.uuid4(), lead_id=lead_id, enrollment_id=uuid.uuid4(),
        sequence_id="sample-sequence", step=1, steps_total=3, channel="email",
        template_id="sample-template", to=EMAIL, first_name="Test", timezone="UTC",
        due_at=at, emitted_at=at,
    )  # fmt: skip


def _nurture_lifecycle(lead_id: uuid.UUID, at: datetime) -> EventModel:
    return NurtureLifecycle(
        lead_id=lead_id, kind="reengaged", sequence_id="sample-sequence",
        enrollment_id=uuid.uuid4(), list="active", reason="a sample lifecycle change",
        segment="over_1_year", at=at,
    )  # fmt: skip


SAMPLES: dict[str, Callable[[uuid.UUID, datetime], EventModel]] = {
    LEAD_ASSIGNED.type: _assigned,
    LEAD_SLA.type: _sla,
    LEAD_LIFECYCLE.type: _lifecycle,
    LEAD_MERGE.type: _merge,
    LEAD_ERASED.type: _erased,
    NURTURE_STEP.type: _step,
    NURTURE_LIFECYCLE.type: _nurture_lifecycle,
}


def sample(event_type: str, at: datetime) -> EventModel:
    """Made-up data of ``event_type`` (a deliverable type) about a fresh lead id."""
    return SAMPLES[event_type](uuid.uuid4(), at)
