"""An event's outbox form is exactly what pydantic's JSON dump of the envelope gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events.envelope import CloudEvent, make_event
from shared.events.models import LeadData, Utm

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@pytest.mark.parametrize(
    "time",
    [
        None,
        datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
    ],
)
@pytest.mark.parametrize("subject", [None, "lead-1"])
def test_to_json_dict_is_the_json_dump_without_nones(time, subject) -> None:
    data = LeadData(email="a@b.example", utm=Utm(source="ads"), custom={"plan": "pro"})
    event = make_event(
        type="io.leadflow.test.v1", source="/t", subject=subject, data=data, time=time
    )
    assert event.to_json_dict() == event.model_dump(mode="json", exclude_none=True)


@given(data=st.dictionaries(st.text(max_size=6), json_values, max_size=5), schema=st.booleans())
def test_to_json_dict_keeps_data_as_it_is(data, schema) -> None:
    event = CloudEvent(
        id="e-1",
        source="/t",
        type="io.leadflow.test.v1",
        time=datetime(2026, 12, 1, tzinfo=UTC),
        dataschema="urn:x" if schema else None,
        data=data,
    )
    assert event.to_json_dict() == event.model_dump(mode="json", exclude_none=True)
