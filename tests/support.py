"""Test and benchmark support: synthetic articles built from the bundled sample texts."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient, KafkaProducer

from pipeline.models import Article
from pipeline.rollover import drop_generations
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


def varied_articles(count: int, run: str, *, sources_per_article: int = 2) -> list[Article]:
    """``count`` distinct English articles for benchmarks: each joins the shuffled
    paragraphs of ``sources_per_article`` texts drawn from the evaluation set and the sample
    articles, under one of their titles. Unlike :func:`synthetic_articles` (five texts
    repeated), the words and names vary from article to article, so per-text caches and
    the NER model see a stream closer to a real one. Deterministic for a given ``count``."""
    eval_rows = [json.loads(line) for line in
                 (SEEDS_DIR.parent / "tests" / "data" / "eval" / "articles.jsonl")
                 .read_text(encoding="utf-8").splitlines() if line.strip()]
    sources = [(row["title"], row["text"]) for row in eval_rows if row["language"] == "en"]
    sources += [(path.stem.replace("-", " "), path.read_text(encoding="utf-8"))
                for path in sorted((SEEDS_DIR / "articles").glob("*.txt"))
                if not path.name.endswith("-fr.txt")]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    articles = []
    for i in range(count):
        rng = random.Random(i)
        picked = rng.sample(sources, sources_per_article)
        paragraphs = [p for _, text in picked for p in text.split("\n\n") if p.strip()]
        rng.shuffle(paragraphs)
        articles.append(Article.create(
            url=f"https://varied.example.org/{run}/story-{i}",
            title=picked[0][0],
            feed_url=f"https://varied.example.org/{run}/feed.xml",
            content="\n\n".join(paragraphs),
            published_at=start + timedelta(minutes=i),
        ))
    return articles


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


def delete_topics_under(settings: Settings, prefixes: list[str]) -> None:
    """Delete every topic named ``<prefix>.<...>`` or ``<prefix>`` for the given prefixes
    (each unique to one test run, so nothing another run uses is touched)."""
    admin = KafkaAdminClient(**settings.kafka_client_kwargs())
    try:
        mine = [t for t in admin.list_topics()
                if any(t == p or t.startswith(f"{p}.") for p in prefixes)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def drop_indices(es: Elasticsearch, settings: Settings, *, dead_letters: bool = True) -> None:
    """Delete what a test or benchmark run made in Elasticsearch: the generations behind its
    article alias (deleting the alias name deletes nothing), its dead-letter index (unless
    ``dead_letters`` is False: shared with the session) and their per-run templates. The
    local stack is reused across runs, and hundreds of leftover indices and templates make
    every cluster-state update, and so the benchmarks, slower."""
    from pipeline.sinks.elasticsearch import DEAD_LETTER_TEMPLATE_NAME, TEMPLATE_NAME

    drop_generations(es, settings.es_index)
    templates = [f"{TEMPLATE_NAME}.{settings.es_index}"]
    if dead_letters:
        es.indices.delete(index=settings.dead_letter_index, ignore_unavailable=True)
        templates.append(f"{DEAD_LETTER_TEMPLATE_NAME}.{settings.dead_letter_index}")
    for template in templates:
        es.options(ignore_status=404).indices.delete_index_template(name=template)
