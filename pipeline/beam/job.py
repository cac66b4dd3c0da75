"""The streaming enrichment job.

    raw topic -> Decode -> Enrich (batched, nlp.pipe) -> near-duplicate cluster and
                    |             |                     Elasticsearch bulk (writer thread)
                    +-------------+---------------------+-> dead-letter topic

``run(argv)`` takes the project's settings as defaults, job flags override them, and
anything it does not know is passed to Beam (``--runner``, ``--streaming``, ...).
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.beam.kafka_io import ReadFromKafkaJava
from pipeline.beam.kafka_python_source import ReadFromKafkaPython
from pipeline.beam.messages import KafkaMessage
from pipeline.beam.transforms import (
    DEAD,
    ClusterAndIndex,
    DecodeArticle,
    EnrichArticles,
    PublishDeadLetters,
)
from pipeline.observability import serve_metrics
from pipeline.provision import provision
from pipeline.settings import Settings, get_settings
from pipeline.stack import config_from_settings as stack_config
from pipeline.stack.maven import beam_expansion_service_jar, beam_flink_job_server_jar
from pipeline.stack.process import is_alive

log = logging.getLogger(__name__)


class EnrichAndIndex(beam.PTransform):
    """KafkaMessages -> indexed article ids; every failure to the dead-letter topic."""

    def __init__(self, settings: Settings, *, batch_size: int = 64,
                 outage_timeout_s: float = 3600.0):
        super().__init__()
        self.settings = settings
        self.batch_size = batch_size
        self.outage_timeout_s = outage_timeout_s

    def expand(self, messages: beam.PCollection[KafkaMessage]) -> beam.PCollection[str]:
        s = self.settings
        # BatchElements (not GroupIntoBatches): it needs no timers, so every runner,
        # including the Python direct runner in streaming mode, can run it. Fixed size, not
        # adaptive: spaCy's nlp.pipe is ~1.4-1.7x faster on batches of 64 than of 1-4, and
        # adaptive sizing starts at 1. A batch never waits past its bundle (<= 1 s on
        # Flink, see flink_local_defaults): the rest is flushed when the bundle finishes.
        batch = dict(min_batch_size=self.batch_size, max_batch_size=self.batch_size)
        decoded = messages | "Decode" >> beam.ParDo(DecodeArticle()).with_outputs(DEAD,
                                                                                 main="ok")
        enriched = (decoded.ok
                    | "BatchForNER" >> beam.BatchElements(**batch)
                    | "Enrich" >> beam.ParDo(EnrichArticles(nlp_batch_size=self.batch_size))
                    .with_outputs(DEAD, main="ok"))
        indexed = (enriched.ok
                   | "BatchForIndex" >> beam.BatchElements(**batch)
                   | "ClusterAndIndex" >> beam.ParDo(ClusterAndIndex(
                       s.es_client_kwargs(), s.es_index, self.outage_timeout_s,
                   )).with_outputs(DEAD, main="ok"))
        _ = ((decoded[DEAD], enriched[DEAD], indexed[DEAD])
             | "AllDeadLetters" >> beam.Flatten()
             | "PublishDeadLetters" >> beam.ParDo(PublishDeadLetters(
                 s.kafka_client_kwargs(), s.dead_letter_topic, s.es_client_kwargs(),
                 s.dead_letter_index)))
        return indexed.ok


def parse_args(argv: Sequence[str] | None, settings: Settings) -> tuple[argparse.Namespace,
                                                                          list[str]]:
    parser = argparse.ArgumentParser(prog="pipeline job run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka-bootstrap", default=settings.kafka_bootstrap)
    parser.add_argument("--topic", default=settings.raw_topic)
    parser.add_argument("--dead-letter-topic", default=settings.dead_letter_topic)
    parser.add_argument("--consumer-group", default=settings.consumer_group)
    parser.add_argument("--es-url", default=settings.es_url)
    parser.add_argument("--es-index", default=settings.es_index)
    parser.add_argument("--dead-letter-index", default=settings.dead_letter_index)
    parser.add_argument("--source", choices=["kafka", "kafka-python"], default="kafka",
                        help="kafka: Beam's ReadFromKafka (Java, runs on Flink); "
                             "kafka-python: a Python reader for the Python direct runner "
                             "(development only, see README)")
    parser.add_argument("--sdk-workers", type=int, default=1,
                        help="Python worker processes for the DoFns (local Flink). 1: in this "
                             "process (LOOPBACK); N>1: a Beam worker pool with N processes, "
                             "and parallelism N unless given")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics (incl. consumer lag) on this port")
    parser.add_argument("--es-outage-timeout", type=float, default=3600.0,
                        help="seconds to wait out an unreachable Elasticsearch per batch")
    return parser.parse_known_args(argv)


def with_worker_pool(beam_args: list[str], workers: int) -> list[str]:
    """Start a Beam worker pool (N Python SDK processes, so enrichment is not bound to one
    interpreter's GIL) and point the job at it. The pool is our child, in our process
    group: it stops with the job."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The pool starts workers as `python -c ...`: this interpreter must come first on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                      f"--service_port={port}"], env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the Beam worker pool did not start") from None
            time.sleep(0.2)
    given = {arg.split("=", 1)[0] for arg in beam_args}
    pool_args = {"--environment_type": "EXTERNAL",
                 "--environment_config": f"127.0.0.1:{port}",
                 "--sdk_worker_parallelism": str(workers),
                 "--parallelism": str(workers)}
    return beam_args + [f"{k}={v}" for k, v in pool_args.items() if k not in given]


