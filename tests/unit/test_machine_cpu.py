"""The benchmark's CPU accounting by role, on canned /proc text and snapshots."""

from __future__ import annotations

import pytest

from tests.bench.machine_cpu import (
    ELASTICSEARCH,
    FLINK,
    IDLE,
    JOB_PYTHON,
    KAFKA,
    OTHER,
    STEAL,
    TICKS_PER_S,
    Snapshot,
    cores_by_role,
    parse_machine,
    parse_stat,
    role_of,
)


def test_stat_line_with_spaces_and_parentheses_in_the_command_name() -> None:
    # pid (comm) state ppid pgrp session ... field 14 utime, 15 stime
    fields = ["S", "1", "4242", "4242"] + ["0"] * 7 + [str(3 * TICKS_PER_S), str(TICKS_PER_S)]
    text = "4243 (python (sdk) 2) " + " ".join(fields + ["0"] * 30)
    assert parse_stat(text) == (4242, pytest.approx(4.0))


def test_machine_line_counts_busy_time_and_steal_apart_from_idle() -> None:
    t = TICKS_PER_S
    text = f"cpu  {10 * t} {t} {2 * t} {50 * t} {3 * t} 0 {t} {2 * t} 0 0\ncpu0 1 2 3\n"
    busy, steal = parse_machine(text)
    assert busy == pytest.approx(14.0)  # user + nice + system + softirq; not idle or iowait
    assert steal == pytest.approx(2.0)


@pytest.mark.parametrize(("cmdline", "session", "role"), [
    ("/usr/lib/jvm/x/bin/java -Xms1g org.elasticsearch.bootstrap.Elasticsearch", 1, ELASTICSEARCH),
    ("/usr/lib/jvm/y/bin/java -Xmx512m kafka.Kafka server.properties", 1, KAFKA),
    ("/usr/lib/jvm/y/bin/java -jar beam-flink-job-server.jar", 77, FLINK),
    ("/repo/.venv/bin/python -c from apache_beam.runners.worker import sdk_worker_main", 77,
     JOB_PYTHON),
    ("/repo/.venv/bin/python -m tests.bench.bench_job", 5, OTHER),
])
def test_roles(cmdline: str, session: int, role: str) -> None:
    assert role_of(cmdline, session, job_session=77) == role


def test_cores_by_role_over_ten_seconds_on_two_cores() -> None:
    before = Snapshot(at=100.0, busy_s=1000.0, steal_s=5.0, by_process={
        10: (JOB_PYTHON, 50.0), 11: (JOB_PYTHON, 40.0), 20: (ELASTICSEARCH, 300.0),
        30: (OTHER, 7.0), 99: (FLINK, 3.0)})  # 99 ends before the second snapshot
    after = Snapshot(at=110.0, busy_s=1019.0, steal_s=5.5, by_process={
        10: (JOB_PYTHON, 58.0), 11: (JOB_PYTHON, 48.0), 20: (ELASTICSEARCH, 301.0),
        30: (OTHER, 7.2), 40: (FLINK, 0.5)})  # 40 started in between: counted whole
    cores = cores_by_role(before, after, cores=2)
    assert cores[JOB_PYTHON] == pytest.approx(1.6)
    assert cores[ELASTICSEARCH] == pytest.approx(0.1)
    assert cores[FLINK] == pytest.approx(0.05)
    assert cores[KAFKA] == 0.0
    # busy 1.9 cores: what no named role used (0.15) is "other"; of the 0.1 left of 2 cores,
    # 0.05 the hypervisor took (steal) and 0.05 was idle
    assert cores[OTHER] == pytest.approx(0.15)
    assert cores[STEAL] == pytest.approx(0.05)
    assert cores[IDLE] == pytest.approx(0.05)


def test_a_reused_pid_with_another_role_counts_whole() -> None:
    before = Snapshot(at=0.0, busy_s=10.0, steal_s=0.0, by_process={5: (OTHER, 100.0)})
    after = Snapshot(at=1.0, busy_s=11.0, steal_s=0.0, by_process={5: (JOB_PYTHON, 0.5)})
    assert cores_by_role(before, after, cores=1)[JOB_PYTHON] == pytest.approx(0.5)


def test_without_proc_every_figure_is_zero() -> None:
    empty = Snapshot(at=0.0, busy_s=0.0, steal_s=0.0)
    later = Snapshot(at=5.0, busy_s=0.0, steal_s=0.0)
    assert set(cores_by_role(empty, later, cores=2).values()) == {0.0}
