"""The sent-items journal: acknowledged batches survive a kill before the next checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from kafka.errors import KafkaTimeoutError

from pipeline.kafka.assignment import KafkaStateStore, StateFlushError, decode_state
from pipeline.kafka.registry import partition_for
from pipeline.poller.feeds import FeedSource
from pipeline.poller.state import FeedState, PollerState
from tests.unit.test_poller import FEEDS, RecordingPublisher, SyncPoller, _feed_with_item


class KilledBeforeCheckpoint(PollerState):
    """A store whose process dies before any whole-state write: only the journal lands."""

    def save(self) -> None:
        pass


def journal_lines(store: PollerState) -> list[dict[str, object]]:
    return [json.loads(line) for line in store.journal_path.read_text().splitlines()]


def acknowledged(store: PollerState, url: str, ids: list[str],
                 versions: dict[str, float] | None = None) -> None:
    """What the engine does after Kafka's ack: remember in memory, then journal."""
    state = store.get(url)
    state.remember(ids)
    state.item_versions.update(versions or {})
    store.mark_sent(ids)
    store.record_sent(state, ids)


def test_each_batch_is_one_fsynced_line(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr("pipeline.poller.state.os.fsync", synced.append)
    store = PollerState(tmp_path / "state.json")
    acknowledged(store, "http://a/rss", ["a1", "a2"], {"a2": 5.0})
    acknowledged(store, "http://b/rss", ["b1"])
    assert store.journal_path == tmp_path / "state.journal"
    assert journal_lines(store) == [
        {"feed": "http://a/rss", "ids": ["a1", "a2"], "versions": {"a2": 5.0}},
        {"feed": "http://b/rss", "ids": ["b1"], "versions": {}}]
    assert len(synced) == 2
    assert not store.path.exists()  # no checkpoint was asked for


def test_an_empty_batch_writes_nothing(tmp_path: Path) -> None:
    store = PollerState(tmp_path / "state.json")
    store.record_sent(store.get("http://a/rss"), [])
    assert not store.journal_path.exists()


def test_journal_is_replayed_on_top_of_the_checkpoint(tmp_path: Path) -> None:
    store = PollerState(tmp_path / "state.json")
    acknowledged(store, "http://a/rss", ["a1"])
    store.get("http://a/rss").etag = '"v1"'
    store.save()
    acknowledged(store, "http://a/rss", ["a2"], {"a2": 7.0})
    acknowledged(store, "http://new/rss", ["n1"])
    # kill -9 here: a fresh process reads the checkpoint, then the journal
    reloaded = PollerState(tmp_path / "state.json")
    assert reloaded.replayed == 2
    feed = reloaded.get("http://a/rss")
    assert (feed.etag, feed.seen_ids, feed.item_versions) == ('"v1"', ["a1", "a2"],
                                                              {"a2": 7.0})
    assert reloaded.get("http://new/rss").seen_ids == ["n1"]
    assert all(reloaded.was_sent(i) for i in ("a1", "a2", "n1"))


def test_checkpoint_empties_the_journal_and_keeps_everything(tmp_path: Path) -> None:
    store = PollerState(tmp_path / "state.json")
    acknowledged(store, "http://a/rss", ["a1", "a2"])
    store.save()
    assert store.journal_path.read_bytes() == b""
    reloaded = PollerState(tmp_path / "state.json")
    assert reloaded.replayed == 0
    assert reloaded.get("http://a/rss").seen_ids == ["a1", "a2"]
    assert reloaded.was_sent("a2")


def test_a_torn_last_line_is_skipped_and_later_lines_stay_readable(tmp_path: Path) -> None:
    store = PollerState(tmp_path / "state.json")
    acknowledged(store, "http://a/rss", ["a1"])
    with open(store.journal_path, "ab") as journal:  # the process died mid-write
        journal.write(b'{"feed":"http://a/rss","ids":["a2","a')
    after_crash = PollerState(tmp_path / "state.json")
    assert after_crash.replayed == 1
    assert after_crash.was_sent("a1") and not after_crash.was_sent("a2")
    acknowledged(after_crash, "http://b/rss", ["b1"])  # appended after the torn line
    again = PollerState(tmp_path / "state.json")
    assert again.replayed == 2
    assert again.was_sent("a1") and again.was_sent("b1")


def test_items_sent_before_a_kill_are_not_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = RecordingPublisher()
    killed = SyncPoller(path, first)
    killed.store = KilledBeforeCheckpoint(path)
    killed.poll(FEEDS)
    assert len(first.sent) == 5 and not path.exists()

    restarted = RecordingPublisher()
    SyncPoller(path, restarted).poll(FEEDS)
    assert restarted.sent == []


def test_update_versions_survive_a_kill(tmp_path: Path) -> None:
    path, feed = tmp_path / "state.json", FeedSource("http://feeds.test/a.atom")
    body = {"now": _feed_with_item("2025-01-01T10:00:00Z")}

    def serve(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body["now"])

    killed = SyncPoller(path, RecordingPublisher(), serve)
    killed.store = KilledBeforeCheckpoint(path)
    killed.poll([feed])
    restarted = RecordingPublisher()
    body["now"] += b" "  # same item, not updated: must not be re-sent
    SyncPoller(path, restarted, serve).poll([feed])
    body["now"] = _feed_with_item("2025-01-02T09:00:00Z")  # a real update still is
    SyncPoller(path, restarted, serve).poll([feed])
    assert [a.summary for a in restarted.sent] == ["v 2025-01-02T09:00:00Z"]


def test_polls_without_news_do_not_touch_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    SyncPoller(path, RecordingPublisher()).poll(FEEDS)  # ends with a checkpoint
    journal = path.with_name("state.journal")
    written = journal.stat().st_mtime_ns
    report = SyncPoller(path, RecordingPublisher()).poll(FEEDS)  # 304s only
    assert {o.status for o in report.outcomes} == {"not_modified", "error"}
    assert journal.read_bytes() == b"" and journal.stat().st_mtime_ns == written


# --- the Kafka-backed store -----------------------------------------------------------------

class Future:
    def __init__(self, error: Exception | None):
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error:
            raise self.error


class Producer:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[tuple[str, object]] = []
        self.fail = fail

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int) -> Future:
        self.events.append(("send", (topic, key, value, partition)))
        return Future(KafkaTimeoutError("no ack") if self.fail else None)

    def flush(self) -> None:
        self.events.append(("flush", None))