JOB_TMP = "job-tmp"


def job_temp_dir(state_dir: Path, pid: int | None = None) -> Path:
    """This job process's temporary directory, ``<state_dir>/job-tmp/job-<pid>``; the
    directories of job processes no longer running are removed first.

    Why: on every start Beam's Flink job server stages the job's jars (~190 MB) in a fresh
    ``beam-temp*`` directory and Flink extracts its RPC jar (~22 MB), both under the system
    temp directory, and only a clean shutdown removes them. A streaming job is stopped by a
    signal, so each start leaked ~210 MB in /tmp until the disk filled. Pointing Python's
    and the job server JVM's temp directory here bounds the leftovers to the processes
    that died since the last start.
    """
    root = state_dir / JOB_TMP
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("job-*"):
        owner = stale.name.removeprefix("job-")
        if owner.isdigit() and not is_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    mine = root / f"job-{pid if pid is not None else os.getpid()}"
    mine.mkdir(exist_ok=True)
    return mine


def use_job_temp_dir(settings: Settings, beam_args: list[str]) -> list[str]:
    """Temporary files of this process and of the Flink job server it starts go to
    :func:`job_temp_dir` (removed at a clean exit, else by the next start)."""
    tmp = job_temp_dir(settings.state_dir)
    tempfile.tempdir = str(tmp)
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return beam_args + [f"--job_server_jvm_properties=-Djava.io.tmpdir={tmp}"]


def runner_of(beam_args: list[str]) -> str:
    for arg in beam_args:
        if arg.startswith("--runner="):
            return arg.split("=", 1)[1]
    return "FlinkRunner"


