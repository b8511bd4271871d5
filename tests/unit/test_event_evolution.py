"""Events evolve compatibly: readers ignore what they do not know, writers send only what is
declared.

Every event type is read from JSON that a newer producer might send (an unknown field in the
envelope, in ``data`` and in every nested object of ``data``): it reads as the same value and
the unknown fields are gone. Building an event in code with an undeclared field fails, and
what producers send matches the checked-in schema with every object closed."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from shared.events.envelope import CloudEvent, InvalidEvent, make_event
from shared.events.models import (
    ActivityKind,
    ActivityReceived,
    EndpointDisabled,
    EventModel,
    IdentityHashRef,
    IdentityRef,
    LeadAssigned,
    LeadData,
    LeadErased,
    LeadLifecycle,
    LeadMerge,
    LeadReceived,
    LeadSla,
    NurtureLifecycle,
    NurtureStep,
    ScoreData,
    ScoreItemData,
    SlaWindow,
    SourceRef,
    TradeShowRef,
    Utm,
)
from shared.events.registry import EVENT_TYPES, EventType

AT = datetime(2026, 11, 23, 14, 5, tzinfo=UTC)
LEAD_ID = uuid.UUID("5d1b0c5e-8f0e-4c7a-9a43-1f2e3d4c5b6a")
UNKNOWN = "added_in_a_later_minor"
# An unknown field may hold anything JSON can: the reader must not even look at it.
UNKNOWN_VALUE: Any = {"nested": [1, "two", {"three": None}], "flag": True}

SHOW = TradeShowRef(
    show_id="ces-2026",
    name="CES 2026",
    end_date=date(2026, 1, 9),
    timezone="America/Los_Angeles",
    import_id=uuid.UUID("9a3c1e2f-0b4d-4e5f-8a6b-7c8d9e0f1a2b"),
    row_number=7,
)
LEAD = LeadData(
    email="ada@example.com",
    phone="+442079460018",
    first_name="Ada",
    company="Analytical Engines",
    timezone="Europe/London",
    utm=Utm(source="google", campaign="spring"),
    custom={"plan": "pro", "seats": 5},
)
SCORE = ScoreData(
    total=42,
    fit=35,
    engagement=7,
    temperature="warm",
    stage="mql",
    breakdown=[
        ScoreItemData(
            criterion="job_title", label="VP", kind="fit", band="very", points=9, detail="VP"
        )
    ],
    rules_version="2026-11-01",
)

# One event of every type, with every nested object present, as its producer builds it.
SAMPLES: dict[str, EventModel] = {
    "io.leadflow.lead.received.v1": LeadReceived(
        lead_id=LEAD_ID,
        match_key="email:ada@example.com",
        source=SourceRef(id="trade-show", kind="trade_show"),
        channel="trade_show",
        purchased_list=False,
        received_at=AT,
        lead=LEAD,
        trade_show=SHOW,
    ),
    "io.leadflow.lead.activity.v1": ActivityReceived(
        activity_id=uuid.UUID("0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"),
        lead_id=LEAD_ID,
        kind=ActivityKind.touch,
        touch_channel="call",
        rep_id="rep-ana",
        occurred_at=AT,
        received_at=AT,
        source=SourceRef(id="crm", kind="signed"),
        metadata={"duration": 120},
    ),
    "io.leadflow.lead.assigned.v1": LeadAssigned(
        lead_id=LEAD_ID,
        submission_id=uuid.UUID("1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"),
        outcome="assigned",
        kind="initial",
        rep_id="rep-ana",
        team_id="emea",
        rule="emea-enterprise",
        reason="EMEA enterprise lead, weighted round robin picked rep-ana",
        explanation={"teams_tried": [{"team": "emea", "candidates": []}]},
        score=SCORE,
        purchased_list=False,
        sla=SlaWindow(
            started_at=AT, warn_at=AT + timedelta(minutes=45), due_at=AT + timedelta(hours=1)
        ),
        lead=LEAD,
        received_at=AT,
        decided_at=AT,
        channel="trade_show",
        trade_show=SHOW,
        team_timezone="Europe/Berlin",
    ),
    "io.leadflow.lead.sla.v1": LeadSla(
        lead_id=LEAD_ID,
        kind="reassignment",
        team_id="emea",
        rep_id="rep-ana",
        new_rep_id="rep-bo",
        started_at=AT,
        due_at=AT + timedelta(hours=1),
        at=AT + timedelta(hours=1),
        business_minutes_elapsed=60.0,
        detail="no first touch within 60 business minutes",
    ),
    "io.leadflow.lead.lifecycle.v1": LeadLifecycle(
        lead_id=LEAD_ID,
        change="recycled",
        status="recycled",
        reason="bad_timing",
        marketing="remarket",
        stage="recycled",
        previous_stage="sql",
        rep_id="rep-ana",
        owner_rep_id=None,
        released_rep_id="rep-ana",
        team_id="emea",
        reported_by="crm",
        occurred_at=AT,
        at=AT + timedelta(seconds=1),
        detail="disqualified by rep-ana: bad_timing (not now); back to marketing",
    ),
    "io.leadflow.lead.merge.v1": LeadMerge(
        change="split",
        lead_id=LEAD_ID,
        other_lead_id=uuid.UUID("5d6e7f8a-9b0c-4d1e-8f3a-4b5c6d7e8f9a"),
        how="admin",
        submission_ids=[uuid.UUID("6e7f8a9b-0c1d-4e2f-9a4b-5c6d7e8f9a0b")],
        identities=[IdentityRef(kind="email", value="bob@acme.example")],
        evidence=["phone +442079460000 shared by the switchboard"],
        decided_by="admin",
        reason="two colleagues behind one switchboard number",
        at=AT,
    ),
    "io.leadflow.lead.erased.v1": LeadErased(
        erasure_id=uuid.UUID("8a9b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d"),
        lead_id=LEAD_ID,
        lead_ids=[LEAD_ID],
        submission_ids=[uuid.UUID("6e7f8a9b-0c1d-4e2f-9a4b-5c6d7e8f9a0b")],
        identity_hashes=[IdentityHashRef(kind="email", hash="ab" * 32)],
        requested_at=AT,
        requested_by="admin",
    ),
    "io.leadflow.nurture.step.v1": NurtureStep(
        step_id=uuid.UUID("2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"),
        lead_id=LEAD_ID,
        enrollment_id=uuid.UUID("3b4c5d6e-7f8a-4b9c-8d1e-2f3a4b5c6d7e"),
        sequence_id="web-welcome",
        step=1,
        steps_total=3,
        channel="email",
        template_id="welcome-thanks",
        to="ada@example.com",
        first_name="Ada",
        timezone="Europe/London",
        due_at=AT,
        emitted_at=AT,
    ),
    "io.leadflow.nurture.lifecycle.v1": NurtureLifecycle(
        lead_id=LEAD_ID,
        kind="reengaged",
        sequence_id="reengage-long",
        enrollment_id=uuid.UUID("4c5d6e7f-8a9b-4c0d-9e2f-3a4b5c6d7e8f"),
        list="active",
        reason="inactive for over a year",
        segment="over_1_year",
        at=AT,
    ),
    "io.leadflow.delivery.endpoint_disabled.v1": EndpointDisabled(
        endpoint_id=uuid.UUID("5d6e7f8a-9b0c-4d1e-8f3a-4b5c6d7e8f90"),
        reason="gone",
        disabled_at=AT,
        last_status_code=410,
        failing_since=AT,
    ),
}


def _event(event_type: EventType) -> CloudEvent:
    return make_event(
        type=event_type.type,
        source="/leadflow/tests",
        subject=str(LEAD_ID),
        data=SAMPLES[event_type.type],
        id="evt-1",
        time=AT,
    )


def _model_paths(
    model: BaseModel, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[str | int, ...]]:
    """The path of every object in a model's JSON that is itself a model (free-form dicts
    such as ``custom``, ``metadata`` or ``explanation`` are values, not models)."""
    yield path
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _model_paths(value, (*path, name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _model_paths(item, (*path, name, i))


def _at(doc: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _from_a_newer_producer(event_type: EventType) -> tuple[dict[str, Any], int]:
    """Today's event as JSON, with an unknown field in the envelope and in every object of
    ``data`` that is a model; returns it and how many objects were extended."""
    doc = json.loads(_event(event_type).to_bytes())
    doc[UNKNOWN] = UNKNOWN_VALUE
    doc["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    paths = list(_model_paths(SAMPLES[event_type.type]))
    for path in paths:
        _at(doc["data"], path)[UNKNOWN] = copy.deepcopy(UNKNOWN_VALUE)
    return doc, len(paths)


def _mentions_unknown(doc: Any) -> bool:
    if isinstance(doc, dict):
        return UNKNOWN in doc or any(_mentions_unknown(v) for v in doc.values())
    if isinstance(doc, list):
        return any(_mentions_unknown(v) for v in doc)
    return False


TYPES = pytest.mark.parametrize("event_type", list(EVENT_TYPES.values()), ids=lambda t: t.type)


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)
    for type_name, sample in SAMPLES.items():
        assert type(sample) is EVENT_TYPES[type_name].model


@TYPES
def test_unknown_fields_at_every_level_are_ignored_and_dropped(event_type: EventType) -> None:
    doc, extended = _from_a_newer_producer(event_type)
    raw = json.dumps(doc).encode()

    event = CloudEvent.from_bytes(raw)
    data = event.data_as(event_type.model)

    # the envelope drops its unknown attributes and keeps ``data`` whole for data_as
    assert event.model_dump(exclude={"data"}) == _event(event_type).model_dump(exclude={"data"})
    assert event.data == doc["data"]
    assert data == SAMPLES[event_type.type]
    resent = make_event(type=event_type.type, source="/x", subject=None, data=data, time=AT)
    assert not _mentions_unknown(json.loads(resent.to_bytes()))
    assert extended == len(list(_model_paths(data)))


def test_the_walk_reaches_nested_objects() -> None:
    received = set(_model_paths(SAMPLES["io.leadflow.lead.received.v1"]))
    assert {(), ("lead",), ("lead", "utm"), ("source",), ("trade_show",)} == received
    assigned = set(_model_paths(SAMPLES["io.leadflow.lead.assigned.v1"]))
    assert {("score", "breakdown", 0), ("sla",), ("lead", "utm"), ("trade_show",)} <= assigned


@TYPES
def test_plain_model_validate_of_stored_data_is_tolerant(event_type: EventType) -> None:
    """Data read back from a table (parked activities, stored profiles) written by a newer
    version reads with today's model too."""
    doc, _ = _from_a_newer_producer(event_type)
    assert event_type.model.model_validate(doc["data"]) == SAMPLES[event_type.type]
    assert event_type.model.model_validate_json(json.dumps(doc["data"])) == SAMPLES[event_type.type]


