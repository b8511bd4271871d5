"""Hashed identities of erased people (shared/domain/erasure.py) and the key's settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.erasure import (
    IdentityHash,
    contact_hashes,
    erased_before,
    identity_hash,
    identity_hashes,
    matching_form,
)
from shared.settings import DEV_ERASURE_HASH_KEY, CommonSettings

KEY = b"test-erasure-key"
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_an_address_hashes_the_same_in_every_spelling_the_router_matches() -> None:
    one = contact_hashes(KEY, "John.Smith+promo@GoogleMail.com", None)
    other = contact_hashes(KEY, "  johnsmith@gmail.com ", None)
    assert one == other and len(one) == 1
    (h,) = one
    assert h.kind == "email" and len(h.hash) == 64 and "john" not in h.hash


def test_a_phone_hashes_in_its_e164_form_and_invalid_contacts_are_left_out() -> None:
    (phone,) = contact_hashes(KEY, None, "+44 20 7946 0018")
    assert contact_hashes(KEY, None, "+442079460018") == {phone} and phone.kind == "phone"
    assert contact_hashes(KEY, "not an address", "12") == frozenset()
    assert matching_form("phone", "+44 20 7946 0000") == "+442079460000"


def test_kept_identities_hash_as_their_matching_form() -> None:
    kept = identity_hashes(KEY, [("email", "ada@example.com"), ("phone", "+44 20 7946 0018"),
                                 ("domain", "example.com")])  # fmt: skip
    assert kept == contact_hashes(KEY, "Ada@Example.com", "+442079460018")


def test_the_key_matters() -> None:
    assert identity_hash(KEY, "email", "a@x.example") != identity_hash(
        b"other", "email", "a@x.example"
    )
    assert identity_hash(KEY, "email", "a@x.example") != identity_hash(KEY, "phone", "a@x.example")


@given(st.emails())
def test_hashing_is_stable_under_renormalisation(email: str) -> None:
    form = matching_form("email", email)
    if form is not None:
        assert matching_form("email", form) == form
        assert contact_hashes(KEY, form, None) == contact_hashes(KEY, email, None)


@given(st.integers(min_value=-3600, max_value=3600))
def test_an_event_received_at_or_before_the_erasure_is_about_the_erased_person(
    offset: int,
) -> None:
    h = IdentityHash("email", "ab" * 32)
    at = AT + timedelta(seconds=offset)
    assert erased_before({h: AT}, frozenset({h}), at) is (offset <= 0)
    assert not erased_before({}, frozenset({h}), at)


def test_the_key_is_required_and_no_placeholder_outside_dev() -> None:
    base = {
        "env": "production",
        "database_url": "postgresql+asyncpg://x/y",
        "admin_token": "a-real-token-4f2a",
    }
    with pytest.raises(ValueError, match="LEADFLOW_ERASURE_HASH_KEY is required"):
        CommonSettings(**base)
    for placeholder in ("changeme-erasure-hash-key", DEV_ERASURE_HASH_KEY):
        with pytest.raises(ValueError, match="LEADFLOW_ERASURE_HASH_KEY is a placeholder"):
            CommonSettings(**base, erasure_hash_key=placeholder)
    real = CommonSettings(**base, erasure_hash_key="k3y-from-the-secret-store")
    assert real.effective_erasure_hash_key() == b"k3y-from-the-secret-store"
    assert CommonSettings(env="dev").effective_erasure_hash_key() == DEV_ERASURE_HASH_KEY.encode()
