"""A purchased-list name of a person erased before is kept but never marketed to; the person
filling in a form themselves starts fresh."""

from __future__ import annotations

from services.nurture.domain.erasure import marketing_barred
from services.nurture.domain.intake import BatchState, advance, decide_batch
from shared.domain.erasure import IdentityHash
from tests.unit.nurture.test_intake import CONFIG, LEADS, NOW, decided

LISTED = IdentityHash("email", "ab" * 32)
OTHER = IdentityHash("email", "cd" * 32)


def test_only_a_purchased_list_name_on_the_list_is_barred() -> None:
    assert marketing_barred(True, frozenset({LISTED, OTHER}), frozenset({LISTED}))
    assert not marketing_barred(False, frozenset({LISTED}), frozenset({LISTED}))
    assert not marketing_barred(True, frozenset({OTHER}), frozenset({LISTED}))
    assert not marketing_barred(True, frozenset(), frozenset({LISTED}))


def test_a_barred_name_is_suppressed_do_not_contact_and_enrolled_nowhere() -> None:
    name = decided(LEADS[0], 1, channel="purchased_list", purchased_list=True, do_not_contact=True)
    out = decide_batch(BatchState(), [name], CONFIG, NOW)
    assert [lead.suppressed for lead in out.created_leads] == ["do_not_contact"]
    assert out.created_enrollments == () and out.created_steps == ()
    assert [e.kind for e in out.events] == ["suppressed"]


def test_the_person_coming_back_through_a_form_starts_fresh() -> None:
    name = decided(LEADS[0], 1, channel="purchased_list", purchased_list=True, do_not_contact=True)
    state = advance(BatchState(), decide_batch(BatchState(), [name], CONFIG, NOW))
    form = decided(LEADS[0], 2, submission_id=LEADS[1])
    out = decide_batch(state, [form], CONFIG, NOW)
    assert [lead.suppressed for lead in out.changed_leads] == [None]
    assert out.created_enrollments, "a web lead is enrolled the same day"
    # a name on the list that was never barred is enrolled like any purchased-list name
    plain = decided(LEADS[2], 3, channel="purchased_list", purchased_list=True)
    assert decide_batch(BatchState(), [plain], CONFIG, NOW).created_leads[0].suppressed is None
