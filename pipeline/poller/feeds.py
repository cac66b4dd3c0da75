"""Feed lists: YAML (``feeds: [{url, name, language, tags}]``) or OPML outlines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import yaml


class FeedListError(ValueError):
    """The feed list file cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class FeedSource:
    url: str
    name: str = ""
    language: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def load_feed_list(path: Path, base_url: str | None = None) -> list[FeedSource]:
    """Read a feed list; ``{base_url}`` placeholders are filled from ``base_url``."""
    if not path.exists():
        raise FeedListError(f"feed list not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in {".opml", ".xml"}:
        feeds = list(_parse_opml(text, path))
    else:
        feeds = list(_parse_yaml(text, path))
    if base_url is not None:
        base = base_url.rstrip("/")
        feeds = [FeedSource(f.url.replace("{base_url}", base), f.name, f.language, f.tags)
                 for f in feeds]
    unresolved = [f.url for f in feeds if "{base_url}" in f.url]
    if unresolved:
        raise FeedListError(f"{path}: {{base_url}} placeholder needs a base URL: {unresolved[0]}")
    return _unique_by_url(feeds)


def parse_shard(spec: str) -> tuple[int, int]:
    """``"2/3"`` -> (2, 3): this poller is shard 2 of 3 (1-based)."""
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError as exc:
        raise FeedListError(f"shard must look like K/N, e.g. 1/2: {spec!r}") from exc
    if not 1 <= index <= count:
        raise FeedListError(f"shard {spec!r}: K must be between 1 and N")
    return index, count


def shard(feeds: list[FeedSource], index: int, count: int) -> list[FeedSource]:
    """The feeds poller ``index`` of ``count`` owns: a stable hash of the URL, so every
    poller computes the same split without talking to the others."""
    return [f for f in feeds
            if int(hashlib.sha1(f.url.encode()).hexdigest(), 16) % count == index - 1]


def _parse_yaml(text: str, path: Path) -> Iterable[FeedSource]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise FeedListError(f"{path}: not valid YAML: {exc}") from exc
    entries = data.get("feeds") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise FeedListError(f"{path}: expected a top-level 'feeds:' list")
    for position, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict) or not entry.get("url"):
            raise FeedListError(f"{path}: feed #{position} has no url")
        yield FeedSource(
            url=str(entry["url"]).strip(),
            name=str(entry.get("name") or ""),
            language=entry.get("language"),
            tags=tuple(str(tag) for tag in entry.get("tags") or ()),
        )


def _parse_opml(text: str, path: Path) -> Iterable[FeedSource]:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise FeedListError(f"{path}: not valid OPML: {exc}") from exc
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl")
        if url:
            name = outline.get("title") or outline.get("text") or ""
            yield FeedSource(url=url.strip(), name=name, language=outline.get("language"))


def _unique_by_url(feeds: list[FeedSource]) -> list[FeedSource]:
    seen: set[str] = set()
    unique = []
    for feed in feeds:
        if feed.url not in seen:
            seen.add(feed.url)
            unique.append(feed)
    return unique
