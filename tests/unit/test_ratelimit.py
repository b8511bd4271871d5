"""Token-bucket rate limiter: burst, refill, per-key buckets, accurate waits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.domain.ratelimit import RateLimiter


def test_burst_then_refuse() -> None:
    rl = RateLimiter(rate_per_second=1.0, burst=5)
    assert [rl.acquire("k", 0.0) for _ in range(5)] == [0.0] * 5
    wait = rl.acquire("k", 0.0)
    assert wait == pytest.approx(1.0)


def test_refill_over_time() -> None:
    rl = RateLimiter(rate_per_second=2.0, burst=2)
    assert rl.acquire("k", 0.0) == 0.0
    assert rl.acquire("k", 0.0) == 0.0
    assert rl.acquire("k", 0.0) > 0
    assert rl.acquire("k", 0.5) == 0.0  # 0.5 s * 2/s = one token
    assert rl.acquire("k", 0.5) > 0
    # a long pause refills only up to the burst
    assert [rl.acquire("k", 100.0) for _ in range(3)][:2] == [0.0, 0.0]
    assert rl.acquire("k", 100.0) > 0


def test_refused_calls_do_not_consume_tokens() -> None:
    rl = RateLimiter(rate_per_second=1.0, burst=1)
    assert rl.acquire("k", 0.0) == 0.0
    for t in (0.1, 0.2, 0.3):
        assert rl.acquire("k", t) > 0
    assert rl.acquire("k", 1.0) == 0.0


def test_keys_are_independent() -> None:
    rl = RateLimiter(rate_per_second=0.1, burst=2)
    assert rl.acquire("a", 0.0) == 0.0
    assert rl.acquire("a", 0.0) == 0.0
    assert rl.acquire("a", 0.0) > 0
    assert rl.acquire("b", 0.0) == 0.0
    assert rl.acquire("b", 0.0) == 0.0
    assert rl.acquire("b", 0.0) > 0


def test_wait_is_positive_and_accurate() -> None:
    rl = RateLimiter(rate_per_second=4.0, burst=1)
    assert rl.acquire("k", 10.0) == 0.0
    wait = rl.acquire("k", 10.1)
    assert wait == pytest.approx(0.15)  # 0.4 tokens after 0.1 s; 0.6 more at 4/s
    assert rl.acquire("k", 10.1 + wait * 0.9) > 0
    assert rl.acquire("k", 10.1 + wait + 1e-9) == 0.0


def test_forgets_oldest_client_beyond_max_keys() -> None:
    rl = RateLimiter(rate_per_second=0.001, burst=1, max_keys=2)
    assert rl.acquire("a", 0.0) == 0.0
    assert rl.acquire("b", 0.0) == 0.0
    assert rl.acquire("a", 0.0) > 0  # touches a: b is now the oldest
    assert rl.acquire("c", 0.0) == 0.0  # evicts b
    assert rl.acquire("a", 0.0) > 0  # a still remembered and empty
    assert rl.acquire("b", 0.0) == 0.0  # b forgotten: a fresh bucket


@settings(max_examples=200)
@given(
    st.floats(min_value=0.1, max_value=50.0),
    st.integers(min_value=1, max_value=20),
    st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=200),
)
def test_allowed_never_exceeds_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    rl = RateLimiter(rate_per_second=rate, burst=burst)
    now = 1000.0
    allowed = 0
    for gap in gaps:
        now += gap
        wait = rl.acquire("k", now)
        assert wait >= 0
        if wait == 0:
            allowed += 1
        else:
            assert wait <= 1 / rate + 1e-9
    elapsed = now - 1000.0
    assert allowed <= burst + rate * elapsed + 1


@settings(max_examples=200)
@given(
    st.floats(min_value=0.1, max_value=50.0),
    st.integers(min_value=1, max_value=10),
    st.floats(min_value=0.0, max_value=5.0),
)
def test_waiting_the_returned_time_is_enough(rate: float, burst: int, gap: float) -> None:
    rl = RateLimiter(rate_per_second=rate, burst=burst)
    for _ in range(burst):
        assert rl.acquire("k", 0.0) == 0.0
    wait = rl.acquire("k", gap)
    if wait == 0:
        assert gap * rate >= 1 - 1e-9
        return
    assert wait > 0
    assert rl.acquire("k", gap + wait * (1 + 1e-9) + 1e-9) == 0.0
