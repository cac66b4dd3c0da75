"""fetch / up / down / status for the whole local stack (Kafka + Elasticsearch)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.stack import elasticsearch, kafka, process
from pipeline.stack.config import LOOPBACK, StackConfig, es_url, kafka_bootstrap
from pipeline.stack.errors import StackError
from pipeline.stack.maven import Progress, fetch_beam_runner, fetch_es_zip, fetch_kafka
from pipeline.stack.tools import require_java


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool  # a process started by `up` for this state dir is alive
    healthy: bool  # it answers: Kafka serves requests / ES cluster health is yellow or green
    pid: int | None
    port: int
    endpoint: str
    version: str
    health: str  # "ok", "green", "yellow", "red", "starting" or "stopped"
    log: Path

    @property
    def state(self) -> str:
        if not self.running:
            return "stopped"
        return "healthy" if self.healthy else "unhealthy"

    def row(self) -> tuple[str, str, str, str, str]:
        """(service, state, pid, address, detail) for a status table."""
        pid = str(self.pid) if self.pid is not None else "-"
        detail = f"{self.version}, health {self.health}"
        return (self.name, self.state, pid, self.endpoint, detail)


@dataclass(frozen=True)
class StackStatus:
    services: tuple[ServiceStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(service.healthy for service in self.services)


@dataclass(frozen=True)
class _Service:
    """What the generic up/down/status loops need to know about one service."""

    name: str
    port: Callable[[StackConfig], int]
    start: Callable[[StackConfig], int]
    running_pid: Callable[[StackConfig], int | None]
    pid_file: Callable[[StackConfig], Path]
    status: Callable[[StackConfig, int | None], ServiceStatus]
    logs: Callable[[StackConfig], list[Path]]


def _kafka_status(cfg: StackConfig, pid: int | None) -> ServiceStatus:
    healthy = pid is not None and kafka.answers_protocol(cfg)
    return ServiceStatus(
        name=kafka.NAME,
        running=pid is not None,
        healthy=healthy,
        pid=pid,
        port=cfg.kafka_port,
        endpoint=kafka_bootstrap(cfg),
        version=cfg.kafka_version,
        health="ok" if healthy else ("starting" if pid else "stopped"),
        log=kafka.server_log(cfg),
    )


def _es_status(cfg: StackConfig, pid: int | None) -> ServiceStatus:
    health = elasticsearch.cluster_health(cfg) if pid is not None else None
    healthy = health in ("green", "yellow")
    version = (elasticsearch.server_version(cfg) if healthy else None) or cfg.es_version
    lay = elasticsearch.layout(cfg)
    return ServiceStatus(
        name=elasticsearch.NAME,
        running=pid is not None,
        healthy=healthy,
        pid=pid,
        port=cfg.es_port,
        endpoint=es_url(cfg),
        version=version,
        health=health or ("starting" if pid else "stopped"),
        log=lay.logs_dir / "newspipe-local.log",
    )


_SERVICES = (
    _Service(
        name=kafka.NAME,
        port=lambda cfg: cfg.kafka_port,
        start=kafka.start,
        running_pid=kafka.running_pid,
        pid_file=kafka.pid_file,
        status=_kafka_status,
        logs=lambda cfg: [kafka.server_log(cfg), kafka.console_log(cfg)],
    ),
    _Service(
        name=elasticsearch.NAME,
        port=lambda cfg: cfg.es_port,
        start=elasticsearch.start,
        running_pid=elasticsearch.running_pid,
        pid_file=elasticsearch.pid_file,
        status=_es_status,
        logs=lambda cfg: [elasticsearch.layout(cfg).console_log],
    ),
)


def fetch(cfg: StackConfig, progress: Progress = print) -> None:
    """Download and unpack both services ahead of time (`up` does it when needed)."""
    fetch_kafka(cfg, progress)
    fetch_es_zip(cfg, progress)
    elasticsearch.install(cfg)
    fetch_beam_runner(cfg, progress)


def status(cfg: StackConfig) -> list[ServiceStatus]:
    return [service.status(cfg, service.running_pid(cfg)) for service in _SERVICES]


def up(cfg: StackConfig, progress: Progress = print) -> StackStatus:
    """Start whatever is not running yet and wait until every service is healthy.

    Services already started by an earlier `up` for this state dir are reused. Both are
    launched before waiting on either, so their JVM start-ups overlap.
    """
    require_java(cfg.java17_home, 17, "Kafka")
    require_java(cfg.java21_home, 21, "Elasticsearch 9")
    fetch(cfg, progress)
    started = {s.name for s in _SERVICES if _ensure_started(cfg, s, progress)}
    begun = time.monotonic()
    statuses = []
    for service in _SERVICES:
        current = _wait_healthy(cfg, service, begun + cfg.start_timeout_s)
        verb = f"up after {time.monotonic() - begun:.1f} s" if current.name in started else "reused"
        progress(
            f"{current.name} {current.version} {verb}: {current.endpoint} "
            f"(pid {current.pid}, {current.health})"
        )
        statuses.append(current)
    return StackStatus(tuple(statuses))


def _ensure_started(cfg: StackConfig, service: _Service, progress: Progress) -> bool:
    """Start the service unless our own process is already running; True if started."""
    if service.running_pid(cfg) is not None:
        return False
    port = service.port(cfg)
    if process.port_open(LOOPBACK, port):
        raise StackError(
            f"cannot start {service.name}: port {port} is already taken by a process this "
            f"stack did not start (pid file {service.pid_file(cfg)}). Stop it or choose "
            f"another port."
        )
    progress(f"starting {service.name} ...")
    service.start(cfg)
    return True


def _wait_healthy(cfg: StackConfig, service: _Service, deadline: float) -> ServiceStatus:
    while True:
        pid = service.running_pid(cfg)
        if pid is None:
            raise StackError(f"{service.name} exited during start-up.\n{_log_tails(cfg, service)}")
        current = service.status(cfg, pid)
        if current.healthy:
            return current
        if time.monotonic() > deadline:
            raise StackError(
                f"{service.name} did not become healthy within {cfg.start_timeout_s:.0f} s "
                f"(pid {pid} still running, health {current.health}).\n"
                f"{_log_tails(cfg, service)}"
            )
        time.sleep(0.5)


def _log_tails(cfg: StackConfig, service: _Service) -> str:
    parts = []
    for log in service.logs(cfg):
        text = process.tail(log)
        if text:
            parts.append(f"--- last lines of {log} ---\n{text}")
    return "\n".join(parts) or f"(no log written; see {service.logs(cfg)[0].parent})"


def down(cfg: StackConfig, progress: Progress = print) -> None:
    """Stop the processes `up` started for this state dir (by recorded pid, never by name)."""
    for service in reversed(_SERVICES):
        pid = service.running_pid(cfg)
        if pid is not None:
            progress(f"stopping {service.name} (pid {pid}) ...")
            process.stop_group(pid)
            if process.group_members(pid):
                raise StackError(f"{service.name} (process group {pid}) survived SIGKILL")
        service.pid_file(cfg).unlink(missing_ok=True)


# --- one service at a time (reliability suite: fault injection) ----------------------

SERVICE_NAMES = tuple(service.name for service in _SERVICES)


def _service(name: str) -> _Service:
    for service in _SERVICES:
        if service.name == name:
            return service
    raise StackError(f"unknown service {name!r}; the stack runs {', '.join(SERVICE_NAMES)}")


def stop_service(cfg: StackConfig, name: str, *, hard: bool = False,
                 progress: Progress = print) -> bool:
    """Stop one service of this stack, the other keeps running; False if it was not running.

    ``hard``: SIGKILL at once (a crash, no clean shutdown) instead of SIGTERM first.
    Like `down`, only the process recorded in this state dir's pid file is signalled.
    """
    service = _service(name)
    pid = service.running_pid(cfg)
    if pid is not None:
        progress(f"{'killing' if hard else 'stopping'} {service.name} (pid {pid}) ...")
        if hard:
            _kill_group(pid)
        else:
            process.stop_group(pid)
        if process.group_members(pid):
            raise StackError(f"{service.name} (process group {pid}) survived SIGKILL")
    service.pid_file(cfg).unlink(missing_ok=True)
    return pid is not None


def _kill_group(pgid: int, timeout_s: float = 10.0) -> None:
    """SIGKILL only: no shutdown hook runs, as when the machine or the JVM dies."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while process.group_members(pgid) and time.monotonic() < deadline:
        process.is_alive(pgid)  # reaps the leader if it is our own child
        time.sleep(0.1)


def start_service(cfg: StackConfig, name: str, *, progress: Progress = print) -> ServiceStatus:
    """Start one service of this stack (reused if running) and wait until it is healthy."""
    service = _service(name)
    deadline = time.monotonic() + cfg.start_timeout_s
    if _ensure_started(cfg, service, progress):
        _wait_identifiable(cfg, service, min(deadline, time.monotonic() + 60))
    return _wait_healthy(cfg, service, deadline)


def _wait_identifiable(cfg: StackConfig, service: _Service, deadline: float) -> None:
    """Right after the spawn, Elasticsearch's launcher is still a shell script whose command
    line lacks the marker (it execs java a moment later): until then the pid looks foreign,
    and `_wait_healthy` would take the service for dead."""
    while service.running_pid(cfg) is None and time.monotonic() < deadline:
        time.sleep(0.2)
