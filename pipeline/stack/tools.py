"""Locating the external programs the stack needs: a JDK per service, and Maven."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pipeline.stack.errors import StackError

_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def parse_java_major(version_output: str) -> int | None:
    """Major version from `java -version` output (17, 21, 25; 8 for "1.8.0_...")."""
    match = _VERSION_RE.search(version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_major(java: Path) -> int:
    out = subprocess.run(
        [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    major = parse_java_major(out.stderr + out.stdout)
    if major is None:
        raise StackError(f"cannot tell the version of {java}: {out.stderr.strip()[:200]}")
    return major


def require_java(java_home: Path, min_major: int, purpose: str) -> Path:
    """The `java` binary under java_home, checked to be at least `min_major`."""
    java = java_home / "bin" / "java"
    if not java.is_file():
        raise StackError(
            f"{purpose} needs Java {min_major}+, but {java} does not exist. Install a JDK "
            f"(Debian: apt-get install openjdk-{min_major}-jdk-headless) and point "
            f"StackConfig.java17_home / java21_home at it."
        )
    major = java_major(java)
    if major < min_major:
        raise StackError(f"{purpose} needs Java {min_major}+, but {java} is Java {major}.")
    return java


def require_mvn() -> Path:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (`mvn`) is not on PATH; it fetches Kafka and Elasticsearch from Maven "
            "Central. Debian: apt-get install maven."
        )
    return Path(mvn)
