"""The retry schedule of a webhook delivery.

Attempt 1 goes out at once; attempt k (k >= 2) is due ``RETRY_DELAYS[k - 1]`` after
attempt k - 1: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h again, eight attempts in all,
about 27 h 35 min from the first to the last. Each delay is multiplied by a factor drawn
uniformly from [1 - JITTER, 1 + JITTER] so that receivers coming back from an outage are
not hit by every sender in the same second. A ``Retry-After`` the receiver sent (on 429
or 503) postpones the next attempt to at least that long, capped at 24 h; it never
brings an attempt forward.

Pure: the clock and the random source are parameters.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS)  # 8
JITTER = 0.1
RETRY_AFTER_CAP = timedelta(hours=24)
_PARSE_LIMIT_SECONDS = 365 * 86400


def next_attempt_at(
    attempts_made: int,
    now: datetime,
    *,
    retry_after: timedelta | None = None,
    rng: Callable[[], float] = random.random,
) -> datetime | None:
    """When the next attempt is due after ``attempts_made`` attempts, the last one at ``now``.

    ``None`` when all ``MAX_ATTEMPTS`` attempts are spent: the delivery has failed.
    ``attempts_made == 0`` means nothing was sent yet: due at once.
    """
    if attempts_made < 0:
        raise ValueError(f"attempts_made must be >= 0, got {attempts_made}")
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempts_made] * (1 + JITTER * (2 * rng() - 1))
    if retry_after is not None and retry_after > timedelta(0):
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return now + delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header as a delay from ``now``: delta-seconds or an HTTP-date.

    ``None`` for a missing, malformed or negative value and for a date in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        # huge values would overflow timedelta; anything past the cap is the cap anyway
        return timedelta(seconds=min(int(text), _PARSE_LIMIT_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or an obsolete zone: HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    delay = when - now
    return delay if delay >= timedelta(0) else None
