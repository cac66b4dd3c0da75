"""Reading publishers' wishes from HTTP headers and feed elements."""

from pipeline.poller.etiquette import feed_interval_s, freshness_s, http_date, retry_after_s

NOW = http_date("Sun, 06 Nov 1994 08:49:37 GMT") or 0.0


def test_http_dates_in_all_three_formats() -> None:
    assert NOW == 784111777.0
    assert http_date("Sunday, 06-Nov-94 08:49:37 GMT") == NOW
    assert http_date("Sun Nov  6 08:49:37 1994") == NOW
    assert http_date("yesterday") is None
    assert http_date(None) is None


def test_retry_after_seconds_or_date() -> None:
    assert retry_after_s("120", NOW) == 120
    assert retry_after_s("Sun, 06 Nov 1994 09:49:37 GMT", NOW) == 3600
    assert retry_after_s("Sun, 06 Nov 1994 07:00:00 GMT", NOW) == 0  # in the past
    assert retry_after_s("soon", NOW) is None
    assert retry_after_s(None, NOW) is None


def test_cache_control_and_expires() -> None:
    assert freshness_s({"cache-control": "public, max-age=900"}, NOW) == 900
    assert freshness_s({"cache-control": "max-age=900, s-maxage=1800"}, NOW) == 1800
    assert freshness_s({"cache-control": "max-age=900", "age": "100"}, NOW) == 800
    assert freshness_s({"cache-control": "no-cache, max-age=900"}, NOW) == 0
    assert freshness_s({"expires": "Sun, 06 Nov 1994 09:49:37 GMT",
                        "date": "Sun, 06 Nov 1994 08:49:37 GMT"}, 0.0) == 3600
    assert freshness_s({"expires": "0"}, NOW) == 0
    assert freshness_s({}, NOW) is None


def test_feed_ttl_and_syndication_module() -> None:
    assert feed_interval_s({"ttl": "60"}) == 3600
    assert feed_interval_s({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}) == 1800
    assert feed_interval_s({"sy_updateperiod": "daily"}) == 86400
    assert feed_interval_s({"ttl": "10", "sy_updateperiod": "hourly"}) == 3600  # longer wins
    assert feed_interval_s({"ttl": "-5", "sy_updateperiod": "fortnightly"}) is None
