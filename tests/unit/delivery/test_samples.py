"""Test-send samples: one for every deliverable type, each exactly what the type's checked-in
schema declares (a producer's event), with fresh ids and no real person."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.delivery.handlers import DELIVERABLE_TYPES
from services.delivery.samples import EMAIL, SAMPLES, sample
from shared.events.envelope import make_event
from shared.events.registry import EVENT_TYPES
from tests.unit.test_event_evolution import _closed, _validator

AT = datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_every_deliverable_type_has_a_sample() -> None:
    assert set(SAMPLES) == DELIVERABLE_TYPES


@pytest.mark.parametrize("event_type", sorted(DELIVERABLE_TYPES))
def test_a_sample_is_exactly_the_declared_fields_of_its_type(event_type: str) -> None:
    data = sample(event_type, AT)
    assert type(data) is EVENT_TYPES[event_type].model
    doc = json.loads(
        make_event(
            type=event_type, source="/leadflow/delivery", subject=None, data=data, time=AT
        ).to_bytes()
    )
    schema = _closed(EVENT_TYPES[event_type].load_schema())
    assert list(_validator(schema).iter_errors(doc)) == []


@pytest.mark.parametrize("event_type", sorted(DELIVERABLE_TYPES))
def test_samples_are_about_a_fresh_lead_and_no_real_person(event_type: str) -> None:
    one, two = sample(event_type, AT), sample(event_type, AT)
    assert one.lead_id != two.lead_id
    emails = [v for v in json.dumps(one.model_dump(mode="json")).split('"') if "@" in v]
    assert set(emails) <= {EMAIL} and EMAIL.endswith("@example.com")
