"""Redirects for plain HTML forms posting to a public source, pure.

A browser form that posts straight to ingest navigates the visitor's window to the answer,
so a JSON body would be shown raw. A public source may name a thank-you page and an error
page; a form navigation (a form-encoded body, an ``Accept`` that does not ask for JSON) is
then answered ``303 See Other`` to one of them. The error page learns *why* from a
``reason`` query parameter and, for invalid input, *which fields* from ``fields``: field
names only, never what the visitor typed, so no personal data ends up in a URL.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
JSON_MEDIA_TYPES = frozenset({"application/json", "application/problem+json"})
# A field name goes into the error URL only when it looks like a form field's name; the
# names come from the form's markup, and anything else (a bot's made-up key) is left out.
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,64}$")
MAX_FIELDS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Reason(StrEnum):
    """The ``reason`` an error page receives."""

    INVALID = "invalid"  # 422: the lead (or its idempotency key) was refused
    RATE_LIMITED = "rate_limited"  # 429: too many submissions from this client
    UNAVAILABLE = "unavailable"  # 503: nothing was accepted, the visitor may try again


REASON_BY_STATUS = {422: Reason.INVALID, 429: Reason.RATE_LIMITED, 503: Reason.UNAVAILABLE}


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def asks_for_json(accept: str) -> bool:
    """Whether an ``Accept`` header names JSON (``application/json``, problem+json or any
    ``+json`` type) with a non-zero quality. ``*/*`` and ``text/html`` do not."""
    for media_range in accept.split(","):
        media, _, params = media_range.partition(";")
        media = media.strip().lower()
        if media not in JSON_MEDIA_TYPES and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            continue
        quality = "1"
        for param in params.split(";"):
            name, _, val = param.partition("=")
            if name.strip().lower() == "q":
                quality = val.strip()
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            return True
    return False


def is_form_navigation(content_type: str, accept: str) -> bool:
    """A plain HTML form post: a form-encoded body and no request for JSON (a browser
    navigation sends ``text/html,...,*/*``; a missing ``Accept`` means anything)."""
    return _media_type(content_type) == FORM_MEDIA_TYPE and not asks_for_json(accept)


def with_query(url: str, params: Iterable[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to the query it already has (replacing same names)."""
    parts = urlsplit(url)
    extra = list(params)
    names = {name for name, _ in extra}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(kept + extra, safe=",")))


def offending_fields(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """The names of the fields ``errors`` point at: once each, in order, at most
    :data:`MAX_FIELDS`, only names that look like a form field's."""
    names: list[str] = []
    for error in errors:
        name = str(error.get("field", ""))
        if _FIELD_NAME.match(name) and name not in names:
            names.append(name)
    return names[:MAX_FIELDS]


def error_location(
    error_url: str, status: int, errors: Iterable[Mapping[str, Any]] = ()
) -> str | None:
    """Where a form navigation goes for an error answer of ``status``, or None when the
    error stays a problem document (400, 401, 403, 409, 413, 415: the request itself is
    wrong, not the visitor's input, and no redirect was agreed for it)."""
    reason = REASON_BY_STATUS.get(status)
    if reason is None:
        return None
    params = [("reason", reason.value)]
    if reason is Reason.INVALID and (fields := offending_fields(errors)):
        params.append(("fields", ",".join(fields)))
    return with_query(error_url, params)


def form_location(
    status: int,
    errors: Iterable[Mapping[str, Any]] = (),
    *,
    thank_you_url: str,
    error_url: str,
) -> str | None:
    """Where a form navigation is sent for an answer of ``status``: the thank-you page for a
    success (a first acceptance or an idempotent replay of one), the error page with its
    reason for the errors of :data:`REASON_BY_STATUS`, None for a problem document."""
    if 200 <= status < 300:
        return thank_you_url
    return error_location(error_url, status, errors)


def redirect_url_problem(url: str, allowed_origins: Collection[str]) -> str | None:
    """Why ``url`` cannot be a form's redirect target, or None when it can: it must be an
    absolute http(s) URL on one of the source's allowed origins (``scheme://host[:port]``,
    lower-case, no trailing slash)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    scheme = parts.scheme.lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    origin = f"{scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        origin += f":{port}"
    if origin not in allowed_origins:
        return f"is not on one of the source's allowed_origins ({', '.join(allowed_origins)})"
    return None
