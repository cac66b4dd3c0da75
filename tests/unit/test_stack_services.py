"""stop_service / start_service: one service of a stack, found by its pid file only."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.stack import elasticsearch, kafka, manager, process
from pipeline.stack.config import StackConfig
from pipeline.stack.errors import StackError


@pytest.fixture
def cfg(tmp_path: Path) -> StackConfig:
    return StackConfig(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache",
                       kafka_port=19092, kafka_controller_port=19093,
                       es_port=19200, es_transport_port=19300)


def _fake_service(cfg: StackConfig, pid_file: Path, marker: str, *,
                  ignore_term: bool = False) -> int:
    """A detached shell whose command line carries the service's marker, as `up` leaves it."""
    trap = "trap '' TERM; " if ignore_term else ""
    pid = process.spawn(["sh", "-c", f"{trap}sleep 60 & wait # {marker}"],
                        log_file=cfg.state_dir / f"{pid_file.stem}.log", env=os.environ,
                        cwd=cfg.state_dir)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid}\n")
    deadline = time.monotonic() + 5
    while len(process.group_members(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


@pytest.fixture
def fakes(cfg: StackConfig) -> Iterator[dict[str, int]]:
    cfg.state_dir.mkdir(parents=True)
    pids = {"kafka": _fake_service(cfg, kafka.pid_file(cfg), kafka.marker(cfg)),
            "elasticsearch": _fake_service(cfg, elasticsearch.pid_file(cfg),
                                           elasticsearch.marker(cfg))}
    yield pids
    for pid in pids.values():
        process.stop_group(pid, timeout_s=1)


def test_stopping_one_service_leaves_the_other_running(cfg: StackConfig,
                                                       fakes: dict[str, int]) -> None:
    assert manager.stop_service(cfg, "elasticsearch", progress=lambda _: None)

    assert process.group_members(fakes["elasticsearch"]) == []
    assert not elasticsearch.pid_file(cfg).exists()
    assert kafka.running_pid(cfg) == fakes["kafka"]
    assert [s.running for s in manager.status(cfg)] == [True, False]


def test_hard_stop_kills_without_waiting_for_a_clean_shutdown(cfg: StackConfig) -> None:
    cfg.state_dir.mkdir(parents=True)
    # A service that ignores SIGTERM would hold a soft stop for 30 s; SIGKILL is immediate.
    pid = _fake_service(cfg, kafka.pid_file(cfg), kafka.marker(cfg), ignore_term=True)
    started = time.monotonic()

    assert manager.stop_service(cfg, "kafka", hard=True, progress=lambda _: None)

    assert time.monotonic() - started < 5
    assert process.group_members(pid) == []


def test_stopping_a_stopped_service_is_a_no_op(cfg: StackConfig) -> None:
    assert not manager.stop_service(cfg, "kafka", progress=lambda _: None)
    assert not manager.stop_service(cfg, "elasticsearch", hard=True, progress=lambda _: None)


def test_a_process_not_ours_is_never_signalled(cfg: StackConfig) -> None:
    # A pid file pointing at a live process without this stack's marker (a recycled pid).
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        kafka.pid_file(cfg).parent.mkdir(parents=True, exist_ok=True)
        kafka.pid_file(cfg).write_text(f"{stranger.pid}\n")

        assert not manager.stop_service(cfg, "kafka", hard=True, progress=lambda _: None)
        assert stranger.poll() is None
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()


def test_unknown_service_is_a_clear_error(cfg: StackConfig) -> None:
    with pytest.raises(StackError, match="unknown service 'zookeeper'.*kafka, elasticsearch"):
        manager.stop_service(cfg, "zookeeper")
    with pytest.raises(StackError, match="unknown service"):
        manager.start_service(cfg, "zookeeper")


def _status(name: str, healthy: bool, pid: int | None) -> manager.ServiceStatus:
    return manager.ServiceStatus(name=name, running=pid is not None, healthy=healthy, pid=pid,
                                 port=0, endpoint="", version="", health="ok", log=Path("x"))


def test_start_service_starts_only_that_service_and_waits_until_healthy(
        cfg: StackConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    probes = iter([False, False, True])  # unhealthy twice, then healthy
    # Just after the spawn the launcher is not recognisable as ours yet (ES execs java).
    unrecognised = iter([True, True])

    def fake(service: manager._Service) -> manager._Service:
        def start(_cfg: StackConfig) -> int:
            started.append(service.name)
            return os.getpid()

        return dataclasses.replace(
            service, port=lambda _cfg: 1, start=start,
            running_pid=lambda _cfg: (os.getpid() if service.name in started
                                      and not next(unrecognised, False) else None),
            status=lambda _cfg, pid: _status(service.name, next(probes), pid))

    monkeypatch.setattr(manager, "_SERVICES", tuple(fake(s) for s in manager._SERVICES))
    monkeypatch.setattr(manager.time, "sleep", lambda _s: None)

    current = manager.start_service(cfg, "elasticsearch", progress=lambda _: None)

    assert started == ["elasticsearch"]
    assert current.healthy and current.pid == os.getpid()
