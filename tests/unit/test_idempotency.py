"""The pure parts of answering once: what is stored, how it is replayed, what ids derive from."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.idempotency.repository import Stored, _jsonb
from services.ingest.idempotency.service import (
    REPLAYED_HEADER,
    ReplayedRefusal,
    RequestKey,
    _replay,
    _storable,
    request_db_settings,
)
from shared.http import ApiError, problem_body


def test_a_replayed_success_is_the_stored_answer_marked_replayed() -> None:
    outcome = _replay(Stored(b"h" * 32, 202, {"status": "accepted", "lead_id": "x"}))
    assert (outcome.status, outcome.body, outcome.replayed) == (
        202,
        {"status": "accepted", "lead_id": "x"},
        True,
    )
    assert outcome.headers == {REPLAYED_HEADER: "true"}


def test_a_replayed_refusal_is_raised_as_the_same_problem() -> None:
    errors = [{"field": "email", "message": "not a valid email address", "type": "value_error"}]
    body = problem_body(422, "validation_error", "invalid lead: email", errors)
    with pytest.raises(ReplayedRefusal) as raised:
        _replay(Stored(b"h" * 32, 422, body))
    error = raised.value
    assert problem_body(error.status, error.code, error.detail, error.errors) == body
    assert error.headers == {REPLAYED_HEADER: "true"}


@pytest.mark.parametrize(
    ("error", "storable"),
    [
        (ApiError(422, "validation_error", "bad", errors=[{"field": "email", "type": "x"}]), True),
        (
            ApiError(
                422, "validation_error", "bad", errors=[{"field": "body", "type": "json_invalid"}]
            ),
            False,
        ),
        (
            ApiError(
                422, "validation_error", "bad", errors=[{"field": "body", "type": "json_type"}]
            ),
            False,
        ),
        (
            ApiError(415, "unsupported_media_type", "send json", errors=[{"type": "media_type"}]),
            False,
        ),
        (
            ApiError(
                422, "validation_error", "bad", errors=[{"field": "body", "type": "encoding"}]
            ),
            False,
        ),
        (ApiError(503, "kafka_unavailable", "later"), False),
    ],
)
def test_only_refusals_of_what_the_body_says_are_stored(error: ApiError, storable: bool) -> None:
    assert _storable(error) is storable


def test_ids_derive_from_the_key_and_the_body() -> None:
    first = RequestKey("website", "msg_1", b"a" * 32, 1700000000)
    resigned = RequestKey("website", "msg_1", b"a" * 32, 1700000060)
    other_body = RequestKey("website", "msg_1", b"b" * 32, 1700000000)
    assert first.id_seed == resigned.id_seed  # a re-send signed anew keeps its ids
    assert first.id_seed != other_body.id_seed


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_stored_json_never_holds_a_nul_and_is_otherwise_unchanged(value: object) -> None:
    """jsonb cannot hold U+0000; a refusal may name a field that has one."""
    stored = orjson.loads(_jsonb({"errors": value}))
    assert not _has_nul(stored)
    if not _has_nul(value):
        assert stored == {"errors": value}


def test_request_connections_end_transactions_left_idle_longer_than_a_publish() -> None:
    settings = request_db_settings(5.0)
    assert settings["lock_timeout"] == "250"
    assert settings["synchronous_commit"] == "off"
    assert int(settings["idle_in_transaction_session_timeout"]) >= 15_000
    assert int(request_db_settings(20.0)["idle_in_transaction_session_timeout"]) == 60_000
