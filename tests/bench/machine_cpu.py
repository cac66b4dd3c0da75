"""Where a machine's CPU goes while a benchmark runs, by role (Linux ``/proc``).

The job benchmark compares the job with raw NER that has every core to itself; the job
shares the same cores with Elasticsearch, Kafka and Flink. Splitting the cores by role
shows how much of the machine the job's Python (the NER) actually had, so the ratio can be
read as "the stack's share" and "our code's efficiency on the cores it got".

    before = snapshot(job_session)
    ...                      # the measured work
    cores = cores_by_role(before, snapshot(job_session))

Roles: the job's Python processes (its session: the launcher and the SDK workers), the
Flink job server JVM (same session), Elasticsearch and Kafka (by their main class), and
``other`` (everything else that was busy: this benchmark, the kernel, other users). Off
Linux, or without ``/proc``, snapshots are empty and every figure is 0.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

JOB_PYTHON = "job Python"
FLINK = "Flink JVM"
ELASTICSEARCH = "Elasticsearch"
KAFKA = "Kafka"
OTHER = "other"
IDLE = "idle"
STEAL = "steal"  # a virtual machine's core wanted to run, the hypervisor ran someone else
ROLES = (JOB_PYTHON, FLINK, ELASTICSEARCH, KAFKA, OTHER)

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.monotonic()
    busy_s: float  # CPU time of all cores, not idle (from /proc/stat)
    steal_s: float  # time the hypervisor gave a core to someone else
    by_process: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> role, s


def parse_stat(text: str) -> tuple[int, float]:
    """``/proc/<pid>/stat`` -> (session id, user + system CPU seconds). The command name
    (field 2) is in parentheses and may itself hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): session is field 6, utime and stime fields 14 and 15.
    return int(fields[3]), (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def parse_machine(text: str) -> tuple[float, float]:
    """The ``cpu`` line of ``/proc/stat`` -> (busy seconds, steal seconds)."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    ticks = dict(zip(names, (int(v) for v in text.split("\n", 1)[0].split()[1:9]),
                     strict=True))
    busy = sum(ticks[n] for n in ("user", "nice", "system", "irq", "softirq"))
    return busy / TICKS_PER_S, ticks["steal"] / TICKS_PER_S


def role_of(cmdline: str, session: int, job_session: int | None) -> str:
    if "org.elasticsearch" in cmdline:
        return ELASTICSEARCH
    if "kafka.Kafka" in cmdline:
        return KAFKA
    if job_session is not None and session == job_session:
        return FLINK if "java" in cmdline.split(" ", 1)[0] else JOB_PYTHON
    return OTHER


def snapshot(job_session: int | None) -> Snapshot:
    """CPU used so far by every process, with its role; ``job_session``: the session id
    of the job (``start_job`` starts it as a session leader, so its pid)."""
    try:
        busy, steal = parse_machine((PROC / "stat").read_text())
    except OSError:
        return Snapshot(at=time.monotonic(), busy_s=0.0, steal_s=0.0)
    by_process: dict[int, tuple[str, float]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            session, cpu_s = parse_stat((entry / "stat").read_text())
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except (OSError, ValueError, IndexError):  # the process ended meanwhile
            continue
        by_process[int(entry.name)] = (role_of(cmdline, session, job_session), cpu_s)
    return Snapshot(at=time.monotonic(), busy_s=busy, steal_s=steal, by_process=by_process)


def cores_by_role(before: Snapshot, after: Snapshot, cores: int | None = None
                  ) -> dict[str, float]:
    """Average cores each role used between two snapshots, plus ``idle`` and ``steal``
    (time a virtual machine's cores were runnable but not run: neither busy nor idle).

    A process that started in between counts whole; one that ended is lost (its last
    CPU time is unknown), which only short-lived helpers do. ``other`` is what the machine
    was busy with beyond the named roles, so roles, other, idle and steal add up to
    ``cores``."""
    seconds = after.at - before.at
    if seconds <= 0 or after.busy_s == 0:
        return {**dict.fromkeys(ROLES, 0.0), IDLE: 0.0, STEAL: 0.0}
    used = dict.fromkeys(ROLES, 0.0)
    for pid, (role, cpu_s) in after.by_process.items():
        earlier = before.by_process.get(pid)
        used[role] += cpu_s - (earlier[1] if earlier and earlier[0] == role else 0.0)
    busy = (after.busy_s - before.busy_s) / seconds
    named = sum(used[r] for r in ROLES if r != OTHER) / seconds
    result = {role: used[role] / seconds for role in ROLES}
    result[OTHER] = max(busy - named, 0.0)
    result[STEAL] = (after.steal_s - before.steal_s) / seconds
    result[IDLE] = max((cores or os.cpu_count() or 1) - busy - result[STEAL], 0.0)
    return result
