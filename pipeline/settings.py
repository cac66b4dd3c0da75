"""One settings object for every stage.

The environment is read here and nowhere else (variables prefixed ``NEWSPIPE_``, or a
``.env`` file); CLI flags override individual fields via :func:`Settings.with_overrides`.
Secrets are ``SecretStr`` so they never show up in logs, reprs or dead letters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO_ROOT / "seeds"
DEPLOY_DIR = REPO_ROOT / "deploy"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSPIPE_", env_file=".env", frozen=True, extra="ignore"
    )

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    raw_topic: str = "news.articles.raw"
    dead_letter_topic: str = "news.articles.dlq"
    raw_topic_partitions: int = Field(default=3, ge=1)
    consumer_group: str = "newspipe-enrich"

    # Elasticsearch
    es_url: str = "http://127.0.0.1:9200"
    es_index: str = "news-articles"
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_certs: Path | None = None

    # Poller
    feeds_file: Path = SEEDS_DIR / "feeds" / "default.yaml"
    user_agent: str = "newspipe/0.1 (+https://github.com/newspipe/newspipe)"
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    max_feed_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    # Local state (poller memory, local stack data)
    state_dir: Path = Path.home() / ".local" / "state" / "newspipe"
    cache_dir: Path = Path.home() / ".cache" / "newspipe"

    def with_overrides(self, **overrides: Any) -> Settings:
        """Copy with CLI-flag values applied; ``None`` means "flag not given"."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return self.model_copy(update=given) if given else self

    def es_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``elasticsearch.Elasticsearch`` (auth passed through)."""
        kwargs: dict[str, Any] = {"hosts": [self.es_url], "request_timeout": 30}
        if self.es_api_key is not None:
            kwargs["api_key"] = self.es_api_key.get_secret_value()
        elif self.es_username and self.es_password is not None:
            kwargs["basic_auth"] = (self.es_username, self.es_password.get_secret_value())
        if self.es_ca_certs is not None:
            kwargs["ca_certs"] = str(self.es_ca_certs)
        return kwargs


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
