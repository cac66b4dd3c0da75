"""Feed registry records and the Kafka state store's bookkeeping (no broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.partitioner.default import murmur2

from pipeline.kafka.assignment import KafkaStateStore, StateFlushError, decode_state, encode_state
from pipeline.kafka.registry import (
    RegisteredFeed,
    RegistryRecordError,
    decode_feed,
    encode_feed,
    fold_registry,
    load_registry_file,
    partition_for,
    validate_feed,
)
from pipeline.poller.feeds import FeedListError, FeedSource
from pipeline.poller.state import FeedState
from pipeline.settings import SEEDS_DIR

FEED = RegisteredFeed("https://news.example.org/rss", "Example", "en", ("world", "daily"),
                      full_text="auto")


class TestRecords:
    def test_round_trip(self) -> None:
        url, decoded = decode_feed(FEED.url.encode(), encode_feed(FEED))
        assert url == FEED.url and decoded == FEED
        assert isinstance(decoded, FeedSource)  # pollers take registry feeds as they are

    def test_value_is_plain_json(self) -> None:
        assert json.loads(encode_feed(FEED)) == {
            "url": FEED.url, "name": "Example", "language": "en", "tags": ["world", "daily"],
            "full_text": "auto", "registry_version": 1}

    def test_tombstone(self) -> None:
        assert decode_feed(FEED.url.encode(), None) == (FEED.url, None)

    @pytest.mark.parametrize(("key", "value", "message"), [
        (None, b"{}", "without a key"),
        (b"\xff\xfe", b"{}", "not UTF-8"),
        (b"https://a.example/rss", b"not json", "not JSON"),
        (b"https://a.example/rss", b"[1, 2]", "not a JSON object"),
        (b"https://a.example/rss", b'{"url": "https://b.example/rss"}', "another URL"),
        (b"https://a.example/rss", b'{"tags": "x"}', "tags must be a list"),
        (b"https://a.example/rss", b'{"full_text": "sometimes"}', "full_text must be"),
        (b"ftp://a.example/rss", b"{}", "not an http(s) feed URL"),
    ])
    def test_bad_records_say_why(self, key: bytes | None, value: bytes, message: str) -> None:
        with pytest.raises(RegistryRecordError, match=message.replace("(", r"\(")
                           .replace(")", r"\)")):
            decode_feed(key, value)

    def test_fold_keeps_latest_drops_tombstoned_skips_bad(self,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
        other = RegisteredFeed("https://other.example/atom", "Other")
        renamed = RegisteredFeed(FEED.url, "Renamed")
        feeds = fold_registry([
            (FEED.url.encode(), encode_feed(FEED)),
            (other.url.encode(), encode_feed(other)),
            (b"https://bad.example/", b"garbage"),
            (FEED.url.encode(), encode_feed(renamed)),
            (other.url.encode(), None),
        ])
        assert feeds == {FEED.url: renamed}
        assert "bad.example" in caplog.text

    def test_validate(self) -> None:
        assert validate_feed(FEED) is FEED
        with pytest.raises(RegistryRecordError):
            validate_feed(RegisteredFeed("not a url"))


def test_partition_for_matches_kafkas_default_partitioner() -> None:
    for url in (FEED.url, "https://ü.example/фид", "http://a/" * 30):
        for partitions in (1, 3, 12):
            expected = (murmur2(url.encode()) & 0x7FFFFFFF) % partitions
            assert partition_for(url, partitions) == expected
    spread = {partition_for(f"https://site{i}.example/rss", 12) for i in range(200)}
    assert spread == set(range(12))


class TestImportFiles:
    def test_yaml_list_with_full_text_and_placeholders(self, tmp_path: Path) -> None:
        path = tmp_path / "feeds.yaml"
        path.write_text("feeds:\n"
                        "  - {url: '{base_url}/a.rss', name: A, full_text: always}\n"
                        "  - {url: 'https://b.example/rss', tags: [x]}\n", encoding="utf-8")
        feeds = load_registry_file(path, base_url="http://127.0.0.1:8000/")
        assert feeds == [RegisteredFeed("http://127.0.0.1:8000/a.rss", "A", full_text="always"),
                         RegisteredFeed("https://b.example/rss", tags=("x",))]
        overridden = load_registry_file(path, "http://h", full_text="never")
        assert {f.full_text for f in overridden} == {"never"}

    def test_opml(self, tmp_path: Path) -> None:
        path = tmp_path / "subs.opml"
        path.write_text('<opml version="2.0"><body><outline text="News">'
                        '<outline text="One" xmlUrl="https://one.example/rss"/>'
                        '<outline title="Two" xmlUrl="https://two.example/atom"/>'
                        '</outline></body></opml>', encoding="utf-8")
        assert [(f.url, f.name) for f in load_registry_file(path)] == [
            ("https://one.example/rss", "One"), ("https://two.example/atom", "Two")]

    def test_bundled_lists(self) -> None:
        default = load_registry_file(SEEDS_DIR / "feeds" / "default.yaml")
        assert len(default) >= 10 and all(f.url.startswith("https://") for f in default)
        sample = load_registry_file(SEEDS_DIR / "feeds" / "sample.yaml", "http://127.0.0.1:1")
        assert all(f.url.startswith("http://127.0.0.1:1/") for f in sample)

    def test_bad_entry(self, tmp_path: Path) -> None:
        path = tmp_path / "feeds.yaml"
        path.write_text("feeds:\n  - {url: 'gopher://x/', full_text: always}\n")
        with pytest.raises(FeedListError, match="not an http"):
            load_registry_file(path)


class FakeFuture:
    def __init__(self, error: Exception | None):
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error:
            raise self.error


class FakeProducer:
    """Records sends; ``fail`` makes the next acks fail (as a broker outage would)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, int]] = []
        self.fail = False

    def send(self, topic: str, key: bytes, value: bytes | None, partition: int) -> FakeFuture:
        self.sent.append((topic, key, value, partition))
        return FakeFuture(KafkaTimeoutError("no ack") if self.fail else None)

    def flush(self) -> None:
        pass


