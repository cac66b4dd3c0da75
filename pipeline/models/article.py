"""The ``Article`` record: what pollers publish to the raw Kafka topic.

Versioned JSON on the wire (never pickle), so any consumer in any language can read it
and a schema change is explicit: bump ``SCHEMA_VERSION`` and keep reading the old one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.models.urls import article_id, canonical_url

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})


class ArticleDecodeError(ValueError):
    """A message on the wire is not a valid Article; the reason says why."""


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # feeds without a zone: treat as UTC rather than local time
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Article(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    id: str
    url: str
    canonical_url: str
    title: str
    summary: str = ""
    content: str = ""
    authors: list[str] = Field(default_factory=list)
    language_hint: str | None = None
    published_at: datetime | None = None
    fetched_at: datetime
    feed_url: str
    feed_title: str = ""
    source: str = ""
    guid: str | None = None

    @field_validator("published_at", "fetched_at")
    @classmethod
    def _normalise_to_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value not in SUPPORTED_SCHEMA_VERSIONS:
            raise ValueError(f"unsupported schema_version {value}")
        return value

    @classmethod
    def create(cls, *, url: str, title: str, feed_url: str, **fields: Any) -> Article:
        """Build an Article, deriving canonical URL, id and source host from ``url``."""
        canonical = canonical_url(url)
        fields.setdefault("fetched_at", datetime.now(UTC))
        fields.setdefault("source", canonical.split("/")[2])
        return cls(
            id=article_id(url),
            url=url,
            canonical_url=canonical,
            title=title,
            feed_url=feed_url,
            **fields,
        )

    @property
    def key(self) -> bytes:
        """Kafka message key: the article id."""
        return self.id.encode("ascii")

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_json_bytes(cls, payload: bytes | str) -> Article:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ArticleDecodeError(f"invalid Article message: {problems}") from exc
