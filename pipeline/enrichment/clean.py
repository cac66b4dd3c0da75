"""Text cleaning: HTML to text, site boilerplate removal, Unicode/whitespace normalisation.

Pure functions, standard library only. Paragraph structure survives as blank lines
(``"\\n\\n"``) so later stages (and people reading ``clean_text``) still see paragraphs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

__all__ = [
    "clean_article_text",
    "clean_inline_text",
    "fold_accents",
    "html_to_text",
    "is_junk_line",
    "looks_like_html",
    "normalise_text",
    "remove_site_junk",
]

# Elements whose content is never article text.
_SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "head",
        "iframe",
        "object",
        "nav",
        "button",
        "select",
        "textarea",
    }
)
# Elements that start/end a paragraph-like block.
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
# Void elements never get an end tag, so they must not open a skip region.
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)

_SOURCE_WS_RE = re.compile(r"[ \t\r\n\f]+")
_HTML_TAG_RE = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9-]*|/[a-zA-Z][a-zA-Z0-9-]*|!--|!DOCTYPE)[^>]*>?")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._skip_stack: list[str] = []
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self._skip_stack:
            # <head> left unclosed: the body start implies its end, as in browsers.
            self._skip_stack.clear()
        if tag in _SKIP_TAGS and tag not in _VOID_TAGS:
            self._skip_stack.append(tag)
            return
        if self._skip_stack:
            return
        if tag == "pre":
            self._pre_depth += 1
        if tag == "br":
            self._parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>, <p/>: a self-closing tag opens no skip region.
        if self._skip_stack:
            return
        if tag == "br":
            self._parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_stack:
            if tag in self._skip_stack:
                # Pop up to and including the matching open tag (tolerates sloppy nesting).
                while self._skip_stack:
                    if self._skip_stack.pop() == tag:
                        break
            return
        if tag == "pre" and self._pre_depth > 0:
            self._pre_depth -= 1
        if tag in _BLOCK_TAGS:
            self._parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip_stack:
            return
        if self._pre_depth == 0:
            # Source line breaks inside a block are just spaces, as a browser renders them.
            data = _SOURCE_WS_RE.sub(" ", data)
        self._parts.append(data)

    def text(self) -> str:
        return "".join(self._parts)


def looks_like_html(text: str) -> bool:
    """True when ``text`` contains something that looks like an HTML tag or comment."""
    return _HTML_TAG_RE.search(text) is not None


def fold_accents(text: str) -> str:
    """Accents removed, letters kept: "Québec" -> "Quebec", "É" -> "E"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def html_to_text(html_text: str) -> str:
    """Strip tags, scripts and styles; keep paragraph breaks as blank lines; unescape entities.

    Inline whitespace (including newlines inside a ``<p>``) collapses to single spaces, as a
    browser would render it; ``<br>`` becomes a line break and block elements a blank line.
    """
    parser = _TextExtractor()
    parser.feed(html_text)
    parser.close()
    raw = parser.text()
    # Only structural breaks (and <pre> content) are newlines now; tidy each line.
    out_lines: list[str] = []
    for line in raw.split("\n"):
        out_lines.append(re.sub(r"[ \t\r\f\v]+", " ", line).strip())
    text = "\n".join(out_lines)
    return _collapse_blank_lines(text).strip()


# Zero-width and invisible formatting characters that only get in the way.
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Horizontal whitespace of any kind (NBSP, thin spaces, ideographic space, tabs...).
_HSPACE_RE = re.compile(r"[^\S\n]+")


def _collapse_blank_lines(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text)


def normalise_text(text: str) -> str:
    """Unicode NFC, unify line endings, collapse horizontal whitespace, keep paragraphs.

    Curly quotes and apostrophes are kept as they are (downstream code handles both
    ``’`` and ``'``); invisible characters (zero-width spaces, soft hyphens, BOM) go.
    Lines are stripped and runs of blank lines collapse to a single blank line.
    """
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _INVISIBLE_RE.sub("", text)
    lines = [_HSPACE_RE.sub(" ", line).strip() for line in text.split("\n")]
    return _collapse_blank_lines("\n".join(lines)).strip()


# --- boilerplate ("site junk") -------------------------------------------------------------

