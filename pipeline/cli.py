"""The ``pipeline`` command: one entry point for operators, analysts and the demo."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from pipeline.display import console, run_poll
from pipeline.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


def _stack_config(ctx: click.Context) -> Any:
    from pipeline import stack as local_stack

    return local_stack.config_from_settings(_settings(ctx))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kafka-bootstrap", help="Kafka bootstrap servers (host:port,...).")
@click.option("--es-url", help="Elasticsearch URL.")
@click.option("--es-index", help="Elasticsearch index (or alias) for articles.")
@click.option("--state-dir", type=click.Path(path_type=Path),
              help="Where the poller state and the local stack keep their files.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object per line, for log shippers.")
@click.pass_context
def cli(ctx: click.Context, kafka_bootstrap: str | None, es_url: str | None,
        es_index: str | None, state_dir: Path | None, verbose: bool, log_format: str) -> None:
    """newspipe: RSS/Atom -> Kafka -> Apache Beam enrichment -> Elasticsearch.

    Settings come from NEWSPIPE_* environment variables (or .env); these flags override.
    """
    from pipeline.observability import configure_logging

    configure_logging(logging.INFO if verbose else logging.WARNING, log_format)
    ctx.obj = {"settings": Settings().with_overrides(
        kafka_bootstrap=kafka_bootstrap, es_url=es_url, es_index=es_index, state_dir=state_dir)}


# --- local stack ---------------------------------------------------------------------

@cli.group()
def stack() -> None:
    """The local stack: a real Kafka (KRaft) broker and Elasticsearch node on loopback."""


@stack.command("up")
@click.pass_context
def stack_up(ctx: click.Context) -> None:
    """Fetch (cached) and start Kafka and Elasticsearch; reuse them if already running."""
    from pipeline import stack as local_stack

    local_stack.up(_stack_config(ctx), progress=console.print)
    _print_status(ctx)


@stack.command("down")
@click.pass_context
def stack_down(ctx: click.Context) -> None:
    """Stop exactly the processes `stack up` started (by pid)."""
    from pipeline import stack as local_stack

    local_stack.down(_stack_config(ctx))
    console.print("local stack stopped")


@stack.command("status")
@click.pass_context
def stack_status(ctx: click.Context) -> None:
    """Show whether Kafka and Elasticsearch are running and healthy."""
    _print_status(ctx)


@stack.command("fetch")
@click.pass_context
def stack_fetch(ctx: click.Context) -> None:
    """Download the pinned Kafka and Elasticsearch artifacts ahead of time."""
    from pipeline import stack as local_stack

    local_stack.fetch(_stack_config(ctx))
    console.print("artifacts cached")


def _print_status(ctx: click.Context) -> None:
    from pipeline import stack as local_stack

    table = Table("service", "state", "pid", "address", "detail")
    for service in local_stack.status(_stack_config(ctx)):
        table.add_row(*service.row())
    console.print(table)


# --- setup ---------------------------------------------------------------------------

@cli.command("setup")
@click.pass_context
def setup_cmd(ctx: click.Context) -> None:
    """Create the Kafka topics and install the Elasticsearch index template (idempotent)."""
    from pipeline.provision import provision_report

    done = provision_report(_settings(ctx))
    console.print(f"topics created: {', '.join(done.created_topics) or 'none (all existed)'}; "
                  "index templates installed")
    console.print(done.articles.describe())


@cli.group()
def topics() -> None:
    """Kafka topics of the project."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create the raw, dead-letter and poller-state topics (idempotent) and show them."""
    from pipeline.kafka.topics import ensure_topics

    settings = _settings(ctx)
    table = Table("topic", "action", "partitions")
    for topic in ensure_topics(settings):
        partitions = str(topic.partitions)
        if topic.partitions != topic.wanted_partitions:
            partitions += f" (configured {topic.wanted_partitions}: existing topics keep theirs)"
        table.add_row(topic.name, "created" if topic.created else "exists", partitions)
    console.print(table)


@cli.group()
def config() -> None:
    """The effective configuration."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings (defaults < config file < env < flags), secrets masked."""
    shown = _settings(ctx).masked()
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    table = Table("setting", "value", "environment variable")
    for name, value in shown.items():
        table.add_row(name, "" if value is None else str(value), f"NEWSPIPE_{name.upper()}")
    console.print(table)


