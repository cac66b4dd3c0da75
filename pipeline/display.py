"""Terminal rendering shared by the CLI and the demo: one console, the hits table, and a
polling pass narrated feed by feed."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.poller.poller import FeedOutcome, PollReport
from pipeline.poller.run import poll_feeds
from pipeline.search import Hit
from pipeline.settings import Settings

# Wide tables when piped (CI logs, `| less`); a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() else 140)


def print_hits(total: int, hits: list[Hit]) -> None:
    table = Table("published", "title", "source", "persons", "locations", "topics",
                  show_lines=True)
    for hit in hits:
        table.add_row((hit.published_at or "")[:10], hit.title, hit.source,
                      ", ".join(hit.persons[:4]), ", ".join(hit.locations[:5]),
                      ", ".join(hit.topics[:3]))
    console.print(table)
    console.print(f"{total} matching articles")


def _show_outcome(outcome: FeedOutcome) -> None:
    detail = outcome.error or f"{outcome.items} items, {outcome.new_articles} new"
    colour = {"ok": "green", "not_modified": "cyan"}.get(outcome.status, "red")
    console.print(f"  [{colour}]{outcome.status:>12}[/] {outcome.url}  {detail}")


def run_poll(settings: Settings, feeds_file: Path, base_url: str | None,
             shard_spec: str | None = None) -> PollReport:
    console.print(f"polling feeds from {feeds_file}")
    report = poll_feeds(settings, feeds_file, base_url, on_feed=_show_outcome,
                        shard_spec=shard_spec)
    console.print(f"feeds polled: {len(report.outcomes)}, failed: {len(report.failed)}, "
                  f"articles sent: {report.articles_sent}")
    return report
