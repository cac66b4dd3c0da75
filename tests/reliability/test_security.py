"""Security settings: TLS verified by default (feeds, Elasticsearch, Kafka), secrets never
in logs, `config show` or dead letters. Mostly without the stack; the feed check runs the
real poller CLI."""

from __future__ import annotations

import io
import json
import logging
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from elastic_transport import TlsError
from elasticsearch import Elasticsearch

from pipeline.kafka.dead_letter import DeadLetter
from pipeline.observability import JsonFormatter
from pipeline.settings import Settings
from pipeline.sinks.backoff import OutageTimeout
from pipeline.sinks.elasticsearch import ElasticsearchSink
from tests.reliability.feed_server import FeedServer
from tests.reliability.harness import Run, start_cli, start_poller, tail, topic_key_counts

pytestmark = pytest.mark.reliability

SECRET = "rel-Secret-5e1b77-do-not-log"
SECRET_ENV = {"NEWSPIPE_ES_PASSWORD": SECRET, "NEWSPIPE_ES_USERNAME": "elastic",
              "NEWSPIPE_ES_API_KEY": SECRET, "NEWSPIPE_KIBANA_API_KEY": SECRET,
              "NEWSPIPE_KAFKA_SASL_PASSWORD": SECRET}


# --- a TLS server with a self-signed certificate ---------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class _Handler(BaseHTTPRequestHandler):
    """Answers like a tiny Elasticsearch (info) or a feed, whichever is asked."""

    feed: bytes = b""

    def do_GET(self) -> None:  # noqa: N802
        if self.path.endswith(".xml"):
            body, kind = self.feed, "application/rss+xml"
        else:
            body = json.dumps({"name": "fake", "cluster_name": "tls-test", "version": {
                "number": "9.2.8", "build_flavor": "default"}, "tagline": "You Know, for Search"}
                              ).encode()
            kind = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[str]:
    cert, key = self_signed
    with FeedServer("tls", feeds=1, items_per_feed=3) as plain:
        _Handler.feed = plain.render(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --- TLS on by default -----------------------------------------------------------------


def test_poller_refuses_a_feed_with_an_untrusted_certificate(
        run: Run, tls_server: str, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - url: {tls_server}/feeds/0.xml\n")
    poller = start_poller(run, feeds, log_name="poll-tls.log")
    assert poller.wait(120) == 1, tail(run.logs / "poll-tls.log")  # every feed failed
    log = (run.logs / "poll-tls.log").read_text(errors="replace").lower()
    assert "certificate" in log, log[-2000:]
    assert not topic_key_counts(run.settings, run.settings.raw_topic)


def test_elasticsearch_client_verifies_tls_and_trusts_only_the_configured_ca(
        tls_server: str, self_signed: tuple[Path, Path]) -> None:
    default = Settings(es_url=tls_server)
    with Elasticsearch(**default.es_client_kwargs(), max_retries=0) as client, \
            pytest.raises(TlsError) as refused:
        client.info()
    assert "CERTIFICATE_VERIFY_FAILED" in repr(refused.value)

    with_ca = Settings(es_url=tls_server, es_ca_certs=self_signed[0])
    with Elasticsearch(**with_ca.es_client_kwargs()) as client:
        assert client.info()["cluster_name"] == "tls-test"


def test_kafka_clients_verify_tls_when_configured(self_signed: tuple[Path, Path]) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=self_signed[0],
                        kafka_bootstrap="broker.example.org:9093")
    kwargs = settings.kafka_client_kwargs()
    # Nothing in our options turns verification off; the clients' defaults keep it on.
    assert kwargs["security_protocol"] == "SSL" and kwargs["ssl_cafile"] == str(self_signed[0])
    assert "ssl_check_hostname" not in kwargs and "ssl_context" not in kwargs
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert client.DEFAULT_CONFIG["ssl_check_hostname"] is True
    java = settings.kafka_java_properties()
    assert java["security.protocol"] == "SSL"
    assert java["ssl.truststore.location"] == str(self_signed[0])
    # Java verifies the host name unless this is set to "" (it must not be).
    assert java.get("ssl.endpoint.identification.algorithm", "https") == "https"


# --- secrets -----------------------------------------------------------------------------


def secret_settings(**overrides: Any) -> Settings:
    return Settings(es_username="elastic", es_password=SECRET, es_api_key=SECRET,
                    kibana_api_key=SECRET, kafka_sasl_mechanism="PLAIN",
                    kafka_sasl_username="newspipe", kafka_sasl_password=SECRET, **overrides)


def test_settings_never_show_secrets() -> None:
    settings = secret_settings()
    for shown in (repr(settings), str(settings), json.dumps(settings.masked()),
                  settings.model_dump_json()):
        assert SECRET not in shown


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "NEWSPIPE_STATE_DIR": str(tmp_path), **SECRET_ENV,
           "NEWSPIPE_KAFKA_SASL_MECHANISM": "PLAIN"}
    for args in (["config", "show", "--json"], ["config", "show"]):
        out = subprocess.run([sys.executable, "-m", "pipeline", *args], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        assert SECRET not in out.stdout + out.stderr
    assert json.loads(subprocess.run(
        [sys.executable, "-m", "pipeline", "config", "show", "--json"], env=env,
        capture_output=True, text=True, timeout=120, check=True).stdout)["es_password"] \
        == "**********"


def test_logs_never_contain_secrets_even_when_settings_are_logged() -> None:
    settings = secret_settings()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("newspipe.reliability.secrets")
    logger.addHandler(handler)
    try:
        logger.warning("effective settings: %s", settings, extra={"settings": settings})
        logger.warning("client options: %s", settings.masked())
    finally:
        logger.removeHandler(handler)
    assert SECRET not in stream.getvalue() and "**********" in stream.getvalue()


def test_elasticsearch_outage_logs_and_errors_carry_no_credentials(
        caplog: pytest.LogCaptureFixture) -> None:
    closed = "http://elastic:" + SECRET + "@127.0.0.1:9"  # credentials in the URL as well
    settings = secret_settings(es_url=closed)
    client = Elasticsearch(**settings.es_client_kwargs(), max_retries=0)
    sink = ElasticsearchSink(client, "articles", outage_timeout_s=1.0, sleep=lambda _s: None)
    with caplog.at_level(logging.DEBUG), pytest.raises(OutageTimeout) as raised:
        sink.write([{"id": "a1", "title": "t"}])
    client.close()
    assert caplog.records, "the outage was not logged"
    assert SECRET not in caplog.text
    assert SECRET not in str(raised.value)
    letter = DeadLetter.build(stage="index", reason=str(raised.value),
                              error_type=type(raised.value).__name__, payload=b"{}")
    assert SECRET not in letter.to_json_bytes().decode()


def test_poller_log_carries_no_secrets(run: Run, tmp_path: Path) -> None:
    with FeedServer(run.name, feeds=2, items_per_feed=2) as server:
        feeds = server.write_feed_list(tmp_path / "feeds.yaml")
        # Secrets the poller holds but does not need against this unsecured stack.
        run.poller_env.update({k: v for k, v in SECRET_ENV.items()
                               if "KAFKA" not in k})
        poller = start_cli(run, ["-v", "--log-format", "json", "poll", "--feeds", str(feeds)],
                           "poll-secrets.log")
        assert poller.wait(120) == 0, tail(run.logs / "poll-secrets.log")
    log = (run.logs / "poll-secrets.log").read_text(errors="replace")
    assert "feeds/0.xml" in log  # it did log its work
    assert SECRET not in log
