"""Feed registry and Kafka-backed poller state against the real broker and Elasticsearch.

Each test gets its own registry, state topic, consumer group and health index.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from pipeline.cli import cli
from pipeline.kafka.assignment import KafkaFeedAssignment, registry_snapshot
from pipeline.kafka.poll_loop import PassSummary, engine_poll_once, run_registry_poller
from pipeline.kafka.producer import ArticlePublisher
from pipeline.kafka.registry import (
    FeedRegistry,
    RegisteredFeed,
    RegistryError,
    ensure_feed_topics,
)
from pipeline.kafka.topics import ensure_topics
from pipeline.poller.health import FeedHealthWriter, ensure_feed_health_index, health_doc_id
from pipeline.poller.state import FeedState
from pipeline.settings import Settings
from tests.support import delete_topics

pytestmark = pytest.mark.integration


# --- a feed server that records every request -------------------------------------------

class FeedServer:
    """``/feed/N.xml``: a one-item RSS feed with an ETag (304 on If-None-Match).
    Records (path, User-Agent, If-None-Match) of every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                etag = f'"{self.path}-v1"'
                with server.lock:
                    server.requests.append((self.path, self.headers.get("User-Agent", ""),
                                            self.headers.get("If-None-Match")))
                if not self.path.startswith("/feed/"):
                    self.send_error(404)
                    return
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                number = self.path.removeprefix("/feed/").removesuffix(".xml")
                body = (f'<?xml version="1.0"?><rss version="2.0"><channel>'
                        f"<title>Feed {number}</title><link>{server.base_url}/</link>"
                        f"<item><title>Story {number}</title>"
                        f"<link>{server.base_url}/story/{number}</link>"
                        f"<description>Story number {number}.</description></item>"
                        f"</channel></rss>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def feed_url(self, number: int) -> str:
        return f"{self.base_url}/feed/{number}.xml"

    def take_requests(self) -> list[tuple[str, str, str | None]]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture
def feed_settings(settings: Settings) -> Iterator[Settings]:
    """Own registry/state topics (4 partitions), group and health index; deleted after."""
    run = uuid.uuid4().hex[:8]
    own = settings.with_overrides(feed_registry_topic=f"test-{run}.feeds",
                                  poller_state_topic=f"test-{run}.poller.state",
                                  feed_topic_partitions=4,
                                  poller_group=f"test-{run}-pollers",
                                  feed_health_index=f"test-{run}-feed-health")
    yield own
    delete_topics(own, [own.feed_registry_topic, own.poller_state_topic])
    with Elasticsearch(**own.es_client_kwargs()) as es:
        es.indices.delete(index=own.feed_health_index, ignore_unavailable=True)
        es.options(ignore_status=404).indices.delete_index_template(
            name=f"newspipe-feed-health.{own.feed_health_index}")


def env_of(settings: Settings) -> dict[str, str]:
    return {"NEWSPIPE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "NEWSPIPE_ES_URL": settings.es_url,
            "NEWSPIPE_FEED_REGISTRY_TOPIC": settings.feed_registry_topic,
            "NEWSPIPE_POLLER_STATE_TOPIC": settings.poller_state_topic,
            "NEWSPIPE_FEED_TOPIC_PARTITIONS": str(settings.feed_topic_partitions),
            "NEWSPIPE_RAW_TOPIC": settings.raw_topic}


def pipeline_cli(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env_of(settings))
    assert result.exit_code == 0, result.output
    return result.stdout  # without log lines (kafka-python warns on stderr under load)


# --- tests ---------------------------------------------------------------------------------

def test_cli_add_list_remove_import_round_trip(feed_settings: Settings,
                                               tmp_path: Path) -> None:
    pipeline_cli(feed_settings, "feeds", "add", "https://one.example/rss", "--name", "One",
                 "--language", "en", "--tag", "world", "--tag", "daily",
                 "--full-text", "always")
    opml = tmp_path / "subs.opml"
    opml.write_text('<opml version="2.0"><body>'
                    '<outline text="Two" xmlUrl="https://two.example/atom"/>'
                    '<outline text="One again" xmlUrl="https://one.example/rss"/>'
                    "</body></opml>", encoding="utf-8")
    output = pipeline_cli(feed_settings, "feeds", "import-opml", str(opml))
    assert "imported 2 feeds" in output and "1 new, 1 updated" in output

    listed = [json.loads(line) for line in
              pipeline_cli(feed_settings, "feeds", "list", "--json").splitlines()]
    assert [(f["url"], f["name"]) for f in listed] == [
        ("https://one.example/rss", "One again"), ("https://two.example/atom", "Two")]

    pipeline_cli(feed_settings, "feeds", "remove", "https://one.example/rss")
    assert set(FeedRegistry(feed_settings).feeds()) == {"https://two.example/atom"}
    result = CliRunner().invoke(cli, ["feeds", "remove", "https://never.example/"],
                                env=env_of(feed_settings))
    assert result.exit_code == 1 and "not registered" in result.output

    # Registry and state topics exist, compacted, with the same partition count.
    assert ensure_feed_topics(feed_settings) == 4


def test_mismatched_partition_counts_are_refused(feed_settings: Settings) -> None:
    admin = KafkaAdminClient(**feed_settings.kafka_client_kwargs())
    try:
        admin.create_topics([NewTopic(feed_settings.feed_registry_topic, 2, 1),
                             NewTopic(feed_settings.poller_state_topic, 3, 1)])
    finally:
        admin.close()
    with pytest.raises(RegistryError, match="2 partitions .* has 3: they must be equal"):
        ensure_feed_topics(feed_settings)


def test_state_survives_a_restart_and_registry_changes_reach_a_running_poller(
        feed_settings: Settings) -> None:
    registry = FeedRegistry(feed_settings)
    registry.ensure_topics()
    kept, dropped = "https://kept.example/rss", "https://dropped.example/rss"
    registry.add([RegisteredFeed(kept, "Kept"), RegisteredFeed(dropped, "Dropped")])

    first = KafkaFeedAssignment(feed_settings, poller_id="first")
    try:
        assert {f.url for f in first.wait_ready()} == {kept, dropped}
        assert first.owned_partitions == [0, 1, 2, 3]
        state = first.store.get(kept)
        state.etag, state.next_poll_at, state.polls = '"abc"', 1_900_000_000.0, 7
        state.remember(["id-1", "id-2"])
        first.store.put(state)
        first.store.put(FeedState(url=dropped, polls=1))

        added = "https://added.example/rss"
        registry.add([RegisteredFeed(added, "Added at run time")])
        registry.remove([dropped])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            urls = {f.url for f in first.poll_membership(timeout_s=0.5)}
            if urls == {kept, added}:
                break
        assert urls == {kept, added}
    finally:
        first.close()  # writes the states and leaves the group

    second = KafkaFeedAssignment(feed_settings, poller_id="second")
    try:
        second.wait_ready()
        restored = second.store.get(kept)
        assert (restored.etag, restored.next_poll_at, restored.polls) == (
            '"abc"', 1_900_000_000.0, 7)
        assert restored.seen_ids == ["id-1", "id-2"] and second.store.was_sent("id-1")
        assert dropped not in {s.url for s in second.store.all()}
    finally:
        second.close()
    feeds, states = registry_snapshot(feed_settings)
    assert set(feeds) == {kept, added} and dropped not in states  # tombstoned
    status = [json.loads(line) for line in
              pipeline_cli(feed_settings, "feeds", "status", "--json").splitlines()]
    by_url = {doc["feed_url"]: doc for doc in status}
    assert by_url[kept]["feed_name"] == "Kept" and by_url[added]["status"] == "pending"


def test_restarted_poller_continues_from_the_stored_state(feed_settings: Settings) -> None:
    """Two poller lifetimes one after the other, with the project's polling engine: the
    second produces nothing again, and whatever it fetches is a conditional request
    carrying the ETag the first one stored (the asynchronous engine fetches nothing at
    all: no feed is due yet)."""
    with FeedServer() as server:
        registry = FeedRegistry(feed_settings)
        registry.ensure_topics()
        registry.add([RegisteredFeed(server.feed_url(i), f"Feed {i}") for i in range(6)])
        publisher = ArticlePublisher(feed_settings.kafka_client_kwargs(),
                                     feed_settings.raw_topic)
        passes: list[PassSummary] = []
        requests = []
        try:
            for _lifetime in range(2):
                run_registry_poller(feed_settings, engine_poll_once(feed_settings, publisher),
                                    every=None, on_pass=passes.append)
                requests.append(server.take_requests())
        finally:
            publisher.close()
    first, second = requests
    assert sorted(p for p, _, _ in first) == sorted(f"/feed/{i}.xml" for i in range(6))
    assert all(validator is None for _, _, validator in first)
    assert set(passes[0].statuses.values()) == {"ok"} and len(passes[0].statuses) == 6
    assert all(validator == f'"{path}-v1"' for path, _, validator in second)
    assert set(passes[1].statuses.values()) <= {"not_modified"}
    assert passes[1].feeds == 6
    _, states = registry_snapshot(feed_settings)
    for i in range(6):
        state = states[server.feed_url(i)]
        assert state.etag == f'"/feed/{i}.xml-v1"' and state.items_produced == 1
        assert state.last_success_at is not None and state.consecutive_failures == 0


def test_health_documents_land_in_elasticsearch(feed_settings: Settings) -> None:
    now = time.time()
    ok = FeedState(url="https://ok.example/rss", polls=3, last_polled_at=now - 60,
                   last_success_at=now - 60, items_produced=12, next_poll_at=now + 900,
                   new_item_times=[now - 3600] * 12)
    failing = FeedState(url="https://failing.example/rss", polls=4, last_polled_at=now - 30,
                        last_error_at=now - 30, last_error="HTTP 503 Service Unavailable",
                        last_error_class="http_503", consecutive_failures=4,
                        next_poll_at=now + 240)
    retired = FeedState(url="https://gone.example/rss", polls=9, retired=True,
                        retired_reason="HTTP 410 Gone")
    feeds = {ok.url: RegisteredFeed(ok.url, "OK feed")}
    with Elasticsearch(**feed_settings.es_client_kwargs()) as es:
        # The writer installs the template before its first write (never a dynamic index).
        writer = FeedHealthWriter(es, feed_settings.feed_health_index, "poller-x")
        assert writer.write([ok, failing, retired], feeds, now, {ok.url: "not_modified"}) == 3
        ensure_feed_health_index(es, feed_settings.feed_health_index)  # idempotent
        assert writer.write([ok], feeds, now + 1) == 1  # overwritten, not duplicated
        es.indices.refresh(index=feed_settings.feed_health_index)
        assert es.count(index=feed_settings.feed_health_index)["count"] == 3
        doc = es.get(index=feed_settings.feed_health_index, id=health_doc_id(ok.url))["_source"]
        assert (doc["status"], doc["feed_name"], doc["items_per_day"], doc["poller_id"]) == (
            "ok", "OK feed", 12.0, "poller-x")
        problems = es.search(index=feed_settings.feed_health_index,
                             query={"terms": {"status": ["error", "retired"]}},
                             sort=[{"feed_url": "asc"}])["hits"]["hits"]
        assert [(h["_source"]["feed_url"], h["_source"]["last_error_class"],
                 h["_source"]["retired_reason"]) for h in problems] == [
            (failing.url, "http_503", None), (retired.url, None, "HTTP 410 Gone")]
        # The strict mapping refuses fields outside the contract.
        with pytest.raises(Exception, match="strict_dynamic_mapping"):
            es.index(index=feed_settings.feed_health_index, id="x",
                     document={"feed_url": "u", "surprise": 1})
    assert writer.failures == 0


def test_registry_is_created_copartitioned_with_an_existing_state_topic(
        feed_settings: Settings) -> None:
    admin = KafkaAdminClient(**feed_settings.kafka_client_kwargs())
    try:
        admin.create_topics([NewTopic(feed_settings.poller_state_topic, 3, 1,
                                      topic_configs={"cleanup.policy": "compact"})])
    finally:
        admin.close()
    # An older deployment: the state topic has 3 partitions, the setting says 4.
    reports = {r.name: r for r in ensure_topics(feed_settings)}
    assert reports[feed_settings.feed_registry_topic].created
    assert reports[feed_settings.feed_registry_topic].partitions == 3
    assert ensure_feed_topics(feed_settings) == 3


def test_a_rebalance_keeps_unchanged_partitions_without_rereading_them(
        feed_settings: Settings) -> None:
    registry = FeedRegistry(feed_settings)
    registry.ensure_topics()
    urls = [f"https://site{i}.example/rss" for i in range(16)]
    registry.add([RegisteredFeed(url) for url in urls])

    first = KafkaFeedAssignment(feed_settings, poller_id="first", session_timeout_ms=6000)
    stop = threading.Event()
    try:
        first.wait_ready()
        assert first.loads == 4 and first.owned_partitions == [0, 1, 2, 3]
        for url in urls:
            state = first.store.get(url)
            state.etag = f'"{url}"'
            first.store.put(state)
        first.store.flush()

        def serve() -> None:  # the first poller keeps serving the group meanwhile
            while not stop.is_set():
                first.poll_membership(timeout_s=0.2)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        second = KafkaFeedAssignment(feed_settings, poller_id="second", session_timeout_ms=6000)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                    second.ready and len(first.owned_partitions) == 2 and first.ready):
                second.poll_membership(timeout_s=0.2)
            stop.set()
            server.join(timeout=30)
            assert len(first.owned_partitions) == 2 and len(second.owned_partitions) == 2
            # The first poller gave all four up and got two back, unchanged: not re-read.
            assert (first.loads, first.reuses) == (4, 2)
            assert second.loads == 2
            # Both see the same states: first from memory, second from Kafka.
            for assignment in (first, second):
                owned = assignment.store.all()
                assert owned and all(s.etag == f'"{s.url}"' for s in owned)
            assert {f.url for f in first.feeds} | {f.url for f in second.feeds} == set(urls)
        finally:
            second.close()
    finally:
        stop.set()
        first.close()
