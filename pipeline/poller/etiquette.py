"""What publishers ask of pollers, read from HTTP headers and feed elements (pure functions).

Every function returns a number of seconds from ``now`` (or ``None`` when the publisher
said nothing usable); the schedule clamps them into the operator's floor and ceiling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
_SY_PERIODS = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0,
               "monthly": 30 * 86400.0, "yearly": 365 * 86400.0}


def http_date(value: str | None) -> float | None:
    """An HTTP date (RFC 9110: IMF-fixdate, RFC 850, asctime) as epoch seconds."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # HTTP dates are GMT by definition
        return parsed.replace(tzinfo=UTC).timestamp()
    return parsed.timestamp()


def retry_after_s(value: str | None, now: float) -> float | None:
    """``Retry-After: 120`` or ``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = http_date(value)
    return None if when is None else max(0.0, when - now)


def freshness_s(headers: Mapping[str, str], now: float) -> float | None:
    """How long the response may be reused: Cache-Control max-age (minus Age), else
    Expires relative to Date (or to our clock). ``no-cache``/``no-store`` mean 0."""
    cache_control = headers.get("cache-control", "")
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0.0
    ages = {name.lower(): float(seconds) for name, seconds in _MAX_AGE.findall(cache_control)}
    max_age = ages.get("s-maxage", ages.get("max-age"))
    if max_age is not None:
        age = headers.get("age", "")
        return max(0.0, max_age - (float(age) if age.isdigit() else 0.0))
    expires = headers.get("expires")
    if expires is not None:
        when = http_date(expires)
        if when is None:  # "Expires: 0" and other junk mean "already expired"
            return 0.0
        base = http_date(headers.get("date")) or now
        return max(0.0, when - base)
    return None


def feed_interval_s(channel: Mapping[str, Any]) -> float | None:
    """The feed's own hint: RSS ``<ttl>`` (minutes) or ``sy:updatePeriod`` divided by
    ``sy:updateFrequency``; the longer one wins when both are present."""
    hints: list[float] = []
    ttl = str(channel.get("ttl", "")).strip()
    if ttl.isdigit() and int(ttl) > 0:
        hints.append(int(ttl) * 60.0)
    period = _SY_PERIODS.get(str(channel.get("sy_updateperiod", "")).strip().lower())
    if period is not None:
        frequency = str(channel.get("sy_updatefrequency", "1")).strip()
        count = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
        hints.append(period / count)
    return max(hints) if hints else None