URL = "https://news.example/rss"


def kafka_store(producer: Producer) -> tuple[KafkaStateStore, int]:
    store = KafkaStateStore(producer, "state", 4)  # type: ignore[arg-type]
    mine = partition_for(URL, 4)
    store.load_partition(mine, [FeedState(url=URL, seen_ids=["a"])])
    return store, mine


def test_kafka_store_writes_the_feed_state_and_waits_for_it() -> None:
    producer = Producer()
    store, mine = kafka_store(producer)
    state = store.get(URL)
    state.remember(["b"])
    store.record_sent(state, ["b"])
    assert [kind for kind, _ in producer.events] == ["send", "flush"]
    topic, key, value, partition = producer.events[0][1]  # type: ignore[misc]
    assert (topic, key, partition) == ("state", URL.encode(), mine)
    written = decode_state(key, value)
    assert written is not None and written.seen_ids == ["a", "b"]


def test_kafka_store_skips_feeds_it_does_not_own_and_reports_failed_acks() -> None:
    producer = Producer()
    store, mine = kafka_store(producer)
    other = next(f"https://x{n}.example/rss" for n in range(100)
                 if partition_for(f"https://x{n}.example/rss", 4) != mine)
    store.record_sent(FeedState(url=other), ["z"])
    assert producer.events == []
    producer.fail = True
    with pytest.raises(StateFlushError, match="not written"):
        store.record_sent(store.get(URL), ["b"])
