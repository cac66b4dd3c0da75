"""Test and benchmark support: synthetic articles built from the bundled sample texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kafka import KafkaAdminClient, KafkaProducer

from pipeline.models import Article
from pipeline.settings import SEEDS_DIR, Settings


def synthetic_articles(count: int, run: str) -> list[Article]:
    """``count`` distinct articles (distinct URLs, slightly varied text) in English."""
    texts = sorted((SEEDS_DIR / "articles").glob("*.txt"))
    english = [p.read_text(encoding="utf-8") for p in texts if not p.name.endswith("-fr.txt")]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        Article.create(
            url=f"https://synthetic.example.org/{run}/story-{i}",
            title=f"Synthetic story {i}",
            feed_url=f"https://synthetic.example.org/{run}/feed.xml",
            content=f"{english[i % len(english)]}\n\nUpdated edition {i}.",
            published_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def produce(settings: Settings, articles: list[Article]) -> None:
    producer = KafkaProducer(**settings.kafka_client_kwargs(), acks="all", linger_ms=20)
    for article in articles:
        producer.send(settings.raw_topic, key=article.key, value=article.to_json_bytes())
    producer.flush()
    producer.close()


def delete_topics(settings: Settings, topics: list[str]) -> None:
    admin = KafkaAdminClient(**settings.kafka_client_kwargs())
    try:
        present = [t for t in topics if t in set(admin.list_topics())]
        if present:
            admin.delete_topics(present)
    finally:
        admin.close()
