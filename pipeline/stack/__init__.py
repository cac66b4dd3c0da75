"""Local development stack: a real single-node Kafka (KRaft) and Elasticsearch.

Both come from Maven Central via `mvn` and run as detached JVMs whose data, logs and pid
files live in one state dir. Typical use::

    cfg = StackConfig()
    up(cfg)                      # idempotent; waits until both answer
    kafka_bootstrap(cfg), es_url(cfg)
    down(cfg)                    # stops exactly what `up` started
"""

from pipeline.stack.config import (
    ES_VERSION,
    KAFKA_VERSION,
    StackConfig,
    StackSettings,
    config_from_settings,
    es_url,
    kafka_bootstrap,
)
from pipeline.stack.errors import StackError
from pipeline.stack.manager import (
    SERVICE_NAMES,
    ServiceStatus,
    StackStatus,
    down,
    fetch,
    start_service,
    status,
    stop_service,
    up,
)

__all__ = [
    "ES_VERSION",
    "KAFKA_VERSION",
    "SERVICE_NAMES",
    "ServiceStatus",
    "StackConfig",
    "StackSettings",
    "StackError",
    "StackStatus",
    "config_from_settings",
    "down",
    "es_url",
    "fetch",
    "kafka_bootstrap",
    "start_service",
    "status",
    "stop_service",
    "up",
]
