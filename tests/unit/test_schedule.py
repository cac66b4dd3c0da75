"""Adaptive interval, backoff, retirement and redirect confirmation (pure functions)."""

import random

from pipeline.poller.fetch import Hop
from pipeline.poller.schedule import (
    SchedulePolicy,
    adaptive_interval,
    failure_delay,
    items_per_day,
    should_retire,
    success_delay,
    track_redirects,
)

POLICY = SchedulePolicy(min_interval_s=300, max_interval_s=86400, default_interval_s=1800,
                        retire_after_failures=5, redirect_confirmations=3, jitter=0.1)
NOW = 1_000_000_000.0
HOUR = 3600.0


def test_busy_feed_is_polled_about_twice_per_new_item() -> None:
    hourly = [NOW - i * HOUR for i in range(1, 25)]
    assert adaptive_interval(hourly, NOW, None, True, POLICY) == HOUR / 2


def test_interval_is_bounded_by_floor_and_ceiling() -> None:
    every_second = [NOW - i for i in range(100)]
    assert adaptive_interval(every_second, NOW, None, True, POLICY) == 300
    weekly = [NOW - 6 * 86400, NOW - 86400 * 5]
    assert adaptive_interval(weekly, NOW, None, True, POLICY) == 86400


def test_new_feed_starts_at_default_and_quiet_feed_slows_down() -> None:
    assert adaptive_interval([], NOW, None, False, POLICY) == 1800
    assert adaptive_interval([], NOW, 1800, False, POLICY) == 2700
    assert adaptive_interval([], NOW, 80000, False, POLICY) == 86400
    # Items older than the rate window are forgotten.
    assert adaptive_interval([NOW - 30 * 86400] * 5, NOW, 1800, True, POLICY) == 1800


def test_publisher_hints_never_make_polls_earlier_and_are_clamped() -> None:
    rng = random.Random(0)
    assert 3600 <= success_delay(600, [3600.0, None], POLICY, rng) <= 3960
    assert 600 <= success_delay(600, [60.0], POLICY, rng) <= 660  # hint below our interval
    assert success_delay(600, [10 * 86400.0], POLICY, rng) == 86400  # ceiling wins
    assert success_delay(1, [], POLICY, rng) >= 300  # floor wins


def test_backoff_doubles_with_jitter_up_to_the_ceiling() -> None:
    rng = random.Random(0)
    delays = [failure_delay(n, None, POLICY, rng) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        base = min(300 * 2 ** (n - 1), 86400)
        assert base <= delay <= base * 1.1
    assert failure_delay(40, None, POLICY, rng) == 86400


def test_retry_after_is_obeyed_exactly_within_bounds() -> None:
    rng = random.Random(0)
    assert failure_delay(1, 1200.0, POLICY, rng) == 1200
    assert failure_delay(1, 5.0, POLICY, rng) == 300
    assert failure_delay(1, 10 * 86400.0, POLICY, rng) == 86400


def test_retirement() -> None:
    assert should_retire(1, 410, POLICY) == "HTTP 410 Gone: the publisher removed the feed"
    assert should_retire(4, 500, POLICY) is None
    assert should_retire(5, None, POLICY) == "5 consecutive failures"


def test_permanent_redirect_moves_only_after_k_polls_in_a_row() -> None:
    hop = Hop(301, "http://a/feed", "http://b/feed")
    target, seen = None, 0
    moves = []
    for _ in range(3):
        tracking = track_redirects([hop], target, seen, POLICY)
        target, seen = tracking.target, tracking.seen
        moves.append(tracking.move_to)
    assert moves == [None, None, "http://b/feed"]


def test_interrupted_or_changing_redirects_start_counting_again() -> None:
    first = track_redirects([Hop(308, "a", "b")], None, 0, POLICY)
    other = track_redirects([Hop(308, "a", "c")], first.target, first.seen, POLICY)
    assert (other.target, other.seen) == ("c", 1)
    gone = track_redirects([], other.target, other.seen, POLICY)
    assert (gone.target, gone.seen, gone.move_to) == (None, 0, None)


def test_temporary_redirects_never_move_a_feed() -> None:
    for status in (302, 303, 307):
        tracking = track_redirects([Hop(status, "a", "b")], "b", 2, POLICY)
        assert (tracking.target, tracking.move_to) == (None, None)
    # 301 then 302: the feed lives at the 301 target.
    chain = [Hop(301, "a", "b"), Hop(302, "b", "c")]
    assert track_redirects(chain, "b", 2, POLICY).move_to == "b"


def test_items_per_day() -> None:
    times = [NOW - i * HOUR for i in range(48)]
    assert round(items_per_day(times, NOW, first_polled_at=NOW - 2 * 86400)) == 24
