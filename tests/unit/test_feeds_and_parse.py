from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.models import article_id
from pipeline.poller.feeds import FeedListError, load_feed_list
from pipeline.poller.parse import FeedParseError, parse_feed
from pipeline.poller.sample_server import SAMPLE_FEED_LIST, SAMPLE_FEEDS_DIR
from pipeline.settings import SEEDS_DIR

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_sample_feed_list_fills_base_url() -> None:
    feeds = load_feed_list(SAMPLE_FEED_LIST, "http://127.0.0.1:8000/")
    assert [f.url for f in feeds] == [
        "http://127.0.0.1:8000/world.rss",
        "http://127.0.0.1:8000/science-sport.atom",
        "http://127.0.0.1:8000/sante.rss",
    ]
    assert feeds[2].language == "fr"


def test_placeholder_without_base_url_is_an_error() -> None:
    with pytest.raises(FeedListError, match="base_url"):
        load_feed_list(SAMPLE_FEED_LIST)


def test_default_feed_list_is_real_https_feeds() -> None:
    feeds = load_feed_list(SEEDS_DIR / "feeds" / "default.yaml")
    assert len(feeds) >= 10
    assert all(f.url.startswith("https://") for f in feeds)


def test_opml_feed_list(tmp_path: Path) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text('<opml version="2.0"><body><outline text="News">'
                    '<outline text="A" xmlUrl="https://a.example/rss"/>'
                    '<outline title="B" xmlUrl="https://b.example/atom"/>'
                    '<outline text="A again" xmlUrl="https://a.example/rss"/>'
                    '</outline></body></opml>')
    feeds = load_feed_list(opml)
    assert [(f.url, f.name) for f in feeds] == [("https://a.example/rss", "A"),
                                                ("https://b.example/atom", "B")]


def test_yaml_entry_without_url(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("feeds:\n  - name: nameless\n")
    with pytest.raises(FeedListError, match="feed #1 has no url"):
        load_feed_list(path)


def test_parse_rss_sample() -> None:
    body = (SAMPLE_FEEDS_DIR / "world.rss").read_bytes()
    parsed = parse_feed(body, "http://x/world.rss", NOW)
    assert parsed.title == "World News (sample)"
    assert len(parsed.articles) == 3
    putin = parsed.articles[0]
    assert putin.title.startswith("Putin visits North Korea")
    assert "Exit mobile version" in putin.content  # junk is the job's to remove
    assert putin.published_at == datetime(2024, 6, 18, 23, 30, tzinfo=UTC)
    assert putin.authors == ["Staff and wire reports"]
    assert putin.language_hint == "en"
    flood = parsed.articles[1]
    assert "utm_" not in flood.canonical_url


def test_atom_syndicated_copy_has_the_same_id() -> None:
    rss = parse_feed((SAMPLE_FEEDS_DIR / "world.rss").read_bytes(), "u1", NOW)
    atom = parse_feed((SAMPLE_FEEDS_DIR / "science-sport.atom").read_bytes(), "u2", NOW)
    assert len(atom.articles) == 3
    assert rss.articles[0].id == atom.articles[2].id
    assert atom.articles[0].published_at == datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
    assert atom.articles[0].id == article_id("https://science.example.net/articles/"
                                             "fusion-magnet-record")


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(FeedParseError, match="not"):
        parse_feed(b"<html><body><h1>Hello</h1></body></html>", "u", NOW)


def test_broken_xml_is_reported() -> None:
    with pytest.raises(FeedParseError):
        parse_feed(b"\x00\x01garbage<<<", "u", NOW)


def test_items_without_link_are_skipped_with_reason() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>no link</title></item>"
            b"<item><title>ok</title><link>https://e.com/ok</link></item>"
            b"</channel></rss>")
    parsed = parse_feed(body, "u", NOW)
    assert [a.title for a in parsed.articles] == ["ok"]
    assert parsed.skipped == ["item #1: no link"]


def test_shards_split_the_feed_list_exactly() -> None:
    from pipeline.poller.feeds import FeedSource, parse_shard, shard

    feeds = [FeedSource(f"https://news{i}.example/rss") for i in range(200)]
    first, second = shard(feeds, 1, 2), shard(feeds, 2, 2)
    assert not {f.url for f in first} & {f.url for f in second}
    assert len(first) + len(second) == 200
    assert 60 < len(first) < 140  # roughly balanced
    assert shard(feeds, *parse_shard("1/2")) == first  # stable across processes
    with pytest.raises(FeedListError, match="K/N"):
        parse_shard("half")
    with pytest.raises(FeedListError, match="between 1 and N"):
        parse_shard("3/2")
