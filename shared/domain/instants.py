"""Instants given by a client (query parameters, cursors, request bodies): with an offset,
in UTC, within years 1 to 9999 once in UTC. Pure; callers turn the ValueError into a 4xx
naming their field."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# "2026-11-01T00:00:00 01:00": a "+" written unescaped in a URL arrives as a space
_SPACE_FOR_PLUS = re.compile(r"^(.+T[0-9:.]+) ([0-9]{2}(?::?[0-9]{2})?)$")


def in_utc(at: datetime) -> datetime:
    """``at`` in UTC; a ValueError for a naive one or one outside years 1..9999 in UTC
    (``0001-01-01T00:00:00+14:00`` is before year 1)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("must carry a time zone offset, e.g. 2026-12-01T09:00:00Z")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: in UTC it must fall within years 1 to 9999") from None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z``, ``+01:00``, or ``" 01:00"`` where a
    ``+`` arrived as a space), in UTC."""
    value = _SPACE_FOR_PLUS.sub(r"\1+\2", text.strip())
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 date-time with offset, e.g. 2026-12-01T09:00:00Z"
        ) from None
    return in_utc(at)
