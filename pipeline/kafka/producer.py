"""Publishing Articles to the raw topic, keyed by article id.

Idempotent producer with ``acks=all``: a broker restart or a lost ack is retried without
creating duplicates, and :meth:`ArticlePublisher.publish` only returns the ids Kafka
confirmed, so the poller marks nothing as sent that is not durably in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from pipeline.models import Article

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    pass


class ArticlePublisher:
    def __init__(self, kafka: dict[str, Any], topic: str, *, delivery_timeout_s: float = 120.0):
        self.topic = topic
        self._producer = KafkaProducer(
            **kafka,
            client_id="newspipe-poller",
            acks="all",
            enable_idempotence=True,
            linger_ms=20,
            compression_type="gzip",
            # While the broker is down, send() blocks and retries for this long before a
            # poll gives up; nothing is marked as sent, so the next poll tries again.
            max_block_ms=int(delivery_timeout_s * 1000),
            delivery_timeout_ms=int(delivery_timeout_s * 1000),
            retry_backoff_ms=500,
        )

    def publish(self, articles: Iterable[Article]) -> list[str]:
        """Send and wait for every ack; raise PublishError if any message failed."""
        futures = [
            (article.id, self._producer.send(self.topic, key=article.key,
                                             value=article.to_json_bytes()))
            for article in articles
        ]
        self._producer.flush()
        delivered, failures = [], []
        for article_id, future in futures:
            try:
                future.get(timeout=0)
                delivered.append(article_id)
            except KafkaError as exc:
                failures.append(f"{article_id}: {exc}")
        if failures:
            raise PublishError(f"{len(failures)} of {len(futures)} articles not acknowledged: "
                               f"{failures[0]}")
        return delivered

    def close(self) -> None:
        self._producer.close()
