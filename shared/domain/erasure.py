"""Hashed identities of erased people: what survives an erasure so that the same person is
recognised later without keeping their address or number.

An identity is hashed in its matching form (the canonical address, the E.164 number) with
HMAC-SHA256 under a key of the deployment (``LEADFLOW_ERASURE_HASH_KEY``): without the key
a hash cannot be checked against a list of guessed addresses."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.domain.contact import InvalidContact, canonical_email, normalize_email, normalize_phone

IdentityKind = Literal["email", "phone"]


@dataclass(frozen=True, order=True)
class IdentityHash:
    kind: IdentityKind
    hash: str


def identity_hash(key: bytes, kind: IdentityKind, value: str) -> IdentityHash:
    """The hash of an identity already in its matching form (canonical email, E.164 phone)."""
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return IdentityHash(kind, digest)


def matching_form(kind: IdentityKind, raw: str) -> str | None:
    """``raw`` as the router matches it; None when it is not a valid address or number."""
    try:
        if kind == "email":
            return canonical_email(normalize_email(raw))
        return normalize_phone(raw)
    except InvalidContact:
        return None


def contact_hashes(key: bytes, email: str | None, phone: str | None) -> frozenset[IdentityHash]:
    """The hashes of a person's email and phone (either may be missing or invalid)."""
    out: set[IdentityHash] = set()
    for kind, raw in (("email", email), ("phone", phone)):
        if raw:
            form = matching_form(kind, raw)  # type: ignore[arg-type]
            if form is not None:
                out.add(identity_hash(key, kind, form))  # type: ignore[arg-type]
    return frozenset(out)


def identity_hashes(key: bytes, identities: Iterable[tuple[str, str]]) -> frozenset[IdentityHash]:
    """The hashes of (kind, value) identities in whatever form they were kept (other kinds
    than email and phone are no person's: left out)."""
    out: set[IdentityHash] = set()
    for kind, value in identities:
        if kind in ("email", "phone"):
            form = matching_form(kind, value) or value  # type: ignore[arg-type]
            out.add(identity_hash(key, kind, form))  # type: ignore[arg-type]
    return frozenset(out)


def erased_before(
    erased_at: dict[IdentityHash, datetime], hashes: frozenset[IdentityHash], at: datetime
) -> bool:
    """True when one of ``hashes`` belongs to a person erased at or after ``at``: an event
    received then is about the erased person and must not bring them back."""
    return any(h in erased_at and at <= erased_at[h] for h in hashes)
