"""Named admin credentials: the tokens file, scopes, and which token a request carries.

Pure: parsing and validating the file, hashing a token, finding the entry a token matches
(and whether it expired), which scopes a principal holds. The HTTP side (the bearer header,
401/403, re-reading the file) is ``shared/credentials.py``.

A token is ``lf_`` + 32 random bytes (urlsafe base64): high entropy, so a plain SHA-256 of it
is what the file keeps (a password KDF protects guessable secrets, which these are not).
Several entries may share a name: that is a rotation in progress, both tokens work.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import yaml

TOKEN_PREFIX = "lf_"
TOKEN_BYTES = 32
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Scope(StrEnum):
    READ = "read"  # GET of the admin APIs (router, nurture, delivery, ingest's import jobs, audit)
    ADMIN = "admin"  # changes through the admin APIs; implies read
    IMPORT = "import"  # trade-show and purchased-list imports of ingest
    ACTIVITIES = "activities"  # sales activities sent with a token instead of a signature


ALL_SCOPES = frozenset(Scope)
# a scope that brings others with it
IMPLIED: Mapping[Scope, frozenset[Scope]] = {Scope.ADMIN: frozenset({Scope.READ})}


def effective_scopes(scopes: Iterable[Scope]) -> frozenset[Scope]:
    held = set(scopes)
    for scope in list(held):
        held |= IMPLIED.get(scope, frozenset())
    return frozenset(held)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the token's name and what it may do."""

    name: str
    scopes: frozenset[Scope]
    request_id: str | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in effective_scopes(self.scopes)


@dataclass(frozen=True)
class TokenEntry:
    """One line of the tokens file: a token (by its hash) with a name and scopes."""

    name: str
    scopes: frozenset[Scope]
    sha256: str
    created_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class TokensFileError(ValueError):
    """The tokens file is unusable; the message says where and why."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _instant(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, date):
        at = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise TokensFileError(f"{where}: not an ISO 8601 time: {value!r}") from None
    else:
        raise TokensFileError(f"{where}: not an ISO 8601 time: {value!r}")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_entry(raw: Any, where: str) -> TokenEntry:
    if not isinstance(raw, dict):
        raise TokensFileError(f"{where}: an entry is a mapping (name, scopes, sha256)")
    unknown = set(raw) - {"name", "scopes", "sha256", "created_at", "expires_at"}
    if unknown:
        raise TokensFileError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise TokensFileError(
            f"{where}: name must be 1-64 of a-z 0-9 . _ @ - (a person or a tool), not {name!r}"
        )
    scopes_raw = raw.get("scopes")
    if not isinstance(scopes_raw, list) or not scopes_raw:
        raise TokensFileError(f"{where} ({name}): scopes must be a non-empty list")
    scopes: set[Scope] = set()
    for s in scopes_raw:
        try:
            scopes.add(Scope(s))
        except ValueError:
            known = ", ".join(Scope)
            raise TokensFileError(
                f"{where} ({name}): unknown scope {s!r}; known: {known}"
            ) from None
    digest = raw.get("sha256")
    if not isinstance(digest, str) or not _SHA256.match(digest.lower()):
        raise TokensFileError(f"{where} ({name}): sha256 must be 64 hex digits")
    return TokenEntry(
        name=name,
        scopes=frozenset(scopes),
        sha256=digest.lower(),
        created_at=_instant(raw.get("created_at"), f"{where} ({name}) created_at"),
        expires_at=_instant(raw.get("expires_at"), f"{where} ({name}) expires_at"),
    )


def parse_tokens(text: str | bytes, origin: str = "tokens file") -> tuple[TokenEntry, ...]:
    """The entries of a tokens file: ``tokens: [ {name, scopes, sha256, ...}, ... ]``.

    One hash in two entries is refused (which name would it be?); one name in several
    entries is a rotation and fine."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TokensFileError(f"{origin}: not YAML: {exc}") from None
    if doc is None:
        doc = {"tokens": []}
    if not isinstance(doc, dict) or set(doc) - {"tokens"}:
        raise TokensFileError(f"{origin}: expected a mapping with one key, tokens")
    raw = doc.get("tokens")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise TokensFileError(f"{origin}: tokens must be a list")
    entries = tuple(parse_entry(r, f"{origin}: tokens[{i}]") for i, r in enumerate(raw))
    seen: dict[str, str] = {}
    for e in entries:
        if e.sha256 in seen:
            raise TokensFileError(
                f"{origin}: one token hash appears twice ({seen[e.sha256]}, {e.name})"
            )
        seen[e.sha256] = e.name
    return entries


@dataclass(frozen=True)
class Refused:
    """Why a token gets no principal: ``unknown`` or ``expired`` (both answer 401)."""

    reason: str


def identify(entries: Sequence[TokenEntry], token: str, now: datetime) -> TokenEntry | Refused:
    """The entry a presented token matches (compared in constant time against every entry,
    so the answer's timing tells nothing about which one), or why none."""
    digest = hash_token(token)
    found: TokenEntry | None = None
    for entry in entries:
        if hmac.compare_digest(entry.sha256, digest):
            found = entry
    if found is None:
        return Refused("unknown")
    if found.expired(now):
        return Refused("expired")
    return found


def entry_yaml(entry: TokenEntry) -> str:
    """The YAML an operator pastes under ``tokens:`` for an entry."""
    item: dict[str, Any] = {
        "name": entry.name,
        "scopes": sorted(s.value for s in entry.scopes),
        "sha256": entry.sha256,
    }
    if entry.created_at is not None:
        item["created_at"] = entry.created_at.isoformat()
    if entry.expires_at is not None:
        item["expires_at"] = entry.expires_at.isoformat()
    return yaml.safe_dump([item], sort_keys=False)


def parse_scopes(text: str) -> frozenset[Scope]:
    """``read,admin`` -> the scopes; an unknown one raises ValueError naming it."""
    out: set[Scope] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.add(Scope(part))
        except ValueError:
            raise ValueError(f"unknown scope {part!r}; known: {', '.join(Scope)}") from None
    if not out:
        raise ValueError("name at least one scope")
    return frozenset(out)
