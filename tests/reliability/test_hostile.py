"""Hostile input through the real pipeline: a corpus of broken and hostile feeds next to
good ones, polled by the real `pipeline poll` process, indexed by the real job.

Each hostile feed is refused or cut with its own reason class (the poller's feed state and
log), the poller stays up and small, the good feeds and the valid parts of the hostile ones
are indexed exactly once with sane, markup-free text, and no fetch (feed, redirect hop,
article page, re-resolved name) reaches an address the operator did not allow.

One pipeline run serves the whole module (the job's start-up is most of the time); the
tests then each check one promise. The DNS re-resolution test runs the engine in-process:
it needs a scripted resolver, which a CLI process cannot be given.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from elasticsearch import Elasticsearch, helpers
from kafka import KafkaConsumer, TopicPartition

from pipeline import stack as local_stack
from pipeline.models import article_id
from pipeline.poller import netguard
from pipeline.poller.feeds import FeedSource
from pipeline.poller.parse import MAX_ARTICLE_BYTES
from pipeline.poller.run import poll_once
from pipeline.poller.state import PollerState
from tests.reliability.conftest import drop_run, new_run
from tests.reliability.feed_server import FeedServer
from tests.reliability.harness import (
    Run,
    assert_exact,
    reconcile,
    run_job,
    start_poller,
    stop,
    tail,
    wait_until_drained,
)
from tests.reliability.hostile_server import ARTICLE_PAGE, HostileServer, rss

pytestmark = pytest.mark.reliability

MAX_ITEMS = 40  # the 10,000-item feed is cut to this (NEWSPIPE_POLLER_MAX_ITEMS_PER_FEED)
FETCH_DEADLINE_S = 6  # total deadline per fetch: ends the slowloris
# Generous: the poller alone is ~100 MB; it must not hold a 200 MB or endless body.
PEAK_RSS_LIMIT_MB = 400
FORBIDDEN = ("<script", "javascript:", "onerror=", "vbscript:", "data:text")
HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>")
PAGE_TEXT = "Porthaven"  # in tests/data/pages/storm-article.html
HOSTILE_ENV = {
    # Only the test server's own address: 127.0.0.2 (the canary) counts as forbidden.
    "NEWSPIPE_POLLER_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
    "NEWSPIPE_POLLER_PER_HOST_CONCURRENCY": "32",  # every hostile feed at once
    "NEWSPIPE_FETCH_TIMEOUT_S": str(FETCH_DEADLINE_S),
    "NEWSPIPE_POLLER_MAX_ITEMS_PER_FEED": str(MAX_ITEMS),
}


@dataclass
class Outcome:
    """Everything the module's one pipeline run produced, for the tests to judge."""

    run: Run
    server: HostileServer
    expected: set[str]
    exit_codes: dict[str, int]
    peak_rss_mb: float
    samples: int
    poll_log: str
    full_text_log: str
    full_text_links: dict[str, str]
    states: dict[str, Any]
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)


def feed_list(path: Path, urls: list[str]) -> Path:
    path.write_text(yaml.safe_dump({"feeds": [{"url": u, "language": "en"} for u in urls]}))
    return path


def watch(proc: Any, timeout_s: float) -> tuple[int, float, int]:
    """Wait for ``proc``, sampling its peak RSS (VmHWM) meanwhile: (exit code, MB, samples)."""
    peak_kb, samples = 0, 0
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kb = max(peak_kb, int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))  # type: ignore[union-attr]
            samples += 1
        except (OSError, AttributeError):
            pass  # exited between poll() and the read
        assert time.monotonic() < deadline, "the poller did not finish its pass"
        time.sleep(0.05)
    return proc.returncode, peak_kb / 1024, samples


