"""``pipeline feeds``: the feed registry (a compacted Kafka topic), its pollers and health.

Registered in ``pipeline/cli.py``; kept apart so the poller engine and the registry can
change without touching the rest of the CLI.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import click
from rich.table import Table

from pipeline.display import console
from pipeline.kafka.registry import FULL_TEXT_MODES
from pipeline.poller.feeds import FeedSource
from pipeline.poller.state import FeedState
from pipeline.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def feeds() -> None:
    """The feed registry (Kafka topic NEWSPIPE_FEED_REGISTRY_TOPIC): add, remove, list,
    import feeds at run time; run pollers on it; show feed health."""


@feeds.command("add")
@click.argument("url")
@click.option("--name", default="", help="Display name.")
@click.option("--language", help="Language hint (ISO 639-1).")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option("--full-text", type=click.Choice(FULL_TEXT_MODES),
              help="Fetch article pages: always, auto (summary-only items) or never. "
                   "Default: NEWSPIPE_FULL_TEXT_DEFAULT.")
@click.pass_context
def feeds_add(ctx: click.Context, url: str, name: str, language: str | None,
              tags: tuple[str, ...], full_text: str | None) -> None:
    """Add a feed, or update it when the URL is registered already."""
    from pipeline.kafka.registry import (
        FeedRegistry,
        RegisteredFeed,
        RegistryError,
        RegistryRecordError,
    )

    registry = FeedRegistry(_settings(ctx))
    try:
        registry.ensure_topics()
        registry.add([RegisteredFeed(url.strip(), name, language, tags, full_text=full_text)])
    except (RegistryError, RegistryRecordError) as exc:
        raise _fail(exc) from exc
    console.print(f"registered {url}")


@feeds.command("remove")
@click.argument("urls", nargs=-1, required=True)
@click.pass_context
def feeds_remove(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Remove feeds; the poller owning each drops it and its state."""
    from pipeline.kafka.registry import FeedRegistry, RegistryError

    registry = FeedRegistry(_settings(ctx))
    try:
        registry.ensure_topics()
        known = registry.feeds()
        unknown = [u for u in urls if u not in known]
        registry.remove([u for u in urls if u in known])
    except RegistryError as exc:
        raise _fail(exc) from exc
    for url in unknown:
        console.print(f"[yellow]not registered[/]: {url}")
    console.print(f"removed {len(urls) - len(unknown)} feeds")
    if unknown:
        sys.exit(1)


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def feeds_list(ctx: click.Context, as_json: bool) -> None:
    """The registered feeds."""
    from pipeline.kafka.registry import FeedRegistry, RegistryError, encode_feed

    try:
        registered = sorted(FeedRegistry(_settings(ctx)).feeds().values(), key=lambda f: f.url)
    except RegistryError as exc:
        raise _fail(exc) from exc
    if as_json:
        for feed in registered:
            click.echo(encode_feed(feed).decode("utf-8"))
        return
    table = Table("url", "name", "language", "tags", "full text")
    for feed in registered:
        table.add_row(feed.url, feed.name, feed.language or "", ", ".join(feed.tags),
                      feed.full_text or "(default)")
    console.print(table)
    console.print(f"{len(registered)} feeds")


@feeds.command("import")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--base-url", help="Value for {base_url} placeholders in a YAML list.")
@click.option("--full-text", type=click.Choice(FULL_TEXT_MODES),
              help="Full-text mode for every imported feed (overrides the file).")
@click.pass_context
def feeds_import(ctx: click.Context, path: Path, base_url: str | None,
                 full_text: str | None) -> None:
    """Import an OPML file or a YAML feed list (seeds/feeds/*.yaml) into the registry."""
    from pipeline.kafka.registry import FeedRegistry, RegistryError, load_registry_file
    from pipeline.poller.feeds import FeedListError

    registry = FeedRegistry(_settings(ctx))
    try:
        loaded = load_registry_file(path, base_url, full_text)
        registry.ensure_topics()
        before = registry.feeds()
        registry.add(loaded)
    except (FeedListError, RegistryError) as exc:
        raise _fail(exc) from exc
    new = sum(1 for f in loaded if f.url not in before)
    console.print(f"imported {len(loaded)} feeds from {path} ({new} new, "
                  f"{len(loaded) - new} updated)")