def flink_local_defaults(settings: Settings, beam_args: list[str],
                         batch_size: int = 64) -> list[str]:
    """On Flink, default to an embedded cluster (``[local]``) using the pre-fetched job
    server jar; any option the caller gave wins, so the same job runs on a Flink cluster.
    Other runners (Dataflow) get the arguments untouched."""
    if runner_of(beam_args) != "FlinkRunner":
        return beam_args
    given = {arg.split("=", 1)[0] for arg in beam_args}
    defaults = {
        "--runner": "FlinkRunner",
        "--flink_master": "[local]",
        "--flink_version": "1.19",
        "--flink_job_server_jar": str(beam_flink_job_server_jar(stack_config(settings))),
        "--environment_type": "LOOPBACK",
        "--parallelism": "1",
        # Delivery (see README "Delivery guarantees"): KafkaIO commits the offsets of a
        # checkpoint when Flink reports it complete. Finishing the bundle *before* the
        # barrier makes every element read before it run through all the fused Python
        # steps (Elasticsearch bulk write and dead-letter flush included, both blocking in
        # the bundle) and emit its outputs ahead of the barrier, so a completed checkpoint
        # never covers an article that is not yet in Elasticsearch or the dead-letter topic.
        "--checkpointing_interval": "5000",
        "--finish_bundle_before_checkpointing": None,
        # Bundles under a backlog: 1000 elements by default (~40 s of NER on one core),
        # holding back checkpoints and so offset commits; 4 NER batches keep the batches
        # full and a restart's re-delivery small.
        "--max_bundle_size": str(4 * batch_size),
        "--max_bundle_time_millis": "1000",
        "--experiments": "use_deprecated_read",
    }
    return beam_args + [k if v is None else f"{k}={v}" for k, v in defaults.items()
                        if k not in given]


def build(pipeline: beam.Pipeline, settings: Settings, args: argparse.Namespace,
          runner: str = "FlinkRunner") -> None:
    if args.source == "kafka":
        # Our assembled expansion service makes KafkaIO run natively inside Flink; other
        # runners (Dataflow) use Beam's default expansion service, fetched by Beam itself.
        jar = beam_expansion_service_jar(stack_config(settings)) if runner == "FlinkRunner" \
            else None
        messages = pipeline | "ReadRaw" >> ReadFromKafkaJava(
            settings.kafka_java_properties(), settings.raw_topic, settings.consumer_group, jar)
    else:
        messages = pipeline | "ReadRaw" >> ReadFromKafkaPython(
            settings.kafka_client_kwargs(), settings.raw_topic, settings.consumer_group)
    _ = messages | "EnrichAndIndex" >> EnrichAndIndex(
        settings, batch_size=args.batch_size, outage_timeout_s=args.es_outage_timeout)


def watch_consumer_lag(settings: Settings, every_s: float = 15.0) -> None:
    """Keep the consumer-lag gauge current from a daemon thread."""
    import threading
    import time

    from pipeline.kafka.lag import consumer_lag
    from pipeline.observability import CONSUMER_LAG

    def loop() -> None:
        while True:
            try:
                lag = consumer_lag(settings.kafka_client_kwargs(), settings.consumer_group,
                                   settings.raw_topic)
                if lag is not None:
                    CONSUMER_LAG.set(lag)
            except Exception:  # a metrics probe must never take the job down
                log.warning("consumer lag probe failed", exc_info=True)
            time.sleep(every_s)

    threading.Thread(target=loop, name="consumer-lag", daemon=True).start()


def run(argv: Sequence[str] | None = None, settings: Settings | None = None) -> Any:
    settings = settings or get_settings()
    args, beam_args = parse_args(argv, settings)
    settings = settings.with_overrides(
        kafka_bootstrap=args.kafka_bootstrap, raw_topic=args.topic,
        dead_letter_topic=args.dead_letter_topic, consumer_group=args.consumer_group,
        es_url=args.es_url, es_index=args.es_index, dead_letter_index=args.dead_letter_index,
    )
    if args.metrics_port:
        serve_metrics(args.metrics_port)
        watch_consumer_lag(settings)
    # Topics and the index template must exist before KafkaIO lists partitions and the
    # first bulk write creates the index; provisioning is idempotent.
    provision(settings)
    if args.source == "kafka":
        if args.sdk_workers > 1 and runner_of(beam_args) == "FlinkRunner":
            beam_args = with_worker_pool(beam_args, args.sdk_workers)
        beam_args = flink_local_defaults(settings, beam_args, args.batch_size)
        if runner_of(beam_args) == "FlinkRunner":
            beam_args = use_job_temp_dir(settings, beam_args)
    options = PipelineOptions(beam_args)
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, settings, args, runner_of(beam_args))
