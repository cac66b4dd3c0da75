"""Records that travel between stages (the wire contract)."""

from pipeline.models.article import SCHEMA_VERSION, Article, ArticleDecodeError
from pipeline.models.urls import article_id, canonical_url

__all__ = ["SCHEMA_VERSION", "Article", "ArticleDecodeError", "article_id", "canonical_url"]
