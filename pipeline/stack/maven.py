"""Fetching Kafka and Elasticsearch from Maven Central with `mvn`.

Maven's own ~/.m2 is the download cache; the cache dir holds what the services run
from, keyed by version, and a `.complete` marker so a half-finished copy is redone.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from pipeline.stack.config import StackConfig
from pipeline.stack.errors import StackError
from pipeline.stack.tools import require_mvn

Progress = Callable[[str], None]

_COMPLETE = ".complete"


def kafka_libs_dir(cfg: StackConfig) -> Path:
    return cfg.cache_dir / f"kafka-{cfg.kafka_version}" / "libs"


def es_zip_path(cfg: StackConfig) -> Path:
    return cfg.cache_dir / "downloads" / f"elasticsearch-{cfg.es_version}.zip"


def is_complete(directory: Path) -> bool:
    return (directory / _COMPLETE).is_file()


def mark_complete(directory: Path) -> None:
    (directory / _COMPLETE).touch()


def run_mvn(pom: Path, goal_args: list[str]) -> None:
    """Run one quiet, non-interactive Maven goal on pom; raise with Maven's output on failure."""
    argv = [str(require_mvn()), "-q", "-B", "-f", str(pom), *goal_args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise StackError(
            f"`{' '.join(argv)}` failed (exit {result.returncode}):\n" + "\n".join(output[-25:])
        )


def fetch_kafka(cfg: StackConfig, progress: Progress) -> Path:
    """Copy the Kafka broker jar and its runtime dependencies into the cache; return the dir."""
    libs = kafka_libs_dir(cfg)
    if is_complete(libs):
        return libs
    progress(f"fetching Kafka {cfg.kafka_version} from Maven Central ...")
    shutil.rmtree(libs, ignore_errors=True)
    run_mvn(
        cfg.deploy_dir / "kafka" / "pom.xml",
        [
            "dependency:copy-dependencies",
            f"-Dkafka.version={cfg.kafka_version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
    )
    mark_complete(libs)
    return libs


def fetch_es_zip(cfg: StackConfig, progress: Progress) -> Path:
    """Copy the Elasticsearch integ-test zip into the cache; return its path."""
    target = es_zip_path(cfg)
    if target.is_file():
        return target
    progress(f"fetching Elasticsearch {cfg.es_version} from Maven Central ...")
    # Copy via a scratch dir so an interrupted fetch never leaves a truncated zip behind.
    scratch = target.parent / f".fetch-es-{cfg.es_version}"
    shutil.rmtree(scratch, ignore_errors=True)
    run_mvn(
        cfg.deploy_dir / "elasticsearch" / "pom.xml",
        [
            "dependency:copy-dependencies",
            f"-Des.version={cfg.es_version}",
            "-DincludeTypes=zip",
            f"-DoutputDirectory={scratch}",
        ],
    )
    fetched = scratch / target.name
    if not fetched.is_file():
        raise StackError(f"Maven finished but {fetched} is missing")
    fetched.replace(target)
    shutil.rmtree(scratch, ignore_errors=True)
    return target


BEAM_JAVA_VERSION = "2.62.0"  # must equal the apache-beam Python pin


def beam_build_dir(cfg: StackConfig) -> Path:
    return cfg.cache_dir / f"beam-java-{BEAM_JAVA_VERSION}"


def beam_flink_job_server_jar(cfg: StackConfig) -> Path:
    return beam_build_dir(cfg) / "target" / f"beam-local-{BEAM_JAVA_VERSION}-flink-job-server.jar"


def beam_expansion_service_jar(cfg: StackConfig) -> Path:
    return beam_build_dir(cfg) / "target" / f"beam-local-{BEAM_JAVA_VERSION}-expansion-service.jar"


def fetch_beam_runner(cfg: StackConfig, progress: Progress) -> None:
    """Assemble the Flink job server and the Kafka expansion service for Beam's Python SDK.

    The shaded jars Beam would download at run time are not served for recent versions, so
    deploy/local/beam/pom.xml builds launcher jars over the unshaded modules. The build runs
    in the cache dir, keeping ``target/`` out of the repository.
    """
    build = beam_build_dir(cfg)
    if is_complete(build):
        return
    progress(f"fetching Beam {BEAM_JAVA_VERSION} Flink runner + Kafka IO from Maven Central ...")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    shutil.copy(cfg.deploy_dir / "beam" / "pom.xml", build / "pom.xml")
    run_mvn(build / "pom.xml", ["package"])
    for jar in (beam_flink_job_server_jar(cfg), beam_expansion_service_jar(cfg)):
        if not jar.is_file():
            raise StackError(f"Maven finished but {jar} is missing")
    mark_complete(build)