# Each pattern must match a WHOLE line (after stripping and lower-casing), and only lines up
# to _MAX_JUNK_LINE_CHARS long are considered, so sentences inside normal paragraphs are never
# touched. Keep these specific: a false positive deletes real text.
_JUNK_PATTERNS: tuple[str, ...] = (
    r"share(?: (?:this|the) (?:article|story|post|page))?(?: on [\w .&+-]+| via [\w .&+-]+)?",
    r"share this:?",
    r"(?:share|post) (?:on|to|via) (?:facebook|twitter|x|whatsapp|linkedin|reddit|email|telegram)",
    r"(?:facebook|twitter|x|whatsapp|linkedin|pinterest|reddit|telegram|email|e-mail|print"
    r"|tweet|copy link|copy url|link copied|comments?)",
    r"exit mobile version",
    r"skip to (?:main )?content",
    r"back to top",
    r"subscribe(?: now| today| here)?",
    r"subscribe (?:to|for) .{0,80}",
    r"(?:read|see) more(?: stories| news| articles)?(?: ?[:»>-].{0,100})?",
    r"(?:also read|read also|must read|don't miss|do not miss|recommended|you may also like"
    r"|you might also like|trending(?: now)?|most read|more stories|more from .{0,60}"
    r"|related(?: articles| stories| posts| coverage| content| news)?)(?: ?:.{0,120})?",
    r"click here .{0,100}",
    r"follow us on .{0,80}",
    r"follow (?:@\w+|us)(?: on .{0,60})?",
    r"(?:advertisement|advertising|sponsored(?: content)?|ad|ads|promoted)",
    r"(?:story|article) continues (?:below|after) (?:this )?(?:advertisement|ad)",
    r"scroll (?:down )?to continue(?: with content| reading)?",
    r"sign up (?:for|to) (?:our|the) .{0,60}newsletters?.{0,80}",
    r"sign up for (?:free )?newsletters?.{0,80}",
    r"(?:get|receive) our .{0,40}newsletter.{0,60}",
    r"newsletter sign[ -]?up",
    r"we use cookies.{0,200}",
    r"this (?:web)?site uses cookies.{0,200}",
    r"by (?:continuing|using) (?:to use )?(?:this|our) (?:web)?site.{0,200}cookies.{0,100}",
    r"(?:accept|reject|manage)(?: all)? cookies",
    r"cookie (?:policy|settings|preferences|consent)",
    r"(?:copyright )?(?:©|\(c\)) ?(?:\d{4}[^\n]{0,100}|[^\n]{0,100}all rights reserved\.?)",
    r"all rights reserved",
    r"loading\.{0,3}",
)
_JUNK_RE = re.compile(
    r"(?:" + "|".join(_JUNK_PATTERNS) + r")[\s.!:»>|…-]*",
    re.IGNORECASE,
)
# Lines that are junk only in the trailing block of an article (tag lists and the like).
_TRAILING_JUNK_RE = re.compile(
    r"(?:tags?|topics?|filed under|categories|category|posted in)\s*:.{0,200}",
    re.IGNORECASE,
)
_MAX_JUNK_LINE_CHARS = 200


def is_junk_line(line: str) -> bool:
    """True when the whole (stripped) line is a known boilerplate line."""
    stripped = line.strip()
    if not stripped or len(stripped) > _MAX_JUNK_LINE_CHARS:
        return False
    return _JUNK_RE.fullmatch(stripped) is not None


def remove_site_junk(text: str) -> str:
    """Drop standalone boilerplate lines ("Share.", "Exit mobile version", cookie notices...).

    Only whole, short lines are removed; text inside a paragraph is never edited. In the
    trailing block, tag/category lines ("Tags: ...") are also removed. Blank lines left
    behind collapse to single paragraph breaks.
    """
    lines = text.split("\n")
    kept = [line for line in lines if not is_junk_line(line)]
    # Trailing block: drop blank, junk and tag-list lines from the end.
    while kept and (
        not kept[-1].strip()
        or is_junk_line(kept[-1])
        or _TRAILING_JUNK_RE.fullmatch(kept[-1].strip()) is not None
    ):
        kept.pop()
    return _collapse_blank_lines("\n".join(kept)).strip()


def clean_article_text(raw: str) -> str:
    """HTML (or plain text) in, clean plain text out: the full cleaning chain.

    HTML goes through :func:`html_to_text`; plain text only has entities unescaped. Then
    :func:`normalise_text` and :func:`remove_site_junk`.
    """
    if not raw:
        return ""
    return remove_site_junk(normalise_text(_strip_markup(raw)))


# Escaped markup (``&lt;script&gt;``, or ``&amp;lt;`` for feeds that escape twice) only
# becomes tags once decoded. Stored text must carry no markup at all, whatever the escaping
# depth: Kibana renders fields as text, but Markdown/TSVB panels, exports and other readers
# of the index may not. Three rounds cover every escaping seen in real feeds.
_MAX_MARKUP_ROUNDS = 3


def _strip_markup(raw: str) -> str:
    text = html_to_text(raw) if looks_like_html(raw) else html.unescape(raw)
    for _ in range(_MAX_MARKUP_ROUNDS):
        if not looks_like_html(text):
            break
        # <br> keeps the line structure html_to_text would otherwise fold into spaces.
        text = html_to_text(text.replace("\n", "<br>"))
    return text


def clean_inline_text(raw: str) -> str:
    """One line of plain text (titles, names): markup stripped as in
    :func:`clean_article_text`, whitespace collapsed, but no boilerplate removal (a title
    "Subscribe" is a title, not a junk line)."""
    if not raw:
        return ""
    return " ".join(normalise_text(_strip_markup(raw)).split())
