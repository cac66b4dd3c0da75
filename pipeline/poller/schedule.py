"""When to poll a feed next, when to give up on it, when it has moved (pure functions).

* Healthy feed: the interval follows how often the feed really has new items (about two
  polls per new item, slowing down by half again each time a poll finds nothing), never
  shorter than what the publisher asked for (Cache-Control/Expires, RSS ``<ttl>``,
  ``sy:updatePeriod``), always within the operator's floor and ceiling. A little positive
  jitter spreads feeds that were added together; it never makes a poll *earlier*.
* Failing feed: exponential backoff from the floor with jitter, or exactly what
  ``Retry-After`` said (clamped); retired after ``retire_after_failures`` failures in a
  row, or at once on 410 Gone.
* Permanent redirects (301/308) move the feed only after the same target was seen
  ``redirect_confirmations`` polls in a row; temporary ones (302/303/307) never do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.poller.fetch import Hop

DAY_S = 86400.0


@dataclass(frozen=True)
class SchedulePolicy:
    min_interval_s: float = 300.0
    max_interval_s: float = DAY_S
    default_interval_s: float = 1800.0
    retire_after_failures: int = 10
    redirect_confirmations: int = 3
    jitter: float = 0.1  # up to +10% on every delay
    rate_window_s: float = 7 * DAY_S
    max_rate_samples: int = 200

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SchedulePolicy:
        values: dict[str, Any] = dict(
            min_interval_s=settings.poller_min_interval_s,
            max_interval_s=max(settings.poller_max_interval_s, settings.poller_min_interval_s),
            default_interval_s=settings.poller_default_interval_s,
            retire_after_failures=settings.poller_retire_after_failures,
            redirect_confirmations=settings.poller_redirect_confirmations,
        )
        values.update(overrides)
        return cls(**values)

    def clamp(self, seconds: float) -> float:
        return min(self.max_interval_s, max(self.min_interval_s, seconds))


def adaptive_interval(new_item_times: Sequence[float], now: float, previous: float | None,
                      found_new: bool, policy: SchedulePolicy) -> float:
    """The base interval from the observed new-item rate (before hints and jitter)."""
    recent = [t for t in new_item_times if now - policy.rate_window_s <= t <= now]
    if len(recent) >= 2:
        mean_gap = max(now - min(recent), 1.0) / len(recent)
        target = mean_gap / 2  # about two polls per expected new item
        if not found_new and previous is not None:
            target = max(target, previous * 1.5)  # quiet spell: drift slower
        return policy.clamp(target)
    if previous is None:
        return policy.clamp(policy.default_interval_s)
    return policy.clamp(previous if found_new else previous * 1.5)


def success_delay(interval: float, publisher_hints: Sequence[float | None],
                  policy: SchedulePolicy, rng: random.Random) -> float:
    """Delay until the next poll after a successful one (200 or 304)."""
    asked = max((h for h in publisher_hints if h is not None), default=0.0)
    return _jittered(max(interval, asked), policy, rng)


def failure_delay(consecutive_failures: int, retry_after: float | None,
                  policy: SchedulePolicy, rng: random.Random) -> float:
    """Retry-After when the server gave one (clamped, no earlier), else backoff."""
    if retry_after is not None:
        return policy.clamp(retry_after)
    exponent = min(max(consecutive_failures - 1, 0), 30)
    backoff = policy.clamp(policy.min_interval_s * 2.0 ** exponent)
    return _jittered(backoff, policy, rng)


def _jittered(seconds: float, policy: SchedulePolicy, rng: random.Random) -> float:
    return policy.clamp(policy.clamp(seconds) * (1.0 + rng.uniform(0.0, policy.jitter)))


def should_retire(consecutive_failures: int, status: int | None,
                  policy: SchedulePolicy) -> str | None:
    """The retirement reason, or ``None`` to keep polling."""
    if status == 410:
        return "HTTP 410 Gone: the publisher removed the feed"
    if consecutive_failures >= policy.retire_after_failures:
        return f"{consecutive_failures} consecutive failures"
    return None


@dataclass(frozen=True)
class RedirectTracking:
    target: str | None  # the permanent target seen on the latest poll
    seen: int  # how many polls in a row it was seen
    move_to: str | None  # set when the feed should move now


def track_redirects(hops: Sequence[Hop], previous_target: str | None, previous_seen: int,
                    policy: SchedulePolicy) -> RedirectTracking:
    """Follow the leading run of permanent hops; any temporary hop ends it (a 301 to a
    302 means "the feed lives at the 301 target, which is temporarily elsewhere")."""
    target = None
    for hop in hops:
        if not hop.permanent:
            break
        target = hop.location
    if target is None:
        return RedirectTracking(None, 0, None)
    seen = previous_seen + 1 if target == previous_target else 1
    if seen >= policy.redirect_confirmations:
        return RedirectTracking(None, 0, target)
    return RedirectTracking(target, seen, None)


def items_per_day(new_item_times: Sequence[float], now: float, window_s: float = 7 * DAY_S,
                  first_polled_at: float | None = None) -> float:
    """New items per day over the window (or since the feed was first polled)."""
    start = now - window_s
    if first_polled_at is not None:
        start = max(start, first_polled_at)
    span = max(now - start, 3600.0)  # under an hour of history says little; don't inflate
    return sum(1 for t in new_item_times if t >= now - window_s) * DAY_S / span
