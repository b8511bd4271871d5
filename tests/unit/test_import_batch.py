"""One batch of an import job, decided without I/O: rows validated like web leads, good
ones turned into events on the bulk lane with ids derived from the import and row."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from services.ingest.domain.ids import row_ids
from services.ingest.domain.jobs import ImportKind
from services.ingest.imports.batch import JobSpec, Show, decide_batch
from services.ingest.leads.service import lane
from shared.events.registry import LEAD_RECEIVED, LEAD_RECEIVED_BULK

IMPORT = uuid.UUID("0b9c8d2e-6f4a-4c1b-9e3d-2a1f0c9b8e7d")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SHOW = Show("saastr-2026", "SaaStr 2026", date(2026, 9, 10), "America/Los_Angeles")


def _spec(kind: ImportKind, prefix: str = "") -> JobSpec:
    if kind == ImportKind.list:
        return JobSpec(IMPORT, kind, NOW, prefix, list_id="purchased-lists")
    return JobSpec(IMPORT, kind, NOW, prefix, show=SHOW)


ROWS = [
    (1, {"email": "Ada@Example.com", "first_name": "Ada", "country": "DE"}),
    (2, {"email": "not-an-email", "first_name": "Bob"}),
    (4, {"email": "", "phone": "+49 30 901820", "first_name": "Cy"}),
    (5, {"email": "", "phone": ""}),
]


def test_a_list_batch_publishes_good_rows_as_names_on_the_bulk_lane() -> None:
    outcome = decide_batch(_spec(ImportKind.list, "t1."), ROWS)
    assert (outcome.accepted, outcome.rejected) == (2, 2)
    assert [(r.row_number, r.status) for r in outcome.rows] == [
        (1, "accepted"),
        (2, "rejected"),
        (4, "accepted"),
        (5, "rejected"),
    ]
    assert "email" in [e["field"] for e in outcome.rows[1].errors or []]
    for (topic, key, event, _), number in zip(outcome.messages, (1, 4), strict=True):
        ids = row_ids(IMPORT, number)
        assert topic == "t1.leads.bulk.v1"
        assert event.id == ids.event_id and event.subject == str(ids.submission_id)
        data = event.data
        assert data["channel"] == "purchased_list" and data["purchased_list"] is True
        assert data["source"] == {"id": "purchased-lists", "kind": "list"}
        assert data["trade_show"] is None
        assert data["received_at"] == NOW.isoformat().replace("+00:00", "Z")
        assert key.decode() == data["match_key"]
    assert outcome.messages[0][1] == b"email:ada@example.com"
    accepted = [r for r in outcome.rows if r.status == "accepted"]
    assert [r.event_id for r in accepted] == [m[2].id for m in outcome.messages]


def test_a_trade_show_batch_carries_the_show_and_row() -> None:
    outcome = decide_batch(_spec(ImportKind.trade_show), ROWS[:1])
    ((topic, _, event, _),) = outcome.messages
    assert topic == "leads.bulk.v1"
    assert event.data["channel"] == "trade_show" and event.data["purchased_list"] is False
    assert event.data["trade_show"] == {
        "show_id": "saastr-2026",
        "name": "SaaStr 2026",
        "end_date": "2026-09-10",
        "timezone": "America/Los_Angeles",
        "import_id": str(IMPORT),
        "row_number": 1,
    }


def test_a_batch_decided_again_is_the_same_events() -> None:
    """What a restart re-publishes is byte for byte what was published before."""
    first = decide_batch(_spec(ImportKind.list), ROWS)
    again = decide_batch(_spec(ImportKind.list), ROWS)
    assert [m[2].to_bytes() for m in first.messages] == [m[2].to_bytes() for m in again.messages]
    assert first.rows == again.rows


def test_web_leads_take_the_fast_lane_and_bulk_the_bulk_lane() -> None:
    assert lane("web") is LEAD_RECEIVED
    assert lane("trade_show") is LEAD_RECEIVED_BULK
    assert lane("purchased_list") is LEAD_RECEIVED_BULK