@TYPES
def test_events_of_an_older_producer_without_the_optional_fields_read(
    event_type: EventType,
) -> None:
    """The other half of 'only optional additions': a field added later has a default, so an
    event written before it existed still reads."""
    doc = json.loads(_event(event_type).to_bytes())
    model = event_type.model
    optional = [name for name, field in model.model_fields.items() if not field.is_required()]
    for name in optional:
        doc["data"].pop(name, None)
    data = CloudEvent.model_validate(doc).data_as(model)
    for name in optional:
        assert getattr(data, name) == model.model_fields[name].get_default(
            call_default_factory=True
        )


@TYPES
def test_an_unknown_field_does_not_hide_a_broken_known_one(event_type: EventType) -> None:
    doc, _ = _from_a_newer_producer(event_type)
    key = "lead_id" if "lead_id" in event_type.model.model_fields else "endpoint_id"
    doc["data"][key] = "not-a-uuid"
    with pytest.raises(InvalidEvent, match=key):
        CloudEvent.model_validate(doc).data_as(event_type.model)


def test_envelope_extension_attributes_are_ignored_and_a_missing_required_one_is_not() -> None:
    doc = json.loads(_event(EVENT_TYPES["io.leadflow.lead.sla.v1"]).to_bytes())
    doc |= {"partitionkey": "k", "traceparent": "00-1-2-01", "dataref": "x"}
    event = CloudEvent.from_bytes(json.dumps(doc).encode())
    assert event == _event(EVENT_TYPES["io.leadflow.lead.sla.v1"])
    del doc["time"]
    with pytest.raises(InvalidEvent, match="time"):
        CloudEvent.from_bytes(json.dumps(doc).encode())


