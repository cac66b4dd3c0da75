"""Stop a running poller mid-pass (SIGTERM to the real CLI process), start it again:
no item reaches Kafka twice and no feed is requested before its next poll time."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.kafka.topics import ensure_topics
from pipeline.settings import Settings
from tests.integration.poller_server import RecordingServer, Reply, Seen, rss
from tests.integration.test_poller_http import topic_keys

pytestmark = pytest.mark.integration

FEEDS = 20
ITEMS_PER_FEED = 3


def slow_feed(name: str) -> Callable[[Seen], Reply]:
    def reply(_seen: Seen) -> Reply:
        time.sleep(0.1)
        return Reply(200, rss(name, ITEMS_PER_FEED), {"Content-Type": "application/rss+xml"})
    return reply


def start_poller(feed_list: Path, base_url: str, settings: Settings, state_dir: Path,
                 log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ,
           "NEWSPIPE_CONFIG": str(state_dir / "absent.toml"),
           "NEWSPIPE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "NEWSPIPE_RAW_TOPIC": settings.raw_topic,
           "NEWSPIPE_STATE_DIR": str(state_dir),
           "NEWSPIPE_POLLER_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
           # One request start per 0.25 s on the single test host: a pass takes ~5 s,
           # long enough to stop it in the middle.
           "NEWSPIPE_POLLER_PER_HOST_INTERVAL_S": "0.25",
           "NEWSPIPE_POLLER_MIN_INTERVAL_S": "120"}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "poll", "--forever",
                                 "--feeds", str(feed_list), "--base-url", base_url],
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def test_restart_mid_pass_repeats_nothing_and_keeps_the_schedule(
        settings: Settings, tmp_path: Path, own_prefix: Callable[[str], str]) -> None:
    own = settings.with_overrides(raw_topic=f"{own_prefix('poller-restart')}.raw")
    ensure_topics(own)
    feed_list = tmp_path / "feeds.yaml"
    feed_list.write_text("feeds:\n" + "".join(f"  - url: '{{base_url}}/f{i}.rss'\n"
                                              for i in range(FEEDS)))
    state_dir = tmp_path / "state"
    log = tmp_path / "poller.log"
    with RecordingServer("127.0.0.1") as server:
        for i in range(FEEDS):
            server.route(f"/f{i}.rss", slow_feed(f"f{i}"))

        first = start_poller(feed_list, server.base_url, own, state_dir, log)
        wait_for(lambda: len(server.requests) >= 6, 60, "the first poller to start polling")
        assert stop(first) == 0, log.read_text()
        stopped_at = time.monotonic()
        polled_first = {r.path for r in server.requests}
        assert 0 < len(polled_first) < FEEDS, "the stop did not land in the middle of a pass"

        state = json.loads((state_dir / "poller" / "state.json").read_text())["feeds"]
        # Feeds whose poll completed have their next poll time saved; a request still in
        # flight at the stop was abandoned, so that feed is simply still due.
        completed = {"/" + url.rsplit("/", 1)[1] for url, feed in state.items()
                     if feed["next_poll_at"] > time.time() + 60}
        assert completed and completed <= polled_first

        second = start_poller(feed_list, server.base_url, own, state_dir, log)
        wait_for(lambda: {r.path for r in server.requests} >= {f"/f{i}.rss"
                                                              for i in range(FEEDS)},
                 90, "the second poller to poll the remaining feeds")
        time.sleep(1.0)  # would any feed be asked a second time?
        assert stop(second) == 0, log.read_text()

    per_feed = collections.Counter(r.path for r in server.requests)
    # Completed feeds were not asked again before their time; only an abandoned request
    # may have been repeated; every other feed was asked exactly once.
    assert not [r for r in server.requests if r.path in completed and r.at > stopped_at]
    assert {path for path, n in per_feed.items() if n > 1} <= polled_first - completed
    assert set(per_feed.values()) <= {1, 2}
    keys = topic_keys(own)
    assert len(keys) == FEEDS * ITEMS_PER_FEED
    assert len(set(keys)) == len(keys)  # no item produced twice
