from __future__ import annotations

import pytest

from pipeline.enrichment.clean import (
    clean_article_text,
    clean_inline_text,
    html_to_text,
    is_junk_line,
    looks_like_html,
    normalise_text,
    remove_site_junk,
)


class TestHtmlToText:
    def test_paragraphs_become_blank_lines(self) -> None:
        html = "<html><body><p>First paragraph.</p><p>Second\n   paragraph.</p></body></html>"
        assert html_to_text(html) == "First paragraph.\n\nSecond paragraph."

    def test_scripts_styles_and_head_are_dropped(self) -> None:
        html = (
            "<html><head><title>Site title</title><style>p{color:red}</style></head>"
            "<body><script>var x = '<p>not text</p>';</script><p>Real text.</p>"
            "<noscript>Enable JS</noscript></body></html>"
        )
        assert html_to_text(html) == "Real text."

    def test_entities_are_unescaped(self) -> None:
        assert html_to_text("<p>Tom &amp; Jerry &eacute;t&eacute; &#8217;n&nbsp;co</p>") == (
            "Tom & Jerry été ’n\u00a0co"
        )

    def test_br_is_a_line_break_and_inline_tags_join(self) -> None:
        html = "<p>Line one<br>Line <b>two</b> and <a href='x'>a link</a>.</p>"
        assert html_to_text(html) == "Line one\nLine two and a link."

    def test_self_closing_skip_tag_does_not_swallow_the_rest(self) -> None:
        assert html_to_text('<script src="a.js"/><p>Kept.</p>') == "Kept."

    def test_unclosed_head_ends_at_body(self) -> None:
        assert html_to_text("<head><title>T</title><body><p>Body text.</p>") == "Body text."

    def test_headings_and_list_items_are_blocks(self) -> None:
        assert html_to_text("<h1>Title</h1><ul><li>one</li><li>two</li></ul>") == (
            "Title\n\none\n\ntwo"
        )

    def test_pre_keeps_its_line_breaks(self) -> None:
        assert html_to_text("<p>Table:</p><pre>a  1\nb  2</pre>") == "Table:\n\na 1\nb 2"

    def test_looks_like_html(self) -> None:
        assert looks_like_html("<p>x</p>")
        assert looks_like_html("text <br/> more")
        assert not looks_like_html("5 < 6 and 7 > 3")
        assert not looks_like_html("plain text")


class TestNormaliseText:
    def test_nfc_and_whitespace(self) -> None:
        decomposed = "Cafe\u0301  au\u00a0lait\t\tbar"
        assert normalise_text(decomposed) == "Café au lait bar"

    def test_paragraphs_kept_and_blank_runs_collapsed(self) -> None:
        assert normalise_text("a\r\n\r\n\r\n\r\nb \n c") == "a\n\nb\nc"

    def test_invisible_characters_removed_curly_quotes_kept(self) -> None:
        assert normalise_text("Putin\u200b’s \ufeffvisit “now”") == "Putin’s visit “now”"


class TestRemoveSiteJunk:
    @pytest.mark.parametrize(
        "line",
        [
            "Share.",
            "Share this:",
            "SHARE THIS ARTICLE",
            "Share on Facebook",
            "Exit mobile version",
            "Subscribe",
            "Subscribe to our newsletter for the latest news",
            "Read more",
            "Read more: Putin lands in Pyongyang",
            "Related:",
            "Related: Kim tests another missile",
            "Click here to read the full report",
            "Follow us on Twitter",
            "Advertisement",
            "Sign up for our newsletter",
            "Sign up for our daily newsletter and get the news first",
            "We use cookies to improve your experience. By continuing you accept them.",
            "This website uses cookies",
            "Accept all cookies",
            "Skip to main content",
            "© 2024 Example News. All rights reserved.",
            "Tweet",
        ],
    )
    def test_junk_lines_detected(self, line: str) -> None:
        assert is_junk_line(line)

    @pytest.mark.parametrize(
        "line",
        [
            "Shareholders approved the merger on Monday.",
            "Read more about the plan in the report, the minister told reporters.",
            "The Russian president said he would share more details later.",
            "Subscribers in Asia were hit hardest by the outage.",
            "Advertisement revenue fell 20 percent in the quarter.",
            "",
        ],
    )
    def test_normal_lines_are_kept(self, line: str) -> None:
        assert not is_junk_line(line)

    def test_sentences_inside_paragraphs_are_never_removed(self) -> None:
        paragraph = (
            "The ministry said on Monday it would share the data. Subscribe to updates was "
            "the advice. Read more in the report."
        )
        assert remove_site_junk(paragraph) == paragraph

    def test_junk_lines_removed_and_paragraphs_kept(self) -> None:
        text = (
            "Advertisement\n\nFirst paragraph.\n\nRelated: Other story\n\n"
            "Second paragraph.\n\nShare.\nExit mobile version"
        )
        assert remove_site_junk(text) == "First paragraph.\n\nSecond paragraph."

    def test_trailing_tag_lines_removed_only_at_the_end(self) -> None:
        text = "Tags: x\n\nBody text.\n\nTags: Russia, North Korea\nFiled under: World"
        assert remove_site_junk(text) == "Tags: x\n\nBody text."


class TestCleanArticleText:
    def test_html_article(self) -> None:
        html = (
            "<article><h1>Putin visits Pyongyang</h1><p>Vladimir Putin&#8217;s trip.</p>"
            "<p>Share.</p><div class='ad'>Advertisement</div><p>Second part.</p></article>"
        )
        assert clean_article_text(html) == (
            "Putin visits Pyongyang\n\nVladimir Putin’s trip.\n\nSecond part."
        )

    def test_plain_text_article(self) -> None:
        text = "Body &amp; soul.\n\n\n\nMore   text.\n\nShare.\nExit mobile version\n"
        assert clean_article_text(text) == "Body & soul.\n\nMore text."

    def test_empty(self) -> None:
        assert clean_article_text("") == ""
        assert clean_article_text("<p></p>") == ""


class TestNoMarkupSurvives:
    """Escaped markup decodes to tags: stored text must hold none, at any escaping depth."""

    @pytest.mark.parametrize("raw", [
        "Before &lt;script&gt;alert(1)&lt;/script&gt; after",
        "<p>Before &lt;script&gt;alert(1)&lt;/script&gt; after</p>",
        "Before &lt;img src=x onerror=alert(1)&gt;&lt;a href='javascript:x()'&gt;&lt;/a&gt; after",
    ])
    def test_entity_escaped_markup_is_stripped(self, raw: str) -> None:
        text = clean_article_text(raw)
        assert text == "Before after"
        assert not looks_like_html(text)

    def test_text_escaped_twice_in_plain_text_stays_visible_text(self) -> None:
        # Plain text is unescaped once: what the reader sees is "&lt;b&gt;", not a tag.
        text = clean_article_text("Use &amp;lt;b&amp;gt; for bold")
        assert text == "Use &lt;b&gt; for bold" and not looks_like_html(text)

    def test_paragraphs_survive_the_second_round(self) -> None:
        raw = "First &lt;b&gt;bold&lt;/b&gt; para.\n\nSecond para."
        assert clean_article_text(raw) == "First bold para.\n\nSecond para."

    def test_inline_text_is_one_line_without_markup_or_junk_removal(self) -> None:
        assert clean_inline_text("Hello <script>alert(1)</script>\n <b>world</b>") == (
            "Hello world")
        assert clean_inline_text("Subscribe") == "Subscribe"
        assert clean_inline_text("3 < 5 &amp; AT&amp;T") == "3 < 5 & AT&T"