# --- writers are exact -----------------------------------------------------------------


def test_building_an_event_with_an_undeclared_field_fails() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        LeadData(email="ada@example.com", shoe_size=44)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="Extra inputs"):
        SourceRef(id="website", kind="signed", secret="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="Extra inputs"):
        LeadReceived(
            **{
                **SAMPLES["io.leadflow.lead.received.v1"].model_dump(),
                "lead": {"email": "a@b.c", "x": 1},
            }
        )
    with pytest.raises(ValidationError, match="Extra inputs"):
        CloudEvent(id="e", source="/x", type="t", time=AT, data={}, traceparent="x")  # type: ignore[call-arg]


def _closed(schema: Any) -> Any:
    """The schema with every object that declares its properties closed: what producers send."""
    if isinstance(schema, dict):
        closed = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@TYPES
def test_producers_send_exactly_the_declared_fields(event_type: EventType) -> None:
    doc = json.loads(_event(event_type).to_bytes())
    assert list(_validator(_closed(event_type.load_schema())).iter_errors(doc)) == []
    newer, _ = _from_a_newer_producer(event_type)
    assert list(_validator(_closed(event_type.load_schema())).iter_errors(newer))  # the check bites


@TYPES
def test_the_checked_in_schema_accepts_what_a_newer_producer_sends(event_type: EventType) -> None:
    newer, _ = _from_a_newer_producer(event_type)
    assert list(_validator(event_type.load_schema()).iter_errors(newer)) == []


# --- HTTP input is not an event: ingest stays strict --------------------------------------


def test_ingest_input_still_rejects_unknown_fields() -> None:
    from services.ingest.activities.schemas import ActivityIn
    from services.ingest.leads.schemas import LeadIn, LeadInvalid, validate_lead

    assert not issubclass(LeadIn, EventModel) and not issubclass(ActivityIn, EventModel)
    with pytest.raises(LeadInvalid) as lead_error:
        validate_lead({"email": "ada@example.com", "shoe_size": "44"})
    assert [e["field"] for e in lead_error.value.errors] == ["shoe_size"]
    with pytest.raises(ValidationError, match="Extra inputs"):
        ActivityIn.model_validate_json(b'{"kind": "open", "shoe_size": 44}')
