"""Checked-in event JSON Schemas match the code; events match their schemas (the OpenAPI
documents: tests/unit/test_openapi.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shared.domain.contact import match_key
from shared.events.envelope import CloudEvent, make_event
from shared.events.models import (
    ActivityKind,
    ActivityReceived,
    LeadData,
    LeadReceived,
    SourceRef,
    TradeShowRef,
    Utm,
)
from shared.events.registry import (
    EVENT_TYPES,
    LEAD_ACTIVITY,
    LEAD_RECEIVED,
    SCHEMA_DIR,
    render_schemas,
)

AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _lead_received(**overrides: Any) -> LeadReceived:
    lead = LeadData(
        email="ada@example.com",
        phone="+442079460018",
        first_name="Ada",
        company_domain="example.com",
        company_size="201-500",
        country="GB",
        timezone="Europe/London",
        marketing_consent=True,
        utm=Utm(source="google", campaign="spring"),
        custom={"plan": "pro", "seats": 5, "score": 0.5, "trial": False},
    )
    lead_id = uuid.UUID("0b6f3c1e-9d0a-4a43-9f1e-2f8a1c3d4e5f")
    fields: dict[str, Any] = {
        "lead_id": lead_id,
        "match_key": str(match_key(lead.email, lead.phone, str(lead_id))),
        "source": SourceRef(id="website", kind="signed"),
        "channel": "web",
        "purchased_list": False,
        "received_at": AT,
        "lead": lead,
    }
    return LeadReceived(**(fields | overrides))


def _event_json(data: LeadReceived | ActivityReceived, type_: str) -> dict[str, Any]:
    event = make_event(
        type=type_, source="/leadflow/ingest/sources/website", subject="s", data=data, time=AT
    )
    return json.loads(event.to_bytes())  # type: ignore[no-any-return]


# --- drift ----------------------------------------------------------------------------


def test_checked_in_event_schemas_equal_rendered() -> None:
    rendered = render_schemas()
    assert set(rendered) == {t.schema_path for t in EVENT_TYPES.values()}
    for path, text in rendered.items():
        assert path.exists(), f"{path.name} is not checked in; run `leadflow` schema generation"
        assert path.read_text() == text, f"{path.name} drifted from the models; regenerate it"


def test_no_stale_schema_files() -> None:
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == {t.schema_path.name for t in EVENT_TYPES.values()}


@pytest.mark.parametrize("event_type", list(EVENT_TYPES.values()), ids=lambda t: t.type)
def test_checked_in_schemas_are_valid_2020_12(event_type: Any) -> None:
    schema = event_type.load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"urn:leadflow:schema:{event_type.type}"
    assert schema["properties"]["type"] == {"const": event_type.type}


# --- events against schemas -----------------------------------------------------------


def test_lead_received_event_validates_against_its_schema() -> None:
    doc = _event_json(_lead_received(), LEAD_RECEIVED.type)
    errors = list(_validator(LEAD_RECEIVED.load_schema()).iter_errors(doc))
    assert errors == []
    assert doc["dataschema"] == f"urn:leadflow:schema:{LEAD_RECEIVED.type}"
    assert doc["data"]["match_key"] == "email:ada@example.com"


def test_trade_show_lead_received_event_validates() -> None:
    show = TradeShowRef(
        show_id="ces-2025",
        name="CES 2025",
        end_date=date(2025, 1, 10),
        timezone="America/Los_Angeles",
        import_id=uuid.uuid4(),
        row_number=3,
    )
    data = _lead_received(
        channel="trade_show", source=SourceRef(id="trade-shows", kind="trade_show"), trade_show=show
    )
    assert (
        list(
            _validator(LEAD_RECEIVED.load_schema()).iter_errors(
                _event_json(data, LEAD_RECEIVED.type)
            )
        )
        == []
    )


def test_minimal_phone_only_lead_received_validates() -> None:
    lead = LeadData(phone="+14155550123")
    data = _lead_received(
        lead=lead, match_key="phone:+14155550123", channel="purchased_list", purchased_list=True
    )
    assert (
        list(
            _validator(LEAD_RECEIVED.load_schema()).iter_errors(
                _event_json(data, LEAD_RECEIVED.type)
            )
        )
        == []
    )


def test_activity_event_validates_against_its_schema() -> None:
    data = ActivityReceived(
        activity_id=uuid.uuid4(),
        lead_id=uuid.uuid4(),
        kind=ActivityKind.touch,
        touch_channel="call",
        rep_id="rep-1",
        occurred_at=AT,
        received_at=AT,
        source=SourceRef(id="crm", kind="signed"),
        metadata={"duration": 120},
    )
    assert (
        list(
            _validator(LEAD_ACTIVITY.load_schema()).iter_errors(
                _event_json(data, LEAD_ACTIVITY.type)
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda d: d.pop("time"), "envelope time is required"),
        (lambda d: d.update(type="io.leadflow.lead.activity.v1"), "type is a const"),
        (lambda d: d["data"].pop("lead_id"), "lead_id is required"),
        (lambda d: d["data"].update(lead_id="not-a-uuid"), "lead_id format is uuid"),
        (lambda d: d["data"].update(channel="fax"), "channel is an enum"),
        (
            lambda d: d["data"]["lead"]["custom"].update(nested={"a": 1}),
            "custom values are scalars",
        ),
    ],
)
def test_schema_rejects_broken_events(mutate: Any, why: str) -> None:
    """Broken known fields; unknown ones are accepted (tests/unit/test_event_evolution.py)."""
    doc = _event_json(_lead_received(), LEAD_RECEIVED.type)
    mutate(doc)
    assert list(_validator(LEAD_RECEIVED.load_schema()).iter_errors(doc)), why


def test_event_round_trips_through_bytes() -> None:
    event = make_event(
        type=LEAD_RECEIVED.type, source="/x", subject=None, data=_lead_received(), id="e1", time=AT
    )
    back = CloudEvent.from_bytes(event.to_bytes())
    assert back == event
    assert back.data_as(LeadReceived) == _lead_received()