@pytest.fixture(scope="module")
def outcome(fault_stack: local_stack.StackConfig,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    for service in local_stack.SERVICE_NAMES:  # an earlier fault test may have left one down
        local_stack.start_service(fault_stack, service, progress=print)
    tmp = tmp_path_factory.mktemp("hostile")
    run = new_run(fault_stack, tmp, "test_hostile")
    run.poller_env.update(HOSTILE_ENV)
    try:
        with FeedServer(run.name, feeds=3, items_per_feed=4) as good, \
                HostileServer(run.name) as hostile:
            urls = [good.feed_url(i) for i in range(good.feed_count)]
            urls += [hostile.feed_url(path) for path in hostile.feeds]
            poller = start_poller(run, feed_list(tmp / "feeds.yaml", urls))
            code, peak_mb, samples = watch(poller, 300)
            # Article pages (full text "always" for this pass): one extracts, the others
            # redirect to forbidden addresses or live on one.
            path, links = hostile.full_text_feed()
            run.poller_env["NEWSPIPE_FULL_TEXT_DEFAULT"] = "always"
            full = start_poller(run, feed_list(tmp / "full.yaml", [hostile.feed_url(path)]),
                                log_name="poll-full-text.log")
            full_code, full_peak, _ = watch(full, 300)
            store = PollerState(run.settings.state_dir / "poller" / "state.json")
            states = {url: store.get(url) for url in urls}
            expected = good.served_ids() | {e.id for feed in hostile.feeds.values()
                                            for e in feed.expected[:MAX_ITEMS]}
            expected |= {article_id(link) for link in links}
            result = Outcome(run, hostile, expected, {"poll": code, "full-text": full_code},
                             max(peak_mb, full_peak), samples,
                             (run.logs / "poller.log").read_text(errors="replace"),
                             (run.logs / "poll-full-text.log").read_text(errors="replace"),
                             links, states)
        job = run_job(run)
        with Elasticsearch(**run.settings.es_client_kwargs()) as es:
            try:
                wait_until_drained(run, es, expected, job, 600, stall_s=60)
            finally:
                stop(job)
            result.documents = {hit["_id"]: hit["_source"] for hit in
                                helpers.scan(es, index=run.settings.es_index)}
        yield result
    finally:
        drop_run(run)


# --- the poller -----------------------------------------------------------------------


def test_every_hostile_feed_gets_its_own_reason(outcome: Outcome) -> None:
    rows = []
    for path, feed in outcome.server.feeds.items():
        state = outcome.states[outcome.server.feed_url(path)]
        got = state.last_error_class
        rows.append(f"  {feed.what:<70} -> {got or state.last_status}: "
                    f"{(state.last_error or '')[:110]}")
        if feed.reason_class is None:
            assert state.last_status == "ok" and got is None, (path, state.last_error)
        else:
            assert got == feed.reason_class, (path, state.last_error)
            assert state.last_status == "error" and state.last_error, path
            assert f"feed failed: {outcome.server.feed_url(path)}" in outcome.poll_log, path
    print("hostile corpus:\n" + "\n".join(rows))


def test_item_level_fixes_are_logged_with_their_reason(outcome: Outcome) -> None:
    for path, feed in outcome.server.feeds.items():
        if feed.note is None or feed.note == "unsafe_link":  # skips: checked below
            continue
        url = outcome.server.feed_url(path)
        fixes = [line for line in outcome.poll_log.splitlines() if f"{url}: fixed items:" in line]
        assert any(f"'{feed.note}'" in line for line in fixes), (path, fixes)
    many = outcome.server.feed_url("/ten-thousand.xml")
    assert re.search(re.escape(many) + r": fixed items: .*'too_many_items': "
                     + str(10_000 - MAX_ITEMS), outcome.poll_log)
    links = outcome.server.feed_url("/links.xml")
    for number, scheme in enumerate(("javascript", "data", "vbscript"), start=1):
        assert (f"{links}: skipped item #{number}: link with scheme '{scheme}' refused"
                in outcome.poll_log)
    assert f"{links}: skipped item #4: link of 100028 characters refused" in outcome.poll_log


def test_the_poller_stays_up_and_small(outcome: Outcome) -> None:
    assert outcome.exit_codes == {"poll": 0, "full-text": 0}, tail(outcome.run.logs /
                                                                     "poller.log")
    assert outcome.samples > 10  # it was watched while it worked
    sent = outcome.server.bytes_sent
    print(f"poller peak RSS {outcome.peak_rss_mb:.0f} MB (limit {PEAK_RSS_LIMIT_MB}); bytes "
          f"the server got out before the poller hung up: "
          + ", ".join(f"{path} {n / 2**20:.1f} MB" for path, n in sorted(sent.items()))
          + f"; slowloris held {outcome.server.seconds_open.get('/slowloris.xml', 0):.1f} s")
    assert outcome.peak_rss_mb < PEAK_RSS_LIMIT_MB
    assert sent["/huge.xml"] < 100 * 2**20  # cut off, not read to the end
    assert outcome.server.seconds_open["/slowloris.xml"] < FETCH_DEADLINE_S + 10


def test_no_connection_was_made_to_a_forbidden_address(outcome: Outcome) -> None:
    assert outcome.server.canary.connections == 0
    for path, where in (("/to-private.xml", "10.0.0.1"),
                        ("/to-metadata.xml", "169.254.169.254"),
                        ("/to-canary.xml", "127.0.0.2")):
        error = outcome.states[outcome.server.feed_url(path)].last_error or ""
        assert f"refused to connect to {where}" in error, error


# --- what reached the index ---------------------------------------------------------------


def test_good_feeds_and_valid_parts_are_indexed_exactly_once(outcome: Outcome) -> None:
    with Elasticsearch(**outcome.run.settings.es_client_kwargs()) as es:
        assert_exact(reconcile(es, outcome.run.settings, outcome.expected))


def test_cut_and_recoded_items_are_stored_sanely(outcome: Outcome) -> None:
    docs = outcome.documents
    checked = 0
    for path, feed in outcome.server.feeds.items():
        for expected in feed.expected[:MAX_ITEMS]:
            doc = docs[expected.id]
            assert doc["title"] == expected.title, (path, doc["title"][:200])
            assert doc["url"] == expected.url
            checked += 1
    many = outcome.server.feeds["/ten-thousand.xml"].expected
    assert not any(e.id in docs for e in many[MAX_ITEMS:])  # the cap held
    mega = docs[outcome.server.feeds["/mega-titles.xml"].expected[0].id]
    assert len(mega["title"]) == 1000 and len(json.dumps(mega)) < 200_000
    huge = docs[outcome.server.feeds["/huge-item.xml"].expected[0].id]
    assert huge["body"].startswith("Grüße aus Zürich, café crème.")
    assert 500_000 < len(huge["body"].encode()) <= MAX_ARTICLE_BYTES  # cut to fit Kafka
    print(f"{checked} items from hostile feeds stored with the expected title")


def test_only_http_urls_are_stored(outcome: Outcome) -> None:
    for doc in outcome.documents.values():
        for name in ("url", "canonical_url", "feed_url"):
            assert doc[name].startswith(("http://", "https://")), (name, doc[name])


def text_values(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every stored text value of a document, with its field path."""
    for name in ("title", "summary", "body", "feed_title", "authors", "keywords", "persons",
                 "organizations", "locations", "countries", "topic_labels"):
        value = doc.get(name)
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                yield name, text
    for entity in doc.get("entities", []):
        yield "entities.name", entity["name"]
        for form in entity.get("surface_forms", []):
            yield "entities.surface_forms", form


def test_no_markup_or_script_reaches_the_index(outcome: Outcome) -> None:
    for doc in outcome.documents.values():
        for name, text in text_values(doc):
            lowered = text.lower()
            assert not any(bad in lowered for bad in FORBIDDEN), (doc["url"], name, text[:300])
            assert not HTML_TAG.search(text), (doc["url"], name, text[:300])
    markup = [outcome.documents[e.id]
              for e in outcome.server.feeds["/markup.xml"].expected]
    for doc in markup:  # the legitimate text around the markup survives
        assert doc["feed_title"] == "Markup Gazette"
        assert "Summary of the meeting ends here." in doc["summary"], doc["summary"]
        assert "harbour council met on Tuesday evening" in doc["body"]
        assert "Mayor Anna Berg said the work starts in May." in doc["body"], doc["body"]
        assert "Repairs follow." in doc["body"]
    print("markup feed, as stored: " + " | ".join(d["title"] for d in markup))


def test_article_pages_behind_forbidden_addresses_are_refused_and_items_kept(
        outcome: Outcome) -> None:
    by_case = {case: outcome.documents[article_id(url)]
               for url, case in outcome.full_text_links.items()}
    assert PAGE_TEXT in by_case["good"]["body"]  # full text really was on
    log = outcome.full_text_log
    for case, where in (("to-canary", "127.0.0.2"), ("to-metadata", "169.254.169.254"),
                        ("private-host", "10.0.0.1")):
        doc = by_case[case]
        assert doc["body"] == f"Teaser for {case}.", (case, doc["body"][:200])
        assert f"refused to connect to {where}" in log, (case, log[-3000:])
        url = next(u for u, c in outcome.full_text_links.items() if c == case)
        assert f"full text of {url} not used" in log, case
    assert outcome.server.canary.connections == 0


# --- DNS re-resolution (in-process: a scripted resolver) ---------------------------------


class Rebinding:
    """A resolver for ``rebind.test``: 127.0.0.1 until ``rebound``, then 127.0.0.2."""

    rebound = False

    def __init__(self) -> None:
        from aiohttp.resolver import ThreadedResolver

        self._real = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        if host != "rebind.test":
            return await self._real.resolve(host, port, family)
        address = "127.0.0.2" if Rebinding.rebound else "127.0.0.1"
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        await self._real.close()


def raw_articles(run: Run) -> dict[str, dict[str, Any]]:
    consumer = KafkaConsumer(**run.settings.kafka_client_kwargs(), group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(run.settings.raw_topic, p)
                      for p in sorted(consumer.partitions_for_topic(run.settings.raw_topic)
                                      or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: dict[str, dict[str, Any]] = {}
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    article = json.loads(record.value)
                    found[article["url"]] = article
        return found
    finally:
        consumer.close()


def test_article_host_re_resolving_to_a_private_address_is_refused(
        run: Run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    links: list[str] = []

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            if self.path == "/feed.xml":
                body = rss([f"<item><title>Rebind {n}</title><link>{link}</link>"
                            f"<description>Teaser {n}.</description></item>"
                            for n, link in enumerate(links)]).encode()
            elif self.path.startswith("/article/"):
                body = ARTICLE_PAGE
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    port = site.server_address[1]
    # The rebinding target: same port on a loopback address the poller may not reach.
    canary = ThreadingHTTPServer(("127.0.0.2", port), Site)
    connections: list[object] = []
    canary.verify_request = lambda request, address: connections.append(address) or True  # type: ignore[method-assign]
    for server in (site, canary):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(netguard, "ThreadedResolver", Rebinding)
    monkeypatch.setattr(Rebinding, "rebound", False)
    settings = run.settings.with_overrides(
        poller_allowed_networks=["127.0.0.1/32"], poller_per_host_interval_s=0.0,
        full_text_default="always")
    feeds = [FeedSource(f"http://127.0.0.1:{port}/feed.xml")]
    try:
        with caplog.at_level("INFO", logger="pipeline.poller"):
            links.append(f"http://rebind.test:{port}/article/first")
            first = asyncio.run(poll_once(settings, feeds, force=True))
            Rebinding.rebound = True  # the publisher's DNS now answers a private address
            links.append(f"http://rebind.test:{port}/article/second")
            second = asyncio.run(poll_once(settings, feeds, force=True))
    finally:
        for server in (site, canary):
            server.shutdown()
            server.server_close()
    assert (first.articles_sent, second.articles_sent) == (1, 1)
    published = raw_articles(run)
    assert PAGE_TEXT in published[links[0]]["content"]  # resolved to an allowed address
    kept = published[links[1]]
    assert kept["content"] == "" and kept["summary"] == "Teaser 1."  # nothing lost
    assert connections == []
    assert "refused to connect to rebind.test (127.0.0.2): loopback address" in caplog.text
    assert f"full text of {links[1]} not used" in caplog.text
