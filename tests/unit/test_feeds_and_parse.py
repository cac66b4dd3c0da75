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


# --- hostile and broken input -----------------------------------------------------------

def rss(items: str, channel_extra: str = "", prolog: str = '<?xml version="1.0"?>') -> bytes:
    return (f'{prolog}<rss version="2.0"><channel><title>t</title>{channel_extra}'
            f"{items}</channel></rss>").encode()


def item(title: str = "Story", link: str = "https://e.com/a", extra: str = "") -> str:
    return f"<item><title>{title}</title><link>{link}</link>{extra}</item>"


def test_entity_expansion_bomb_is_refused_before_parsing() -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    bomb = rss(item("&j;"), prolog=f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]>')
    with pytest.raises(FeedParseError) as caught:
        parse_feed(bomb, "u", NOW)
    assert caught.value.reason_class == "entity_declarations"


def test_external_entity_is_refused() -> None:
    xxe = rss(item("&x;"), prolog='<?xml version="1.0"?>'
              '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    with pytest.raises(FeedParseError, match="declares XML entities"):
        parse_feed(xxe, "u", NOW)


def test_plain_doctype_without_entities_is_fine() -> None:
    body = rss(item(), prolog='<?xml version="1.0"?><!DOCTYPE rss PUBLIC '
               '"-//Netscape Communications//DTD RSS 0.91//EN" '
               '"http://my.netscape.com/publish/formats/rss-0.91.dtd">')
    assert len(parse_feed(body, "u", NOW).articles) == 1


def test_html_page_gets_its_own_reason_class() -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(b"<!DOCTYPE html><html><head><title>Home</title></head><body>hi</body></html>",
                   "u", NOW)
    assert caught.value.reason_class == "html_not_feed"


def test_wrong_declared_charset_still_decodes() -> None:
    body = rss(item("Café crème")).replace(b"<?xml version=\"1.0\"?>",
                                           b'<?xml version="1.0" encoding="utf-8"?>')
    latin1 = body.decode().encode("latin-1")  # says utf-8, is latin-1
    parsed = parse_feed(latin1, "u", NOW, content_type="text/xml; charset=utf-8")
    assert len(parsed.articles) == 1
    assert parsed.articles[0].title.startswith("Caf")


def test_missing_charset_defaults_sensibly() -> None:
    body = rss(item("Zürich")).replace(b'<?xml version="1.0"?>', b"")
    parsed = parse_feed(body, "u", NOW, content_type="application/rss+xml")
    assert parsed.articles[0].title == "Zürich"


def test_dates_future_missing_and_odd_zones() -> None:
    body = rss(item("future", "https://e.com/1", "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate>")
               + item("missing", "https://e.com/2")
               + item("odd zone", "https://e.com/3", "<pubDate>Tue, 30 Dec 2025 23:00:00 -0930"
                      "</pubDate>")
               + item("junk", "https://e.com/4", "<pubDate>the day after tomorrow</pubDate>"))
    parsed = parse_feed(body, "u", NOW)
    dates = {a.title: a.published_at for a in parsed.articles}
    assert dates["future"] == NOW and parsed.notes["future_date"] == 1
    assert dates["missing"] is None and dates["junk"] is None
    assert dates["odd zone"] == datetime(2025, 12, 31, 8, 30, tzinfo=UTC)


def test_relative_links_resolve_against_xml_base_then_the_feed_url() -> None:
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
            b'xml:base="https://news.example/section/"><title>t</title>'
            b'<entry><title>a</title><link href="story-1"/><id>1</id></entry>'
            b'<entry xml:base="/other/"><title>b</title><link href="story-2"/><id>2</id></entry>'
            b"</feed>")
    urls = [a.url for a in parse_feed(atom, "https://feeds.example/x.atom", NOW).articles]
    assert urls == ["https://news.example/section/story-1", "https://news.example/other/story-2"]
    plain = parse_feed(rss(item(link="/2025/story")), "https://site.example/feed.rss", NOW)
    assert plain.articles[0].url == "https://site.example/2025/story"


def test_duplicate_guids_and_links_are_sent_once() -> None:
    body = rss(item("first", "https://e.com/a", "<guid>g1</guid>")
               + item("again", "https://e.com/a", "<guid>g1</guid>")
               + item("other", "https://e.com/b", "<guid>g1</guid>"))
    parsed = parse_feed(body, "u", NOW)
    assert [a.title for a in parsed.articles] == ["first", "other"]
    assert parsed.skip_classes == {"duplicate_item": 1}


def test_script_and_data_links_are_dropped_with_reason() -> None:
    body = rss(item("js", "javascript:alert(1)") + item("data", "data:text/html,<b>x</b>")
               + item("ok", "https://e.com/ok"))
    parsed = parse_feed(body, "u", NOW)
    assert [a.title for a in parsed.articles] == ["ok"]
    assert parsed.skip_classes == {"unsafe_link": 2}
    assert parsed.skipped[0] == "item #1: link with scheme 'javascript' refused"