@cli.command("doctor")
@click.pass_context
def doctor_cmd(ctx: click.Context) -> None:
    """Check connectivity to Kafka, Elasticsearch, Kibana and the Beam runner; explain
    what fails. Exit code 1 if anything does."""
    from pipeline.doctor import run_checks

    checks = run_checks(_settings(ctx))
    for check in checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: {check.detail}")
        if check.hint:
            console.print(f"       -> {check.hint}")
    sys.exit(0 if all(c.ok for c in checks) else 1)


# --- poller --------------------------------------------------------------------------

@cli.command("poll")
@click.option("--feeds", "feeds_file", type=click.Path(path_type=Path, exists=True),
              help="Feed list (YAML or OPML). Default: the configured feeds file.")
@click.option("--base-url", help="Value for {base_url} placeholders in the feed list.")
@click.option("--every", type=float, default=None,
              help="Keep polling: a pass over the due feeds every S seconds.")
@click.option("--forever", is_flag=True,
              help="Keep polling, sleeping until the next feed is due (adaptive schedule).")
@click.option("--force", is_flag=True,
              help="Poll every feed now, ignoring the schedule (retired feeds stay retired).")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics.")
@click.option("--shard", "shard_spec", metavar="K/N",
              help="Run as poller K of N: poll only the feeds whose URL hashes to K.")
@click.option("--registry", type=click.Choice(["file", "kafka"]), default="file",
              show_default=True,
              help="kafka: poll this process's share of the Kafka feed registry (consumer "
                   "group NEWSPIPE_POLLER_GROUP; see `pipeline feeds`).")
@click.pass_context
def poll_cmd(ctx: click.Context, feeds_file: Path | None, base_url: str | None,
             every: float | None, forever: bool, force: bool, metrics_port: int | None,
             shard_spec: str | None, registry: str) -> None:
    """Poll the feeds that are due and publish new items to the raw topic.

    Once by default (exit code 1 if every polled feed failed); --every S or --forever keep
    going until SIGTERM/Ctrl-C, which finishes in-flight publishes and saves the state.
    """
    import time

    from pipeline.observability import serve_metrics

    settings = _settings(ctx)
    serve_metrics(metrics_port)
    if registry == "kafka":
        from pipeline.kafka.runner import run_kafka_poller

        sys.exit(run_kafka_poller(settings, every=every or (30.0 if forever else None),
                                  metrics_port=None))
    feeds_path = feeds_file or settings.feeds_file
    if forever:
        _poll_forever(settings, feeds_path, base_url, shard_spec)
        return
    while True:
        started = time.monotonic()
        report = run_poll(settings, feeds_path, base_url, shard_spec, force=force)
        if every is None:
            sys.exit(1 if report.outcomes and len(report.failed) == len(report.outcomes)
                     else 0)
        time.sleep(max(0.0, every - (time.monotonic() - started)))


def _poll_forever(settings: Settings, feeds_path: Path, base_url: str | None,
                  shard_spec: str | None) -> None:
    import asyncio
    import signal

    from pipeline.display import pass_summary, show_failure
    from pipeline.poller.run import load_feeds, poll_forever

    feeds = load_feeds(settings, feeds_path, base_url, shard_spec)
    console.print(f"polling {len(feeds)} feeds from {feeds_path} until stopped")

    async def main() -> None:
        stop = asyncio.Event()
        runner = asyncio.current_task()
        assert runner is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # Cancel, not just stop: a pass in progress finishes its publishes, saves
            # the state and ends now instead of after every due feed.
            loop.add_signal_handler(signum, runner.cancel)
        await poll_forever(settings, lambda: feeds, stop, on_feed=show_failure,
                           on_pass=lambda report: console.print(pass_summary(report)))

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        console.print("stopped; state saved")


# --- the Beam job --------------------------------------------------------------------

@cli.group()
def job() -> None:
    """The Apache Beam streaming enrichment job."""


@job.command("run", context_settings={"ignore_unknown_options": True,
                                      "allow_extra_args": True})
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def job_run(ctx: click.Context, beam_args: tuple[str, ...]) -> None:
    """Run the streaming job (until stopped). Extra arguments go to Beam, e.g.
    --runner=FlinkRunner; see `pipeline job run -- --help` for the job's own flags."""
    from pipeline.beam.job import run

    _stop_process_group_on_signal()
    run(list(beam_args), _settings(ctx))


