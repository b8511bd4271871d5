"""Reading report parameters: instants and windows. Pure."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.zones import to_utc

DEFAULT_WINDOW = timedelta(days=30)
# "2026-11-01T00:00:00 01:00": a "+" written unescaped in a URL arrives as a space
_SPACE_FOR_PLUS = re.compile(r"^(.+T[0-9:.]+) ([0-9]{2}(?::?[0-9]{2})?)$")


class InvalidParameter(ValueError):
    """A query parameter that cannot be used; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def refuse_control_characters(param: str, text: str) -> str:
    """``text`` if it holds no control character (NUL, which PostgreSQL text cannot store,
    and the rest of Unicode's Cc category: no filter value has one)."""
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise InvalidParameter(param, f"{param} must not contain control characters")
    return text


def parse_instant(param: str, text: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` or ``+01:00``), in UTC."""
    value = text.strip()
    value = _SPACE_FOR_PLUS.sub(r"\1+\2", value)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            param, f"{param} must be an ISO 8601 date-time with offset, e.g. 2026-11-01T00:00:00Z"
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidParameter(
            param, f"{param} needs a UTC offset (Z or +hh:mm), e.g. 2026-11-01T00:00:00Z"
        )
    try:
        return to_utc(at)
    except OverflowError:  # "0001-01-01T00:00:00+14:00" is before year 1 in UTC
        raise InvalidParameter(
            param, f"{param} is out of range: in UTC it must fall within years 1 to 9999"
        ) from None


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(start: str | None, end: str | None, now: datetime) -> Window:
    """``[from, to)``: ``to`` defaults to now, ``from`` to 30 days before ``to``."""
    until = parse_instant("to", end) if end is not None else to_utc(now)
    if start is not None:
        since = parse_instant("from", start)
    elif until - datetime.min.replace(tzinfo=until.tzinfo) < DEFAULT_WINDOW:
        raise InvalidParameter("to", f"to ({until.isoformat()}) leaves no default window before it")
    else:
        since = until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidParameter(
            "to", f"to ({until.isoformat()}) must be after from ({since.isoformat()})"
        )
    return Window(since, until)


def only_known(params: Iterable[str], known: Iterable[str]) -> None:
    """Refuse a parameter the endpoint does not take: a typo is an error, not ignored."""
    allowed = set(known)
    for name in params:
        if name not in allowed:
            raise InvalidParameter(
                name, f"unknown parameter {name!r} (known: {', '.join(sorted(allowed))})"
            )
