"""The pure parts of the audit trail (shared/audit.py): what changed, and the list's cursor."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.audit import decode_cursor, diff, encode_cursor

values = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans())
records = st.dictionaries(st.sampled_from(["a", "b", "c", "name", "email"]), values, max_size=5)


def test_diff_names_the_changed_fields_with_before_and_after() -> None:
    before = {"capacity": 20, "weight": 1, "timezone": "Europe/Madrid"}
    after = {"capacity": 25, "weight": 1, "timezone": "Europe/Madrid", "daily_cap": 5}
    assert diff(before, after) == {
        "capacity": {"before": 20, "after": 25},
        "daily_cap": {"before": None, "after": 5},
    }
    assert diff(None, {"id": "t"}) == {"id": {"before": None, "after": "t"}}


def test_personal_fields_say_only_that_they_changed() -> None:
    changes = diff(
        {"email": "ana@example.com", "name": "Ana", "capacity": 1},
        {"email": "ana.r@example.com", "name": "Ana R", "capacity": 1},
        redact=frozenset({"name", "email"}),
    )
    assert changes == {"email": {"changed": True}, "name": {"changed": True}}
    assert "example.com" not in repr(changes) and "Ana" not in repr(changes)


@given(records, records)
def test_diff_holds_exactly_the_fields_that_differ(a: dict[str, Any], b: dict[str, Any]) -> None:
    changes = diff(a, b, redact=frozenset({"name", "email"}))
    assert set(changes) == {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert diff(a, a) == {}
    for key, change in changes.items():
        if key in {"name", "email"}:
            assert change == {"changed": True}
        else:
            assert change == {"before": a.get(key), "after": b.get(key)}


@given(st.integers(min_value=1, max_value=2**62))
def test_a_cursor_decodes_to_its_event_id(event_id: int) -> None:
    assert decode_cursor(encode_cursor(event_id)) == event_id


@pytest.mark.parametrize("cursor", ["", "42", "not base64!", encode_cursor(1)[:-1] + "@"])
def test_a_cursor_this_list_did_not_give_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(cursor)