feeds.add_command(feeds_import, "import-opml")


@feeds.command("status")
@click.option("--json", "as_json", is_flag=True, help="One health document per line.")
@click.option("--problems", is_flag=True, help="Only feeds failing or retired.")
@click.option("--store", type=click.Choice(["kafka", "file"]), default="kafka",
              show_default=True,
              help="kafka: the registry and state topics; file: the single poller's state "
                   "file under NEWSPIPE_STATE_DIR.")
@click.pass_context
def feeds_status(ctx: click.Context, as_json: bool, problems: bool, store: str) -> None:
    """Per-feed health: last success, last error and reason, items/day, next poll."""
    from pipeline.poller.health import feed_health_doc, has_problem

    settings = _settings(ctx)
    registered, states = _status_source(settings, store)
    now = time.time()
    urls = sorted(set(registered) | set(states))
    docs = [feed_health_doc(states.get(url) or FeedState(url=url), registered.get(url), now,
                            poller_id="") for url in urls]
    if problems:
        docs = [d for d in docs if has_problem(d)]
    if as_json:
        for doc in docs:
            doc.pop("poller_id")
            click.echo(json.dumps(doc, ensure_ascii=False))
        return
    table = Table("feed", "status", "last success", "last error", "items/day", "next poll",
                  "fails")
    colours = {"ok": "green", "not_modified": "cyan", "pending": "white"}
    for doc in docs:
        reason = doc["retired_reason"] if doc["retired"] else doc["last_error"]
        table.add_row(doc["feed_name"] or doc["feed_url"],
                      f"[{colours.get(doc['status'], 'red')}]{doc['status']}[/]",
                      _short(doc["last_success_at"]), (reason or "")[:60],
                      f"{doc['items_per_day']:.1f}", _short(doc["next_poll_at"]),
                      str(doc["consecutive_failures"]))
    console.print(table)
    failing = sum(1 for d in docs if has_problem(d))
    console.print(f"{len(docs)} feeds shown, {failing} with problems")


def _status_source(settings: Settings, store: str
                   ) -> tuple[Mapping[str, FeedSource], Mapping[str, FeedState]]:
    if store == "file":
        from pipeline.poller.state import PollerState

        state = PollerState(settings.state_dir / "poller" / "state.json")
        return {}, dict(state.feeds)
    from pipeline.kafka.assignment import registry_snapshot
    from pipeline.kafka.registry import RegistryError

    try:
        return registry_snapshot(settings)
    except RegistryError as exc:
        raise _fail(exc) from exc


def _short(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


@feeds.command("poll")
@click.option("--every", type=float, default=None,
              help="Keep polling: seconds between passes (default: one pass, then exit).")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics.")
@click.option("--poller-id", help="This poller's name in health documents and the group.")
@click.option("--no-health", is_flag=True, help="Do not write feed-health documents.")
@click.option("--stall-after", type=float, default=None,
              help="Seconds without progress after which GET /healthz on the metrics port "
                   "answers 503 (default: max(900, 5 x --every)); for liveness probes.")
@click.pass_context
def feeds_poll(ctx: click.Context, every: float | None, metrics_port: int | None,
               poller_id: str | None, no_health: bool, stall_after: float | None) -> None:
    """Poll this process's share of the registry (consumer group NEWSPIPE_POLLER_GROUP):
    start several, on one machine or many, and they split the feeds."""
    from pipeline.kafka.runner import run_kafka_poller

    sys.exit(run_kafka_poller(_settings(ctx), every=every, metrics_port=metrics_port,
                              poller_id=poller_id, health=not no_health,
                              stall_after_s=stall_after))
