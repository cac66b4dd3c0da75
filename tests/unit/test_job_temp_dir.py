"""The job's temporary directory: leftovers of dead job processes are removed at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.beam.job import JOB_TMP, job_temp_dir


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_job_leftovers_are_removed_and_a_running_one_kept(tmp_path: Path) -> None:
    root = tmp_path / JOB_TMP
    dead = root / f"job-{dead_pid()}" / "beam-temp123" / "artifacts"
    dead.mkdir(parents=True)
    (dead / "job.jar").write_bytes(b"x" * 1024)
    alive = root / f"job-{os.getppid()}"
    alive.mkdir()
    other = root / "notes"  # not ours: left alone
    other.mkdir()

    mine = job_temp_dir(tmp_path)

    assert mine == root / f"job-{os.getpid()}" and mine.is_dir()
    assert not dead.parent.parent.exists()
    assert alive.is_dir() and other.is_dir()


def test_the_same_process_gets_the_same_directory(tmp_path: Path) -> None:
    assert job_temp_dir(tmp_path, pid=os.getpid()) == job_temp_dir(tmp_path)