def owned_store(partitions: int = 4) -> tuple[KafkaStateStore, FakeProducer, Any]:
    producer = FakeProducer()
    store = KafkaStateStore(producer, "state", partitions)  # type: ignore[arg-type]
    mine = partition_for(FEED.url, partitions)
    store.load_partition(mine, [FeedState(url=FEED.url, etag='"v1"', seen_ids=["a", "b"])])
    return store, producer, mine


class TestStateStore:
    def test_owned_state_is_kept_and_flushed_to_its_partition(self) -> None:
        store, producer, mine = owned_store()
        state = store.get(FEED.url)
        assert state.etag == '"v1"'
        store.flush()
        assert producer.sent == []  # reading is not changing
        state.etag = '"v2"'
        store.put(state)
        store.flush()
        [(topic, key, value, partition)] = producer.sent
        assert (topic, key, partition) == ("state", FEED.url.encode(), mine)
        assert decode_state(key, value) == state
        assert store.take_written() == [state] and store.take_written() == []

    def test_state_follows_its_registry_partition(self) -> None:
        store, producer, _ = owned_store()
        url = "https://elsewhere.example/rss"
        registry_partition = (partition_for(url, 4) + 1) % 4  # another producer's choice
        store.load_partition(registry_partition, [])
        store.track(url, registry_partition)
        store.put(FeedState(url=url, polls=1))
        store.flush()
        assert producer.sent[-1][3] == registry_partition

    def test_unowned_feed_gets_a_fresh_state_never_written(self) -> None:
        store, producer, mine = owned_store()
        other = next(f"https://x{i}.example/" for i in range(100)
                     if partition_for(f"https://x{i}.example/", 4) != mine)
        assert store.get(other) == FeedState(url=other)
        store.put(FeedState(url=other, polls=5))
        store.flush()
        assert producer.sent == [] and not store.owns(other)

    def test_sent_ids_come_from_owned_feeds(self) -> None:
        store, _, mine = owned_store()
        assert store.was_sent("a") and not store.was_sent("c")
        store.mark_sent(["c"])
        assert store.was_sent("c")
        store.drop_partition(mine)
        assert not store.was_sent("a") and store.all() == []

    def test_failed_flush_keeps_states_dirty(self) -> None:
        store, producer, _ = owned_store()
        store.put(store.get(FEED.url))
        producer.fail = True
        with pytest.raises(StateFlushError, match="1 of 1 feed states not written"):
            store.flush()
        producer.fail = False
        store.flush()
        assert len(producer.sent) == 2

    def test_forget_tombstones_the_state(self) -> None:
        store, producer, mine = owned_store()
        store.forget(FEED.url)
        assert producer.sent == [("state", FEED.url.encode(), None, mine)]
        assert store.all() == []

    def test_state_codec_tolerates_bad_records(self) -> None:
        state = FeedState(url=FEED.url, polls=3, seen_ids=["x"])
        assert decode_state(FEED.url.encode(), encode_state(state)) == state
        assert decode_state(FEED.url.encode(), None) is None
        assert decode_state(FEED.url.encode(), b"{broken") is None
