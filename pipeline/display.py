"""Terminal rendering shared by the CLI and the demo: one console, the hits table, and a
polling pass narrated feed by feed."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipeline.poller.poller import FeedOutcome, PollReport
from pipeline.poller.run import poll_feeds
from pipeline.search import HIGHLIGHT_TAGS, Hit, SearchResult, Trending
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


def _marked(fragment: str) -> str:
    """A highlight fragment as Rich markup: the text escaped, the matches in bold."""
    start, end = HIGHLIGHT_TAGS
    return escape(fragment).replace(start, "[bold yellow]").replace(end, "[/]")


def print_search_result(result: SearchResult) -> None:
    """Hits with highlighted matches, then totals and paging."""
    table = Table("#", "published", "title / matches", "source", "persons", "locations",
                  "topics", show_lines=True)
    first = (result.page - 1) * result.size
    for number, hit in enumerate(result.hits, first + 1):
        title = hit.highlights.get("title", [escape(hit.title)])[0]
        title = _marked(title) if "title" in hit.highlights else title
        snippets = hit.highlights.get("body") or hit.highlights.get("summary") or []
        cell = "[bold]" + title + "[/]" + "".join(
            f"\n[dim]…[/]{_marked(s)}[dim]…[/]" for s in snippets)
        table.add_row(str(number), (hit.published_at or "")[:10], cell, escape(hit.source),
                      escape(", ".join(hit.persons[:4])), escape(", ".join(hit.locations[:5])),
                      escape(", ".join(hit.topics[:3])))
    console.print(table)
    shown = f"{first + 1}-{first + len(result.hits)}" if result.hits else "none"
    line = f"{result.total} matching articles; showing {shown} (page {result.page})"
    if result.clusters is not None:
        line += f"; {result.clusters} distinct stories (collapsed by cluster)"
    console.print(line)


def print_trending(trend: Trending) -> None:
    table = Table("#", trend.field[:-1] if trend.field.endswith("s") else trend.field,
                  "articles", "previous window", "change",
                  title=f"trending {trend.field}: {trend.since:%Y-%m-%d %H:%M} to "
                        f"{trend.until:%Y-%m-%d %H:%M} UTC")
    for number, row in enumerate(trend.rows, 1):
        change = ("[green]new[/]" if row.change is None else
                  f"[green]+{row.change:.0%}[/]" if row.change > 0 else
                  f"[red]{row.change:.0%}[/]" if row.change < 0 else "0%")
        table.add_row(str(number), escape(row.value), str(row.count), str(row.previous),
                      change)
    console.print(table)
    console.print(f"{trend.articles} articles published in the window")


def _show_outcome(outcome: FeedOutcome) -> str:
    detail = outcome.error or f"{outcome.items} items, {outcome.new_articles} new"
    if outcome.unchanged_body:
        detail = "same body as last poll"
    if outcome.moved_to:
        detail += f" (moved to {outcome.moved_to})"
    colour = {"ok": "green", "not_modified": "cyan"}.get(outcome.status, "red")
    return f"  [{colour}]{outcome.status:>12}[/] {outcome.url}  {detail}"


def show_failure(outcome: FeedOutcome) -> None:
    if outcome.status in ("error", "retired") or outcome.moved_to:
        console.print(_show_outcome(outcome))


# Above this many due feeds, only failures get a line of their own; the bar shows the rest.
FEED_LINES_UP_TO = 30


def run_poll(settings: Settings, feeds_file: Path, base_url: str | None,
             shard_spec: str | None = None, force: bool = False) -> PollReport:
    """One pass with a progress bar (feeds done/total, items produced, errors)."""
    console.print(f"polling feeds from {feeds_file}")
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[tally]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("feeds", total=None, tally="")
        totals = {"due": 0, "items": 0, "errors": 0}

        def on_start(due: int) -> None:
            totals["due"] = due
            progress.update(task, total=due)

        def on_feed(outcome: FeedOutcome) -> None:
            totals["items"] += outcome.new_articles
            totals["errors"] += outcome.status in ("error", "retired")
            if totals["due"] <= FEED_LINES_UP_TO or outcome.status in ("error", "retired"):
                progress.console.print(_show_outcome(outcome))
            progress.update(task, advance=1,
                            tally=f"items produced {totals['items']}, errors {totals['errors']}")

        report = poll_feeds(settings, feeds_file, base_url, on_feed=on_feed,
                            shard_spec=shard_spec, force=force, on_start=on_start)
    console.print(pass_summary(report))
    return report


def pass_summary(report: PollReport) -> str:
    summary = (f"feeds polled: {len(report.outcomes)}, failed: {len(report.failed)}, "
               f"articles sent: {report.articles_sent} (not due yet: {report.not_due}, "
               f"retired: {report.retired + sum(o.status == 'retired' for o in report.outcomes)})")
    if report.not_due and not report.outcomes:
        summary += "; nothing was due (--force polls every feed now)"
    return summary