def _stop_process_group_on_signal() -> None:
    """On SIGTERM/SIGINT take the whole process group down: the Flink job server and the
    expansion service are JVMs that Beam starts as our children and would otherwise outlive
    us. Only when we lead our group (a shell job, or started with a new session)."""
    import os
    import signal

    if os.getpgrp() != os.getpid():
        return

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.killpg(0, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


# --- dead letters --------------------------------------------------------------------

@cli.group()
def dlq() -> None:
    """Dead letters: messages the job could not process, with the reason."""


@dlq.command("list")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def dlq_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Show dead letters (oldest first)."""
    from pipeline.kafka.dead_letter import read_dead_letters

    settings = _settings(ctx)
    letters = read_dead_letters(settings.kafka_client_kwargs(), settings.dead_letter_topic,
                                limit=limit)
    if as_json:
        for letter in letters:
            click.echo(letter.to_json_bytes().decode("utf-8"))
        return
    table = Table("failed at", "stage", "key", "reason")
    for letter in letters:
        table.add_row(letter.failed_at[:19], letter.stage, (letter.key or "")[:16],
                      letter.reason[:120])
    console.print(table)
    console.print(f"{len(letters)} dead letters shown")


@dlq.command("replay")
@click.option("--stage", type=click.Choice(["decode", "enrich", "index"]),
              help="Only replay dead letters of this stage.")
@click.pass_context
def dlq_replay(ctx: click.Context, stage: str | None) -> None:
    """Put dead letters not yet replayed back on the raw topic (after fixing the cause)."""
    from pipeline.kafka.dead_letter import replay

    settings = _settings(ctx)
    count = replay(settings.kafka_client_kwargs(), settings.dead_letter_topic, settings.raw_topic,
                   select=lambda letter: stage is None or letter.stage == stage)
    console.print(f"replayed {count} dead letters to {settings.raw_topic}")


# --- search --------------------------------------------------------------------------

# --- analysts: search, trending, rollover, reindex (issue 5) -------------------------

def _filters(person: tuple[str, ...], org: tuple[str, ...], location: tuple[str, ...],
             topic: tuple[str, ...], source: tuple[str, ...], language: tuple[str, ...],
             since: datetime | None, until: datetime | None) -> Any:
    from pipeline.search import SearchFilters

    return SearchFilters(list(person), list(org), list(location), list(topic), list(source),
                         list(language), since.replace(tzinfo=UTC) if since else None,
                         until.replace(tzinfo=UTC) if until else None)


def _es_reason(exc: Exception) -> str:
    """The innermost reason Elasticsearch gave, without the client's envelope."""
    info = getattr(exc, "info", None)
    error = info.get("error") if isinstance(info, dict) else None
    while isinstance(error, dict):
        caused = error.get("caused_by") or next(iter(error.get("root_cause") or []), None)
        if not isinstance(caused, dict) or caused == error:
            return str(error.get("reason", exc))
        error = caused
    return str(exc)


def _filter_options(command: Any) -> Any:
    options = [
        click.option("--person", multiple=True,
                     help="Person: canonical name or any spelling, e.g. 'Putin'."),
        click.option("--org", multiple=True, help="Organisation (name or spelling)."),
        click.option("--location", multiple=True, help="Place, e.g. 'North Korea' or 'U.S.'."),
        click.option("--topic", multiple=True, help="Topic label (e.g. politics) or code."),
        click.option("--source", multiple=True, help="Source host."),
        click.option("--language", multiple=True, help="ISO 639-1 code, e.g. en."),
        click.option("--since", type=click.DateTime(), help="Published on or after (UTC)."),
        click.option("--until", type=click.DateTime(), help="Published on or before (UTC)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command("search")
@click.argument("query", default="")
@_filter_options
@click.option("--sort", type=click.Choice(["relevance", "newest", "oldest"]),
              default="relevance", show_default=True)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--size", "--limit", "size", type=click.IntRange(1, 500), default=10,
              show_default=True, help="Hits per page.")
@click.option("--collapse", is_flag=True,
              help="One hit per near-duplicate cluster (cluster_id).")
@click.option("--no-highlight", is_flag=True, help="Do not mark the matches.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON lines.")
@click.pass_context
def search_cmd(ctx: click.Context, query: str, person: tuple[str, ...], org: tuple[str, ...],
               location: tuple[str, ...], topic: tuple[str, ...], source: tuple[str, ...],
               language: tuple[str, ...], since: datetime | None, until: datetime | None,
               sort: str, page: int, size: int, collapse: bool, no_highlight: bool,
               as_json: bool) -> None:
    """Search indexed articles by text, with filters on the enriched fields. Names are
    matched under any spelling the alias table knows ("U.S." = "United States")."""
    from dataclasses import asdict

    from elasticsearch import ApiError, Elasticsearch

    from pipeline.display import print_search_result
    from pipeline.search import SearchRequest, run_search

    settings = _settings(ctx)
    try:
        request = SearchRequest(query, _filters(person, org, location, topic, source, language,
                                                since, until),
                                sort=sort, page=page, size=size,  # type: ignore[arg-type]
                                highlight=not no_highlight, collapse=collapse)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    with Elasticsearch(**settings.es_client_kwargs()) as client:
        try:
            result = run_search(client, settings.es_index, request)
        except ApiError as exc:  # e.g. --collapse on an index without cluster_id
            raise click.ClickException(f"Elasticsearch refused the search: "
                                       f"{_es_reason(exc)}") from exc
    if as_json:
        for hit in result.hits:
            click.echo(json.dumps(asdict(hit), ensure_ascii=False))
        return
    print_search_result(result)


@cli.command("trending")
@click.option("--window", default="24h", show_default=True,
              help="How far back: e.g. 90m, 24h, 7d, 2w.")
@click.option("--field", "field_name",
              type=click.Choice(["persons", "organizations", "locations", "topics"]),
              default="persons", show_default=True)
@click.option("--top", type=click.IntRange(1, 200), default=10, show_default=True)
@_filter_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def trending_cmd(ctx: click.Context, window: str, field_name: str, top: int,
                 person: tuple[str, ...], org: tuple[str, ...], location: tuple[str, ...],
                 topic: tuple[str, ...], source: tuple[str, ...], language: tuple[str, ...],
                 since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """Top persons / organisations / locations / topics published in the last WINDOW,
    with their count in the window before it."""
    from elasticsearch import ApiError, Elasticsearch

    from pipeline.display import print_trending
    from pipeline.search import parse_window, trending

    try:
        span = parse_window(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from exc
    settings = _settings(ctx)
    filters = _filters(person, org, location, topic, source, language, since, until)
    with Elasticsearch(**settings.es_client_kwargs()) as client:
        try:
            trend = trending(client, settings.es_index, field_name, span, top,
                             filters=filters)
        except ApiError as exc:
            raise click.ClickException(f"Elasticsearch refused the query: "
                                       f"{_es_reason(exc)}") from exc
    if as_json:
        click.echo(json.dumps({"field": trend.field, "since": trend.since.isoformat(),
                               "until": trend.until.isoformat(), "articles": trend.articles,
                               "rows": [{"value": r.value, "count": r.count,
                                         "previous": r.previous} for r in trend.rows]},
                              ensure_ascii=False))
        return
    print_trending(trend)


@cli.command("rollover")
@click.option("--max-age", help="e.g. 30d (default: NEWSPIPE_ES_ROLLOVER_MAX_AGE).")
@click.option("--max-docs", type=click.IntRange(min=1),
              help="Default: NEWSPIPE_ES_ROLLOVER_MAX_DOCS.")
@click.option("--max-size", help="Largest primary shard, e.g. 50gb "
                                 "(default: NEWSPIPE_ES_ROLLOVER_MAX_PRIMARY_SHARD_SIZE).")
@click.option("--now", "force", is_flag=True, help="Roll over whatever the conditions.")
@click.option("--dry-run", is_flag=True, help="Only say whether the conditions are met.")
@click.pass_context
def rollover_cmd(ctx: click.Context, max_age: str | None, max_docs: int | None,
                 max_size: str | None, force: bool, dry_run: bool) -> None:
    """Start a new article index generation when the write index is old or big enough.
    For clusters without ILM: run it from cron (hourly); a no-op until a condition is met."""
    from elasticsearch import Elasticsearch

    from pipeline.provision import rollover_conditions
    from pipeline.rollover import RolloverConditions, detect_lifecycle_mode, rollover

    settings = _settings(ctx)
    configured = rollover_conditions(settings)
    conditions = RolloverConditions(None, None, None) if force else RolloverConditions(
        max_age=max_age or configured.max_age,
        max_docs=max_docs or configured.max_docs,
        max_primary_shard_size=max_size or configured.max_primary_shard_size)
    with Elasticsearch(**settings.es_client_kwargs()) as client:
        if not client.indices.exists_alias(name=settings.es_index):
            raise click.ClickException(f"{settings.es_index} is not an alias yet: run "
                                       "`pipeline setup` first")
        mode = detect_lifecycle_mode(client)
        if mode == "ilm":
            console.print("note: this cluster has ILM; the policy rolls over by itself")
        result = rollover(client, settings.es_index, conditions, dry_run=dry_run)
    met = [name for name, ok in result.conditions.items() if ok]
    if result.rolled_over:
        console.print(f"rolled over {settings.es_index}: {result.old_index} -> "
                      f"{result.new_index} (met: {', '.join(met) or 'forced'})")
    else:
        verb = "would roll over to" if dry_run and met else "no rollover; next would be"
        console.print(f"{verb} {result.new_index}; conditions "
                      f"{conditions.describe()}: {', '.join(met) or 'none met'}")


@cli.command("reindex")
@click.option("--from", "source", type=click.Choice(["topic", "index", "copy"]),
              default="topic", show_default=True,
              help="topic: re-enrich every article on the raw topic; index: re-enrich the "
                   "stored text; copy: plain _reindex (mapping changes only).")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=64, show_default=True)
@click.option("--force", is_flag=True, help="Swap the alias even if the counts differ.")
@click.option("--delete-old", is_flag=True,
              help="Delete the old generations after the swap (default: keep them).")
@click.pass_context
def reindex_cmd(ctx: click.Context, source: str, batch_size: int, force: bool,
                delete_old: bool) -> None:
    """Build a new index generation from the raw topic (or the stored documents) with the
    current enrichment, check the counts, and move the alias to it atomically. The job
    may keep running: articles arriving meanwhile are caught up."""
    from elasticsearch import Elasticsearch

    from pipeline.reindex import Reindexer, ReindexError

    settings = _settings(ctx)
    with Elasticsearch(**settings.es_client_kwargs()) as client:
        reindexer = Reindexer(client, settings.es_index, source,  # type: ignore[arg-type]
                              kafka=settings.kafka_client_kwargs(),
                              raw_topic=settings.raw_topic, batch_size=batch_size,
                              progress=lambda line: console.print(f"  {line}"))
        try:
            report = reindexer.run(force=force, delete_old=delete_old)
        except ReindexError as exc:
            raise click.ClickException(str(exc)) from exc
    console.print(f"read {report.read} ({report.undecodable} undecodable, "
                  f"{len(report.enrich_failures)} enrichment failures, "
                  f"{len(report.rejected)} rejected by Elasticsearch)")
    mark = "[green]match[/]" if report.count_before == report.count_after else "[red]differ[/]"
    console.print(f"counts: {report.count_before} before, {report.count_after} after: {mark}")
    console.print(f"alias {report.alias} -> {report.target}; caught up "
                  f"{report.caught_up_after_swap} after the swap; old generations "
                  + ("deleted" if report.deleted_old else
                     f"kept (delete later: {', '.join(report.old_indices)})"))
# --- end analysts --------------------------------------------------------------------


@cli.command("eval")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="dev",
              show_default=True, help="Which part of the labelled set to evaluate.")
@click.option("--path", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Labelled JSONL set (default: tests/data/eval/articles.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
# enrich-quality: compare spaCy pipelines (installed package name or model directory)
@click.option("--model", "model_name", default=None, metavar="NAME_OR_DIR",
              help="spaCy pipeline to evaluate instead of the default en_core_web_sm.")
def eval_cmd(split: str, path: Path | None, as_json: bool, model_name: str | None) -> None:
    """Measure enrichment quality (entities P/R/F1, topic and language accuracy)."""
    from pipeline.enrichment.enricher import Enricher
    from pipeline.evaluation import DEFAULT_EVAL_PATH, evaluate, format_report, load_eval_set

    articles = load_eval_set(path or DEFAULT_EVAL_PATH)
    report = evaluate(Enricher.load(model_name=model_name), articles, split=split)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        console.print(format_report(report), markup=False, highlight=False)


# --- Kibana --------------------------------------------------------------------------

@cli.group()
def kibana() -> None:
    """The Kibana pack (deploy/kibana/newspipe.ndjson): validate it, import it."""


_PACK_OPTION = click.option(
    "--pack", "pack_path", type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None, help="Saved-objects NDJSON file. Default: deploy/kibana/newspipe.ndjson.")


def _checked_pack(pack_path: Path | None, templates_dir: Path | None = None) -> Path:
    """Load and validate the pack against the index templates; exit 1 listing problems."""
    from pipeline.kibana import (
        PACK_PATH,
        TEMPLATES_DIR,
        PackError,
        load_pack,
        load_templates,
        validate_pack,
    )

    path = pack_path or PACK_PATH
    try:
        objects = load_pack(path)
    except (OSError, PackError) as exc:
        raise click.ClickException(str(exc)) from exc
    problems = validate_pack(objects, load_templates(templates_dir or TEMPLATES_DIR))
    if problems:
        for problem in problems:
            click.echo(f"  x {problem}", err=True)
        plural = "" if len(problems) == 1 else "s"
        raise click.ClickException(f"{path}: {len(problems)} problem{plural} in "
                                   f"{len(objects)} saved objects")
    return path


@kibana.command("validate")
@_PACK_OPTION
@click.option("--templates", "templates_dir",
              type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Directory of *-index-template.json files. Default: deploy/elasticsearch.")
def kibana_validate(pack_path: Path | None, templates_dir: Path | None) -> None:
    """Check the pack without Kibana: references, nested JSON, fields against the index
    templates (aggregatable, date histograms on dates), panels and Lens columns."""
    path = _checked_pack(pack_path, templates_dir)
    console.print(f"{path}: valid")


@kibana.command("import")
@click.option("--url", required=True, envvar="NEWSPIPE_KIBANA_URL",
              help="Kibana base URL, e.g. http://kibana:5601 (env NEWSPIPE_KIBANA_URL).")
@click.option("--api-key", envvar="NEWSPIPE_KIBANA_API_KEY",
              help="Encoded API key, sent as 'Authorization: ApiKey ...' "
                   "(env NEWSPIPE_KIBANA_API_KEY).")
@click.option("--username", help="Basic-auth user, when no API key is given.")
@click.option("--password", envvar="NEWSPIPE_KIBANA_PASSWORD",
              help="Basic-auth password (env NEWSPIPE_KIBANA_PASSWORD).")
@click.option("--space", help="Kibana space id. Default: the default space.")
@click.option("--ca-certs", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="CA bundle that signed Kibana's TLS certificate.")
@click.option("--insecure", is_flag=True, help="Do not verify Kibana's TLS certificate.")
@click.option("--no-overwrite", is_flag=True,
              help="Leave objects that already exist alone (default: overwrite them).")
@click.option("--skip-validation", is_flag=True, help="Import without validating first.")
@_PACK_OPTION
def kibana_import(url: str, api_key: str | None, username: str | None, password: str | None,
                  space: str | None, ca_certs: Path | None, insecure: bool,
                  no_overwrite: bool, skip_validation: bool, pack_path: Path | None) -> None:
    """Validate the pack, then import it with POST /api/saved_objects/_import."""
    from pipeline.kibana import PACK_PATH, KibanaImportError, import_pack

    if username and password is None:
        raise click.UsageError("--username needs --password (or NEWSPIPE_KIBANA_PASSWORD)")
    path = (pack_path or PACK_PATH) if skip_validation else _checked_pack(pack_path)
    verify: bool | Path = False if insecure else (ca_certs or True)
    try:
        result = import_pack(url, path, api_key=api_key, username=username,
                             password=password, space=space, overwrite=not no_overwrite,
                             verify=verify)
    except KibanaImportError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"imported {result.get('successCount', 0)} saved objects into {url}"
                  + (f" (space {space})" if space else ""))


# --- the demo ------------------------------------------------------------------------

@cli.command("demo")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait for every produced article to be indexed.")
@click.option("--runner", default=None, help="Beam runner for the job (default: see README).")
@click.pass_context
def demo_cmd(ctx: click.Context, timeout: float, runner: str | None) -> None:
    """The whole pipeline offline: local stack, sample feeds, Beam job, search."""
    from pipeline.demo import run_demo

    sys.exit(run_demo(_settings(ctx), timeout_s=timeout, runner=runner, console=console))


# --- feed registry, scale-out, feed health (poller-scale) -------------------------------
from pipeline.cli_feeds import feeds  # noqa: E402

cli.add_command(feeds)
# --- end poller-scale -------------------------------------------------------------------


def main() -> None:
    cli(prog_name="pipeline")


if __name__ == "__main__":
    main()
