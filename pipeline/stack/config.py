"""What the local stack runs, where it keeps its files, and on which ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

# Newest 4.1 patch release; 4.4.0 was also seen to run here on Java 17 (StackConfig can
# select it), but the 4.1 line has had the most fixes.
KAFKA_VERSION = "4.1.2"
# Newest integ-test-zip served by Maven Central here that is 9.x (9.2.9+ and 9.3+ are not).
ES_VERSION = "9.2.8"

# Kafka 4 brokers run on Java 17; Elasticsearch 9 needs Java 21 or newer.
JAVA17_HOME = Path("/usr/lib/jvm/java-17-openjdk-amd64")
JAVA21_HOME = Path("/usr/lib/jvm/temurin-25-jdk-amd64")

DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "newspipe"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "newspipe"
# pom files and config templates live in the repository, next to the package.
DEFAULT_DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "local"

# Elasticsearch refuses to run as root; root then runs it as this system account, whose
# home holds the ES files because root's own home (0700) is not reachable by it.
SERVICE_USER = "newspipe"
SERVICE_HOME = Path("/var/lib/newspipe")

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class StackConfig:
    """Everything `fetch`/`up`/`down`/`status` need; defaults suit one developer box."""

    state_dir: Path = DEFAULT_STATE_DIR
    cache_dir: Path = DEFAULT_CACHE_DIR
    deploy_dir: Path = DEFAULT_DEPLOY_DIR
    kafka_version: str = KAFKA_VERSION
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_partitions: int = 3
    kafka_heap: str = "512m"
    es_version: str = ES_VERSION
    es_port: int = 9200
    es_transport_port: int = 9300
    es_heap: str = "512m"
    java17_home: Path = JAVA17_HOME
    java21_home: Path = JAVA21_HOME
    start_timeout_s: float = 180.0


def kafka_bootstrap(cfg: StackConfig) -> str:
    return f"{LOOPBACK}:{cfg.kafka_port}"


def es_url(cfg: StackConfig) -> str:
    return f"http://{LOOPBACK}:{cfg.es_port}"


class StackSettings(Protocol):
    """The part of the project's settings the stack reads (duck-typed: no pydantic here)."""

    @property
    def state_dir(self) -> Path: ...

    @property
    def cache_dir(self) -> Path: ...

    @property
    def kafka_bootstrap(self) -> str: ...

    @property
    def es_url(self) -> str: ...


def bootstrap_port(bootstrap: str) -> int:
    """Port of the first broker in a bootstrap list such as "127.0.0.1:9092,other:9092"."""
    first = bootstrap.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"not a host:port bootstrap address: {bootstrap!r}")
    return int(port)


def url_port(url: str) -> int:
    """Port of an http(s) URL, falling back to the scheme's default."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return parts.port or (443 if parts.scheme == "https" else 80)


def config_from_settings(settings: StackSettings) -> StackConfig:
    """A StackConfig serving the addresses the settings point at.

    The companion ports follow the main ones (controller = broker + 1, transport = http
    + 100) so a second stack on other ports never collides with the default one.
    """
    kafka_port = bootstrap_port(settings.kafka_bootstrap)
    es_port = url_port(settings.es_url)
    return StackConfig(
        state_dir=settings.state_dir,
        cache_dir=settings.cache_dir,
        kafka_port=kafka_port,
        kafka_controller_port=kafka_port + 1,
        es_port=es_port,
        es_transport_port=es_port + 100,
    )
