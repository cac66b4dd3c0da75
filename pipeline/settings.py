"""One settings object for every stage.

Sources, highest precedence first: CLI flags (:meth:`Settings.with_overrides`), ``NEWSPIPE_*``
environment variables, a ``.env`` file, a TOML config file (``NEWSPIPE_CONFIG``, default
``newspipe.toml`` in the working directory), then the defaults below. The environment is
read here and nowhere else. Secrets are ``SecretStr``: masked in reprs, logs, ``config
show`` and dead letters.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO_ROOT / "seeds"
DEPLOY_DIR = REPO_ROOT / "deploy"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSPIPE_", env_file=".env", frozen=True, extra="ignore"
    )

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    raw_topic: str = "news.articles.raw"
    dead_letter_topic: str = "news.articles.dlq"
    poller_state_topic: str = "news.poller.state"
    raw_topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    consumer_group: str = "newspipe-enrich"

    # Elasticsearch
    es_url: str = "http://127.0.0.1:9200"
    es_index: str = "news-articles"
    # Dead letters are also indexed here (best effort) for the operators' dashboard; the
    # Kafka dead-letter topic stays the durable record.
    dead_letter_index: str = "news-dead-letters"
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_certs: Path | None = None

    # --- analysts: article index generations and rollover (issue 5) ---
    # es_index names the alias; generations <es_index>-000001, ... roll over when any of
    # these is reached (ILM when the cluster has it, else `pipeline rollover` from cron).
    es_rollover_max_age: str | None = "30d"
    es_rollover_max_primary_shard_size: str | None = "50gb"
    es_rollover_max_docs: int | None = Field(default=None, ge=1)
    # --- end analysts ---

    # Kibana (for `pipeline kibana import` and `doctor`)
    kibana_url: str | None = None
    kibana_api_key: SecretStr | None = None

    # Poller
    feeds_file: Path = SEEDS_DIR / "feeds" / "default.yaml"
    user_agent: str = "newspipe/0.1 (+https://github.com/newspipe/newspipe)"
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    max_feed_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    # --- Poller engine (issue 3: concurrency, etiquette, schedule, SSRF guard) ---
    # Appended to the User-Agent as "(+URL)" so publishers can reach the operator.
    poller_contact_url: str | None = None
    poller_concurrency: int = Field(default=50, ge=1)
    poller_per_host_concurrency: int = Field(default=2, ge=1)
    poller_per_host_interval_s: float = Field(default=1.0, ge=0)
    poller_connect_timeout_s: float = Field(default=10.0, gt=0)
    poller_read_timeout_s: float = Field(default=15.0, gt=0)
    poller_max_redirects: int = Field(default=5, ge=0)
    poller_allow_private_networks: bool = False
    poller_allowed_networks: list[str] = Field(default_factory=list)
    poller_min_interval_s: float = Field(default=300.0, gt=0)
    poller_max_interval_s: float = Field(default=86400.0, gt=0)
    poller_default_interval_s: float = Field(default=1800.0, gt=0)
    poller_retire_after_failures: int = Field(default=10, ge=1)
    poller_redirect_confirmations: int = Field(default=3, ge=1)
    poller_max_items_per_feed: int = Field(default=1000, ge=1)
    poller_state_flush_s: float = Field(default=2.0, ge=0)
    # --- end poller engine ---

    # Local state (poller memory, local stack data)
    state_dir: Path = Path.home() / ".local" / "state" / "newspipe"
    cache_dir: Path = Path.home() / ".cache" / "newspipe"

    # --- Poller scale-out, full text, feed health (poller-scale) ---
    # Feed registry: compacted topic keyed by feed URL. It and poller_state_topic have the
    # same partition count, so a feed's registry entry and its state share a partition.
    feed_registry_topic: str = "news.feeds"
    feed_topic_partitions: int = Field(default=12, ge=1)
    # Consumer group through which `poll --registry kafka` processes split the feeds.
    poller_group: str = "newspipe-pollers"
    poller_id: str | None = None  # default: host name and pid
    feed_health_index: str = "news-feed-health"
    # Full text: default mode for feeds that do not set one; "auto" fetches the article
    # page when the feed's text is shorter than full_text_min_chars or ends in "...".
    # Off unless asked for: it multiplies the requests sent to publishers.
    full_text_default: Literal["always", "auto", "never"] = "never"
    full_text_min_chars: int = Field(default=400, ge=0)
    max_page_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # --- end poller-scale ---

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("NEWSPIPE_CONFIG", "newspipe.toml"))
        return (init_settings, env_settings, dotenv_settings, file_secret_settings,
                TomlConfigSettingsSource(settings_cls, toml_file=config_file))

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


    def kafka_client_kwargs(self) -> dict[str, Any]:
        """Security options for every kafka-python client (producer, consumer, admin)."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap,
                                  "security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            kwargs["sasl_mechanism"] = self.kafka_sasl_mechanism
            kwargs["sasl_plain_username"] = self.kafka_sasl_username
            kwargs["sasl_plain_password"] = (self.kafka_sasl_password.get_secret_value()
                                             if self.kafka_sasl_password else None)
        for option, path in (("ssl_cafile", self.kafka_ssl_cafile),
                             ("ssl_certfile", self.kafka_ssl_certfile),
                             ("ssl_keyfile", self.kafka_ssl_keyfile)):
            if path is not None:
                kwargs[option] = str(path)
        return kwargs

    def kafka_java_properties(self) -> dict[str, str]:
        """The same security options as Java client properties (Beam's KafkaIO)."""
        props = {"bootstrap.servers": self.kafka_bootstrap,
                 "security.protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                      if self.kafka_sasl_mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            password = (self.kafka_sasl_password.get_secret_value()
                        if self.kafka_sasl_password else "")
            props["sasl.mechanism"] = self.kafka_sasl_mechanism
            props["sasl.jaas.config"] = (f'{module} required username="{self.kafka_sasl_username}"'
                                         f' password="{password}";')
        if self.kafka_ssl_cafile is not None:
            props["ssl.truststore.type"] = "PEM"
            props["ssl.truststore.location"] = str(self.kafka_ssl_cafile)
        return props

    def masked(self) -> dict[str, Any]:
        """Effective settings for display: secrets masked, paths as strings."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path):
                value = str(value)
            shown[name] = value
        return shown


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
