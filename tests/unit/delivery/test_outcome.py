"""What one attempt's response decides for the delivery and its endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.delivery.domain.outcome import AttemptDecision, Response, decide
from services.delivery.domain.schedule import MAX_ATTEMPTS, RETRY_DELAYS

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=15)
FIVE_DAYS = timedelta(days=5)
FAST = timedelta(milliseconds=80)


def _decide(
    response: Response, attempts_made: int = 1, failing_since: datetime | None = None
) -> AttemptDecision:
    return decide(
        response,
        attempts_made=attempts_made,
        now=NOW,
        failing_since=failing_since,
        disable_after=FIVE_DAYS,
        timeout=TIMEOUT,
        rng=lambda: 0.5,  # no jitter
    )


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_a_2xx_in_time_delivers_and_clears_failing(code: int) -> None:
    decision = _decide(Response(code, FAST), failing_since=NOW - timedelta(days=2))
    assert decision == AttemptDecision("success", "delivered", None, None, None)


def test_a_2xx_exactly_at_the_timeout_is_still_in_time() -> None:
    assert _decide(Response(200, TIMEOUT)).outcome == "success"


def test_a_2xx_after_the_timeout_counts_as_a_timeout() -> None:
    decision = _decide(Response(200, TIMEOUT + timedelta(milliseconds=1)))
    assert decision == AttemptDecision("timeout", "pending", NOW + RETRY_DELAYS[1], None, NOW)


def test_410_gone_fails_the_delivery_and_disables_the_endpoint() -> None:
    decision = _decide(Response(410, FAST), attempts_made=3)
    assert decision == AttemptDecision("gone", "failed", None, "gone", NOW)


@pytest.mark.parametrize("code", [429, 503])
def test_throttling_honours_retry_after(code: int) -> None:
    decision = _decide(Response(code, FAST, retry_after=timedelta(minutes=20)), attempts_made=1)
    assert decision.outcome == "throttled"
    assert decision.delivery_state == "pending"
    assert decision.next_attempt_at == NOW + timedelta(minutes=20)  # later than the 5 s


def test_throttling_without_retry_after_follows_the_schedule() -> None:
    decision = _decide(Response(429, FAST), attempts_made=2)
    assert decision.next_attempt_at == NOW + RETRY_DELAYS[2]


def test_retry_after_on_other_statuses_is_ignored() -> None:
    decision = _decide(Response(500, FAST, retry_after=timedelta(hours=3)), attempts_made=1)
    assert decision.next_attempt_at == NOW + RETRY_DELAYS[1]


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (Response(301, FAST), "http_error"),  # redirects are not followed
        (Response(302, FAST), "http_error"),
        (Response(400, FAST), "http_error"),
        (Response(401, FAST), "http_error"),
        (Response(404, FAST), "http_error"),
        (Response(500, FAST), "http_error"),
        (Response(502, FAST), "http_error"),
        (Response(None, TIMEOUT, error="timeout"), "timeout"),
        (Response(None, FAST, error="connect_error"), "connect_error"),
        (Response(None, timedelta(0), error="refused_address"), "refused_address"),
        (Response(None, FAST), "connect_error"),
    ],
)
def test_other_failures_are_retried_per_schedule(response: Response, outcome: str) -> None:
    decision = _decide(response, attempts_made=4)
    assert decision == AttemptDecision(outcome, "pending", NOW + RETRY_DELAYS[4], None, NOW)


def test_after_the_last_attempt_the_delivery_fails() -> None:
    decision = _decide(Response(500, FAST), attempts_made=MAX_ATTEMPTS)
    assert decision == AttemptDecision("http_error", "failed", None, None, NOW)
    throttled = _decide(
        Response(429, FAST, retry_after=timedelta(seconds=1)), attempts_made=MAX_ATTEMPTS
    )
    assert throttled.delivery_state == "failed" and throttled.next_attempt_at is None


def test_a_failure_keeps_the_first_failing_since() -> None:
    since = NOW - timedelta(hours=30)
    assert _decide(Response(500, FAST), failing_since=since).endpoint_failing_since == since


def test_an_endpoint_failing_for_five_days_is_disabled() -> None:
    decision = _decide(Response(500, FAST), failing_since=NOW - FIVE_DAYS)
    assert decision == AttemptDecision("http_error", "failed", None, "failing", NOW - FIVE_DAYS)


def test_an_endpoint_failing_for_just_under_five_days_is_not() -> None:
    since = NOW - FIVE_DAYS + timedelta(seconds=1)
    decision = _decide(Response(None, FAST, error="timeout"), failing_since=since)
    assert decision.disable is None and decision.delivery_state == "pending"


def test_a_success_after_five_days_of_failure_does_not_disable() -> None:
    decision = _decide(Response(204, FAST), failing_since=NOW - timedelta(days=9))
    assert decision.disable is None and decision.endpoint_failing_since is None


def test_an_unknown_error_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attempt error"):
        Response(None, FAST, error="dns")


statuses = st.one_of(st.none(), st.integers(min_value=100, max_value=599))
errors = st.sampled_from([None, "timeout", "connect_error", "refused_address"])


@given(
    code=statuses,
    error=errors,
    elapsed_ms=st.integers(min_value=0, max_value=60_000),
    attempts=st.integers(min_value=1, max_value=MAX_ATTEMPTS),
    failing_hours=st.one_of(st.none(), st.integers(min_value=0, max_value=24 * 10)),
    retry_after_s=st.one_of(st.none(), st.integers(min_value=0, max_value=3 * 86400)),
    r=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_decisions_are_consistent(
    code: int | None,
    error: str | None,
    elapsed_ms: int,
    attempts: int,
    failing_hours: int | None,
    retry_after_s: int | None,
    r: float,
) -> None:
    since = None if failing_hours is None else NOW - timedelta(hours=failing_hours)
    response = Response(
        code,
        timedelta(milliseconds=elapsed_ms),
        error=error,
        retry_after=None if retry_after_s is None else timedelta(seconds=retry_after_s),
    )
    d = decide(
        response,
        attempts_made=attempts,
        now=NOW,
        failing_since=since,
        disable_after=FIVE_DAYS,
        timeout=TIMEOUT,
        rng=lambda: r,
    )
    if d.outcome == "success":
        assert d.delivery_state == "delivered" and d.endpoint_failing_since is None
        assert d.disable is None and d.next_attempt_at is None
        return
    # every failure: failing since the first failure, at the latest now
    assert d.endpoint_failing_since == (since or NOW)
    assert (d.delivery_state == "pending") == (d.next_attempt_at is not None)
    if d.disable is not None:
        assert d.delivery_state == "failed"
    if d.delivery_state == "pending":
        assert d.next_attempt_at is not None and d.next_attempt_at > NOW
        assert d.next_attempt_at - NOW <= timedelta(hours=24)
        assert attempts < MAX_ATTEMPTS
    if attempts >= MAX_ATTEMPTS:
        assert d.delivery_state == "failed"
    if NOW - (since or NOW) >= FIVE_DAYS:
        assert d.disable in ("gone", "failing")
