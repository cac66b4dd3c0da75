"""A single-node Apache Kafka (KRaft broker + controller) run from Maven jars."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import uuid
from pathlib import Path
from string import Template

from pipeline.stack import process
from pipeline.stack.config import LOOPBACK, StackConfig
from pipeline.stack.errors import StackError
from pipeline.stack.maven import kafka_libs_dir
from pipeline.stack.tools import require_java

NAME = "kafka"
_API_VERSIONS_KEY = 18


def home(cfg: StackConfig) -> Path:
    return cfg.state_dir / NAME


def data_dir(cfg: StackConfig) -> Path:
    return home(cfg) / "data"


def logs_dir(cfg: StackConfig) -> Path:
    return home(cfg) / "logs"


def pid_file(cfg: StackConfig) -> Path:
    return cfg.state_dir / "run" / "kafka.pid"


def console_log(cfg: StackConfig) -> Path:
    return logs_dir(cfg) / "console.log"


def server_log(cfg: StackConfig) -> Path:
    return logs_dir(cfg) / "server.log"


def marker(cfg: StackConfig) -> str:
    """Text in the broker's command line that ties the process to this state dir."""
    return str(home(cfg) / "server.properties")


def render_server_properties(cfg: StackConfig, template: str) -> str:
    return Template(template).substitute(
        broker_port=cfg.kafka_port,
        controller_port=cfg.kafka_controller_port,
        log_dirs=data_dir(cfg),
        num_partitions=cfg.kafka_partitions,
    )


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's Uuid.randomUuid() makes it: 22 url-safe base64 chars.

    Like Kafka, reject ids starting with '-', which command-line parsers take for a flag.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def cluster_id(cfg: StackConfig) -> str:
    """The cluster id of this state dir, created on first use and then kept."""
    path = home(cfg) / "cluster.id"
    if not path.is_file():
        path.write_text(new_cluster_id() + "\n")
    return path.read_text().strip()


def java_argv(cfg: StackConfig, main_class: str, *args: str) -> list[str]:
    java = require_java(cfg.java17_home, 17, "Kafka")
    return [
        str(java),
        f"-Xmx{cfg.kafka_heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={logs_dir(cfg)}",
        f"-Dlog4j2.configurationFile={cfg.deploy_dir / 'kafka' / 'log4j2.properties'}",
        "-cp",
        f"{kafka_libs_dir(cfg)}/*",
        main_class,
        *args,
    ]


def write_config(cfg: StackConfig) -> Path:
    for directory in (data_dir(cfg), logs_dir(cfg)):
        directory.mkdir(parents=True, exist_ok=True)
    template = (cfg.deploy_dir / "kafka" / "server.properties.template").read_text()
    target = home(cfg) / "server.properties"
    target.write_text(render_server_properties(cfg, template))
    return target


def format_storage_once(cfg: StackConfig, properties: Path) -> None:
    """KRaft needs its log dir formatted with a cluster id before the first start."""
    if (data_dir(cfg) / "meta.properties").is_file():
        return
    argv = java_argv(
        cfg, "kafka.tools.StorageTool", "format", "-t", cluster_id(cfg), "-c", str(properties)
    )
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise StackError(
            "formatting Kafka storage failed:\n" + (result.stdout + result.stderr)[-3000:]
        )


def start(cfg: StackConfig) -> int:
    properties = write_config(cfg)
    format_storage_once(cfg, properties)
    argv = java_argv(cfg, "kafka.Kafka", str(properties))
    pid = process.spawn(argv, log_file=console_log(cfg), env=os.environ, cwd=home(cfg))
    pid_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    pid_file(cfg).write_text(f"{pid}\n")
    return pid


def running_pid(cfg: StackConfig) -> int | None:
    return process.owned_pid(pid_file(cfg), marker(cfg))


def api_versions_request(correlation_id: int, client_id: str = "newspipe-stack") -> bytes:
    """An ApiVersions v0 request frame: the one request every broker must answer."""
    client = client_id.encode()
    body = struct.pack(">hhih", _API_VERSIONS_KEY, 0, correlation_id, len(client)) + client
    return struct.pack(">i", len(body)) + body


def parse_response_correlation_id(header: bytes) -> int:
    """Correlation id from the first 8 bytes of a response (size, correlation id)."""
    _size, correlation_id = struct.unpack(">ii", header[:8])
    return int(correlation_id)


def answers_protocol(cfg: StackConfig, timeout_s: float = 2.0) -> bool:
    """True once the broker serves Kafka requests, not merely accepts TCP connections.

    The broker only enables request processing at the end of its startup, so an answer
    to ApiVersions means producers and admin clients can connect.
    """
    try:
        with socket.create_connection((LOOPBACK, cfg.kafka_port), timeout=timeout_s) as sock:
            sock.sendall(api_versions_request(correlation_id=7))
            header = _recv_exactly(sock, 8)
    except OSError:
        return False
    return header is not None and parse_response_correlation_id(header) == 7


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
