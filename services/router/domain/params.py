"""Reading report parameters: instants, windows and keyset cursors. Pure."""

from __future__ import annotations

import base64
import binascii
import json
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.domain import instants
from shared.domain.zones import to_utc

DEFAULT_WINDOW = timedelta(days=30)
# a cursor this API gives out is about 150 characters; longer ones are refused unread
CURSOR_MAX_CHARS = 512
T = TypeVar("T")


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


def encode_cursor_payload(payload: Mapping[str, Any]) -> str:
    """An opaque cursor: the payload (with its version ``v``) as unpadded URL-safe base64
    JSON. :func:`decode_cursor_payload` reads it back."""
    raw = json.dumps({"v": 1, **payload}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor_payload(text: str, read: Callable[[dict[str, Any]], T]) -> T:
    """``read`` of the payload :func:`encode_cursor_payload` wrote; :class:`InvalidParameter`
    naming ``cursor`` for any other text (a tampered one included: too long, nested, of the
    wrong types or out of range, whether the decoding or ``read`` finds it out)."""
    try:
        if len(text) > CURSOR_MAX_CHARS:
            raise ValueError("cursor too long")
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ValueError("unknown cursor version")
        return read(payload)
    except (
        binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError,
        OverflowError, RecursionError,
    ):  # fmt: skip
        raise InvalidParameter(
            "cursor", "cursor is not one this API gave out (pass next_cursor as it came)"
        ) from None
