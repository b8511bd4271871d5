"""What one delivery attempt's response means for the delivery and its endpoint.

- A 2xx received within the timeout: delivered; the endpoint is no longer failing.
  A 2xx that arrived after the timeout counts as a timeout (the receiver may have
  processed it; the retry carries the same ``webhook-id`` so it can dedupe).
- 410 Gone: the receiver asks us to stop. The delivery fails and the endpoint is
  disabled (``gone``).
- 429 Too Many Requests and 503 Service Unavailable: ``throttled``; retried per the
  schedule, no sooner than the ``Retry-After`` the receiver sent (capped at 24 h).
- Anything else (3xx: redirects are not followed, other 4xx, 5xx, a timeout, a
  connection error, an address refused by the safety check): retried per the schedule;
  once all attempts are spent the delivery fails.

Every failed attempt marks the endpoint failing since its first failure after the last
success; an endpoint failing for ``disable_after`` (5 days by default) is disabled
(``failing``) and the delivery fails with it.

Pure: the clock and the random source are parameters.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.delivery.domain.schedule import next_attempt_at

ERRORS = frozenset({"timeout", "connect_error", "refused_address"})
OUTCOMES = frozenset({"success", "http_error", "gone", "throttled", *ERRORS})
THROTTLING_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Response:
    """What an attempt got back: a status, or an error when no response arrived."""

    status_code: int | None
    elapsed: timedelta
    error: str | None = None  # 'timeout' | 'connect_error' | 'refused_address'
    retry_after: timedelta | None = None

    def __post_init__(self) -> None:
        if self.error is not None and self.error not in ERRORS:
            raise ValueError(f"unknown attempt error {self.error!r}; one of {sorted(ERRORS)}")


@dataclass(frozen=True)
class AttemptDecision:
    # 'success' | 'http_error' | 'timeout' | 'connect_error' | 'refused_address' | 'gone' | 'throttled'
    outcome: str
    delivery_state: str  # 'delivered' | 'pending' | 'failed'
    next_attempt_at: datetime | None  # set only while pending
    disable: str | None  # 'gone' | 'failing': disable the endpoint for this reason
    endpoint_failing_since: datetime | None  # the endpoint's new failing_since


def classify(response: Response, timeout: timedelta) -> str:
    """The attempt's outcome label."""
    if response.error is not None:
        return response.error
    code = response.status_code
    if code is None:
        return "connect_error"  # no status and no error named: nothing usable came back
    if 200 <= code < 300:
        return "success" if response.elapsed <= timeout else "timeout"
    if code == 410:
        return "gone"
    if code in THROTTLING_STATUSES:
        return "throttled"
    return "http_error"


def decide(
    response: Response,
    *,
    attempts_made: int,
    now: datetime,
    failing_since: datetime | None,
    disable_after: timedelta,
    timeout: timedelta,
    rng: Callable[[], float] = random.random,
) -> AttemptDecision:
    """The decision after attempt number ``attempts_made`` (this one included) got ``response``."""
    outcome = classify(response, timeout)
    if outcome == "success":
        return AttemptDecision(outcome, "delivered", None, None, None)
    since = failing_since or now
    if outcome == "gone":
        return AttemptDecision(outcome, "failed", None, "gone", since)
    if now - since >= disable_after:
        return AttemptDecision(outcome, "failed", None, "failing", since)
    retry_after = response.retry_after if outcome == "throttled" else None
    due = next_attempt_at(attempts_made, now, retry_after=retry_after, rng=rng)
    if due is None:
        return AttemptDecision(outcome, "failed", None, None, since)
    return AttemptDecision(outcome, "pending", due, None, since)
