"""Detached service processes: start, identify by pid file, stop by pid, read logs.

Processes are only ever found through the pid files written when they were started,
never by name, and a pid is trusted only while its command line still mentions the
marker (the state dir) it was started with, so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account to drop to before exec (used when we are root)."""

    uid: int
    gid: int


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _reap(pid: int) -> None:
    # A child of this very Python process stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int) -> bool:
    """True for a running process; zombies count as gone."""
    _reap(pid)
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def owned_pid(pid_file: Path, marker: str) -> int | None:
    """The pid recorded in pid_file if that process is alive and still ours."""
    pid = read_pid(pid_file)
    if pid is None or not is_alive(pid) or marker not in cmdline(pid):
        return None
    return pid


def group_members(pgid: int) -> list[int]:
    """Live processes in a process group (the group a service was started as)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        # fields: state, ppid, pgrp, ...
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    env: Mapping[str, str],
    cwd: Path,
    run_as: RunAs | None = None,
) -> int:
    """Start argv detached (own session, so it outlives us) and return its pid.

    The pid is also the process group id, which `stop_group` uses to reach any
    children the service forks (Elasticsearch's launcher forks the server JVM).
    """
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
    return proc.pid


def stop_group(pgid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM the service's process group, wait, then SIGKILL whatever is left."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            _reap(pgid)
            if not group_members(pgid):
                return
            time.sleep(0.2)


def port_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log, for error messages; empty if there is no log yet."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
