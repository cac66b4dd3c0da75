"""``pipeline demo``: the whole pipeline on the embedded default, offline.

Local stack up -> topics and index -> sample feeds served on loopback and polled ->
the Beam job started as its own process (as an operator would run it) -> wait until the
job's consumer group has committed everything on the raw topic and every produced id is
indexed or dead-lettered -> stop the job, print a summary and an example search.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from elasticsearch import Elasticsearch
from rich.console import Console

from pipeline.settings import Settings

DEFAULT_RUNNER = "FlinkRunner"


def job_command(settings: Settings, runner: str, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "pipeline", "job", "run",
            f"--kafka-bootstrap={settings.kafka_bootstrap}", f"--topic={settings.raw_topic}",
            f"--dead-letter-topic={settings.dead_letter_topic}",
            f"--consumer-group={settings.consumer_group}", f"--es-url={settings.es_url}",
            f"--es-index={settings.es_index}",
            f"--dead-letter-index={settings.dead_letter_index}", f"--runner={runner}", *extra]


def start_job(settings: Settings, runner: str, log_path: Path,
              extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 (owned by the child)
    return subprocess.Popen(job_command(settings, runner, extra), stdout=log_file,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """Linux: the job gets SIGTERM if whoever started it dies (a killed demo or test run
    must not leave a streaming job and its JVMs behind)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_job(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def count_indexed(client: Elasticsearch, index: str, ids: list[str]) -> int:
    if not ids or not client.indices.exists(index=index):  # the job creates it on start
        return 0
    client.indices.refresh(index=index)
    return int(client.count(index=index, query={"ids": {"values": ids}})["count"])


def wait_until_indexed(settings: Settings, client: Elasticsearch, sent_ids: list[str],
                       job: subprocess.Popen[bytes], timeout_s: float,
                       console: Console) -> tuple[int, dict[str, int]]:
    from pipeline.kafka.dead_letter import read_dead_letters
    from pipeline.kafka.lag import consumer_lag

    deadline = time.monotonic() + timeout_s
    wanted = set(sent_ids)
    last_line = ""
    while True:
        if job.poll() is not None:
            raise RuntimeError(f"the Beam job exited early with code {job.returncode}")
        indexed = count_indexed(client, settings.es_index, sent_ids)
        letters = [d for d in read_dead_letters(settings.kafka_client_kwargs(),
                                                settings.dead_letter_topic, idle_timeout_s=1)
                   if d.key in wanted]
        by_stage: dict[str, int] = {}
        for letter in letters:
            by_stage[letter.stage] = by_stage.get(letter.stage, 0) + 1
        lag = consumer_lag(settings.kafka_client_kwargs(), settings.consumer_group,
                           settings.raw_topic)
        line = (f"  job progress: indexed {indexed}/{len(wanted)}, dead letters "
                f"{len(letters)}, uncommitted on raw topic {'?' if lag is None else lag}")
        if line != last_line:
            console.print(line)
            last_line = line
        if lag == 0 and indexed + len(letters) >= len(wanted):
            return indexed, by_stage
        if time.monotonic() > deadline:
            raise TimeoutError(f"not everything was indexed within {timeout_s:.0f}s "
                               f"({line.strip()})")
        time.sleep(2)


def run_demo(settings: Settings, *, timeout_s: float, runner: str | None,
             console: Console) -> int:
    from pipeline import stack as local_stack
    from pipeline.display import print_hits, run_poll
    from pipeline.poller.sample_server import SAMPLE_FEED_LIST, SampleFeedServer
    from pipeline.provision import provision
    from pipeline.search import SearchFilters, search

    started = time.monotonic()
    console.rule("1/4 local stack (Kafka KRaft + Elasticsearch)")
    local_stack.up(local_stack.config_from_settings(settings), progress=console.print)
    created = provision(settings)
    console.print(f"topics created: {', '.join(created) or 'all existed'}; index template ok")

    console.rule("2/4 poll the bundled sample feeds (served on loopback)")
    from pipeline.poller.run import allow_loopback

    with SampleFeedServer() as server:
        # The sample server is on loopback, which the SSRF guard refuses unless allowed;
        # --force: a repeated demo polls again (and gets "not modified") instead of
        # waiting for the feeds' next poll time.
        report = run_poll(allow_loopback(settings), SAMPLE_FEED_LIST, server.base_url,
                          force=True)

    console.rule("3/4 Beam job: enrich and index")
    runner = runner or DEFAULT_RUNNER
    log_path = settings.state_dir / "logs" / "demo-job.log"
    console.print(f"starting the streaming job on {runner} (log: {log_path})")
    job = start_job(settings, runner, log_path)
    client = Elasticsearch(**settings.es_client_kwargs())
    try:
        indexed, dead_by_stage = wait_until_indexed(settings, client, report.sent_ids, job,
                                                    timeout_s, console)
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[red]error:[/] {exc}\n--- last lines of {log_path} ---")
        console.print(_tail(log_path))
        return 1
    finally:
        stop_job(job)

    console.rule("4/4 summary")
    dead = sum(dead_by_stage.values())
    enriched = indexed + dead_by_stage.get("index", 0)
    console.print(
        f"feeds polled: {len(report.outcomes)} (failed {len(report.failed)}) | "
        f"articles sent: {report.articles_sent} | enriched: {enriched} | "
        f"indexed: {indexed} | dead letters: {dead} | "
        f"{time.monotonic() - started:.0f}s")
    total, hits = search(client, settings.es_index, "Putin", SearchFilters(), limit=5)
    console.print('example: pipeline search "Putin"')
    print_hits(total, hits)
    client.close()
    console.print('\nsearch more:  .venv/bin/pipeline search "Putin" --location "North Korea"'
                  '\nstop it all:  .venv/bin/pipeline stack down')
    return 0


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
