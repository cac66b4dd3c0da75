from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.models import Article, ArticleDecodeError, article_id, canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/a/B", "https://example.com/a/B"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/x#section-2", "https://example.com/x"),
        ("https://example.com/x?utm_source=rss&utm_medium=feed", "https://example.com/x"),
        ("https://example.com/x?b=2&fbclid=abc&a=1", "https://example.com/x?a=1&b=2"),
        ("https://user:secret@example.com/x", "https://example.com/x"),
        ("http://[::1]:8000/feed", "http://[::1]:8000/feed"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_rejects_relative_links() -> None:
    with pytest.raises(ValueError, match="not an absolute URL"):
        canonical_url("/news/story")


def test_article_id_ignores_tracking_noise_and_fragment() -> None:
    plain = article_id("https://world.example.org/2024/06/19/putin")
    noisy = article_id("https://WORLD.example.org/2024/06/19/putin?utm_campaign=x#top")
    assert plain == noisy
    assert len(plain) == 64
    assert plain != article_id("https://world.example.org/2024/06/19/putin-2")


def test_article_round_trips_as_versioned_json() -> None:
    article = Article.create(
        url="https://example.com/a?utm_source=x", title="T", feed_url="https://example.com/f",
        published_at=datetime(2024, 6, 19, 8, 30, tzinfo=timezone(timedelta(hours=9))),
    )
    payload = article.to_json_bytes()
    assert b'"schema_version":1' in payload
    decoded = Article.from_json_bytes(payload)
    assert decoded == article
    assert decoded.published_at == datetime(2024, 6, 18, 23, 30, tzinfo=UTC)
    assert decoded.source == "example.com"
    assert decoded.key == article.id.encode()


def test_naive_dates_are_taken_as_utc() -> None:
    article = Article.create(url="https://e.com/a", title="T", feed_url="https://e.com/f",
                             published_at=datetime(2024, 1, 1, 12, 0))
    assert article.published_at == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "invalid Article message"),
        (b'{"title": "no id"}', "id: Field required"),
        (b'{"schema_version": 99, "id": "x", "url": "u", "canonical_url": "u", "title": "t",'
         b' "fetched_at": "2024-01-01T00:00:00Z", "feed_url": "f"}', "unsupported schema_version"),
    ],
)
def test_bad_messages_get_a_clear_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ArticleDecodeError, match=reason):
        Article.from_json_bytes(payload)
