"""Reading report parameters: instants and windows. Pure."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain import instants
from shared.domain.zones import to_utc

DEFAULT_WINDOW = timedelta(days=30)


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
    """An ISO 8601 instant with its offset (``Z`` or ``+01:00``), in UTC
    (``shared.domain.instants``; its ValueError becomes an ``InvalidParameter``)."""
    try:
        return instants.parse_instant(text)
    except ValueError as exc:
        raise InvalidParameter(param, f"{param} {exc}") from None


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
