"""What of an event names an erased lead or submission, and the erased form of a payload."""

from __future__ import annotations

import uuid

from services.delivery.erasure import erased_payload, refs_of


def test_refs_are_the_lead_other_lead_and_submission_ids() -> None:
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    data = {"lead_id": str(a), "other_lead_id": str(b), "submission_id": str(c),
            "submission_ids": [str(d), "not-a-uuid"], "name": "x"}  # fmt: skip
    assert refs_of(data) == [a, b, c, d]
    assert refs_of(None) == [] and refs_of({"lead_id": None}) == []


def test_the_erased_payload_keeps_the_envelope_only() -> None:
    payload = {"specversion": "1.0", "id": "e1", "type": "t", "source": "/s", "time": "now",
               "leadsequence": 3, "subject": None, "data": {"email": "a@b.c"}, "other": 1}  # fmt: skip
    assert erased_payload(payload) == {
        "specversion": "1.0", "id": "e1", "type": "t", "source": "/s", "time": "now",
        "leadsequence": 3, "data": {"erased": True},
    }  # fmt: skip