def test_megabyte_title_is_truncated() -> None:
    parsed = parse_feed(rss(item("x" * 1_000_000)), "u", NOW)
    assert len(parsed.articles[0].title) == 1_000
    assert parsed.notes["truncated_field"] == 1


def test_ten_thousand_items_are_capped() -> None:
    body = rss("".join(item(f"s{i}", f"https://e.com/{i}") for i in range(10_000)))
    parsed = parse_feed(body, "u", NOW, max_items=500)
    assert len(parsed.articles) == 500
    assert parsed.articles[0].title == "s0"
    assert parsed.notes["too_many_items"] == 9_500


def test_publisher_interval_hint_is_read() -> None:
    body = rss(item(), channel_extra="<ttl>45</ttl>")
    assert parse_feed(body, "u", NOW).interval_hint_s == 45 * 60


# --- hostile bodies (issue 7): specific reasons, valid parts kept --------------------------


@pytest.mark.parametrize("junk", [bytes(range(256)) * 20, b"\x89PNG\r\n\x1a\n" + bytes(4000),
                                  b"PK\x03\x04" + bytes(range(32)) * 100])
def test_binary_junk_is_refused_as_binary(junk: bytes) -> None:
    with pytest.raises(FeedParseError) as caught:
        parse_feed(junk, "u", NOW)
    assert caught.value.reason_class == "binary_not_feed"


def test_utf16_feed_is_not_taken_for_binary() -> None:
    text = rss(item("Zürich"), prolog='<?xml version="1.0" encoding="utf-16"?>').decode()
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):  # with a BOM, and without
        assert parse_feed(text.encode(encoding), "u", NOW).articles[0].title == "Zürich"


def test_invalid_utf8_bytes_are_replaced_not_the_whole_feed_reread_as_cp1252() -> None:
    body = rss(item("Café crème") + item("Broken \xff bytes", "https://e.com/b"),
               prolog='<?xml version="1.0" encoding="utf-8"?>')
    body = body.replace("\xff".encode(), b"\xff\xfe")  # raw invalid bytes, not U+00FF
    parsed = parse_feed(body, "u", NOW, content_type="application/rss+xml; charset=utf-8")
    assert [a.title for a in parsed.articles] == ["Café crème", "Broken \ufffd\ufffd bytes"]
    assert parsed.notes["invalid_utf8"] == 1


def test_legacy_8bit_feed_declared_utf8_still_falls_back_to_windows_1252() -> None:
    body = rss(item("Caf\xe9 \x93quoted\x94"), prolog='<?xml version="1.0" encoding="utf-8"?>')
    parsed = parse_feed(body.decode().encode("latin-1"), "u", NOW)
    assert parsed.articles[0].title == "Café “quoted”"
    assert parsed.notes == {"charset_mismatch": 1}


def test_utf8_bytes_declared_latin1_are_read_as_utf8() -> None:
    body = rss(item("Café «quoted»"), prolog='<?xml version="1.0" encoding="iso-8859-1"?>')
    parsed = parse_feed(body, "u", NOW, content_type="text/xml; charset=iso-8859-1")
    assert parsed.articles[0].title == "Café «quoted»"


def test_absurdly_long_link_is_dropped_before_it_reaches_the_index() -> None:
    body = rss(item("long", "https://e.com/" + "a" * 100_000) + item("ok", "https://e.com/ok"))
    parsed = parse_feed(body, "u", NOW)
    assert [a.title for a in parsed.articles] == ["ok"]
    assert parsed.skip_classes == {"link_too_long": 1}
    assert "100014 characters" in parsed.skipped[0]


@pytest.mark.parametrize("text", ["é" * 900_000, '"' * 900_000, "line\n" * 200_000])
def test_an_item_always_fits_in_one_kafka_message(text: str) -> None:
    """2 MB of JSON would fail the whole feed's publish on every poll (and retire it)."""
    from xml.sax.saxutils import escape

    from pipeline.poller.parse import MAX_ARTICLE_BYTES

    body = rss(item("big", "https://e.com/big",
                    f"<description>{escape(text[:40_000])}</description>"
                    f"<content:encoded>{escape(text)}</content:encoded>")
               + item("small", "https://e.com/small"),
               prolog='<?xml version="1.0" encoding="utf-8"?>').replace(
        b"<rss ", b'<rss xmlns:content="http://purl.org/rss/1.0/modules/content/" ')
    parsed = parse_feed(body, "u", NOW)
    big, small = parsed.articles
    assert len(big.to_json_bytes()) <= MAX_ARTICLE_BYTES
    assert len(big.to_json_bytes()) > MAX_ARTICLE_BYTES * 0.9  # cut to fit, not emptied
    assert big.content and text.startswith(big.content)  # the start is kept as it was
    assert small.title == "small" and parsed.notes["truncated_field"] == 1
