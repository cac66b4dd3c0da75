"""Pure logic of the local stack: config rendering, addresses, ids, pid handling.

Nothing here starts Java or Maven; the process tests only use `sleep`.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pipeline.stack import elasticsearch, kafka, manager, process
from pipeline.stack.config import (
    SERVICE_HOME,
    StackConfig,
    bootstrap_port,
    config_from_settings,
    es_url,
    kafka_bootstrap,
    url_port,
)
from pipeline.stack.errors import StackError
from pipeline.stack.tools import parse_java_major, require_java

DEPLOY = StackConfig().deploy_dir


@pytest.fixture
def cfg(tmp_path: Path) -> StackConfig:
    return StackConfig(
        state_dir=tmp_path / "state",
        cache_dir=tmp_path / "cache",
        kafka_port=19092,
        kafka_controller_port=19093,
        es_port=19200,
        es_transport_port=19300,
    )


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


# --- Kafka config ------------------------------------------------------------------


def test_server_properties_use_configured_ports_and_dirs(cfg: StackConfig) -> None:
    template = (DEPLOY / "kafka" / "server.properties.template").read_text()
    props = _properties(kafka.render_server_properties(cfg, template))

    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str(kafka.data_dir(cfg))
    assert props["num.partitions"] == "3"


def test_server_properties_are_single_node_safe(cfg: StackConfig) -> None:
    template = (DEPLOY / "kafka" / "server.properties.template").read_text()
    props = _properties(kafka.render_server_properties(cfg, template))

    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "min.insync.replicas",
        "default.replication.factor",
    ):
        assert props[key] == "1", key
    assert props["process.roles"] == "broker,controller"
    assert "$" not in "".join(props.values())


def test_cluster_id_looks_like_kafkas_uuid() -> None:
    ids = {kafka.new_cluster_id() for _ in range(200)}

    assert len(ids) == 200
    for cluster in ids:
        assert len(cluster) == 22 and not cluster.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster + "==")) == 16


def test_cluster_id_is_created_once_per_state_dir(cfg: StackConfig) -> None:
    kafka.home(cfg).mkdir(parents=True)

    assert kafka.cluster_id(cfg) == kafka.cluster_id(cfg)


def test_java_argv_runs_the_broker_from_the_cached_jars(cfg: StackConfig) -> None:
    argv = kafka.java_argv(cfg, "kafka.Kafka", "server.properties")

    assert argv[0] == str(cfg.java17_home / "bin" / "java")
    assert "-Xmx512m" in argv
    assert argv[argv.index("-cp") + 1] == f"{cfg.cache_dir}/kafka-{cfg.kafka_version}/libs/*"
    assert argv[-2:] == ["kafka.Kafka", "server.properties"]


# --- Kafka wire check --------------------------------------------------------------


def test_api_versions_request_frame() -> None:
    frame = kafka.api_versions_request(correlation_id=7, client_id="abc")

    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert frame[4:6] == (18).to_bytes(2, "big")  # ApiVersions
    assert frame[6:8] == (0).to_bytes(2, "big")  # version 0
    assert int.from_bytes(frame[8:12], "big") == 7
    assert frame[12:] == b"\x00\x03abc"


def test_response_correlation_id() -> None:
    header = (10).to_bytes(4, "big") + (7).to_bytes(4, "big")

    assert kafka.parse_response_correlation_id(header) == 7


def _fake_broker(reply_correlation_id: int) -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall((6).to_bytes(4, "big") + reply_correlation_id.to_bytes(4, "big"))

    threading.Thread(target=answer, daemon=True).start()
    return server, server.getsockname()[1]


def test_answers_protocol_needs_a_matching_kafka_reply(cfg: StackConfig) -> None:
    server, port = _fake_broker(reply_correlation_id=7)
    with server:
        assert kafka.answers_protocol(StackConfig(kafka_port=port))
    server, port = _fake_broker(reply_correlation_id=99)
    with server:
        assert not kafka.answers_protocol(StackConfig(kafka_port=port))


def test_answers_protocol_is_false_on_a_closed_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert not kafka.answers_protocol(StackConfig(kafka_port=port), timeout_s=0.5)


# --- Elasticsearch config ----------------------------------------------------------


def test_elasticsearch_yml_uses_configured_ports_and_dirs(cfg: StackConfig) -> None:
    lay = elasticsearch.Layout(es_home=Path("/opt/es"), base=Path("/srv/es"))
    template = (DEPLOY / "elasticsearch" / "elasticsearch.yml.template").read_text()
    text = elasticsearch.render_config(cfg, lay, template)

    assert "http.port: 19200" in text
    assert "transport.port: 19300" in text
    assert "path.data: /srv/es/data" in text
    assert "path.logs: /srv/es/logs" in text
    assert "network.host: 127.0.0.1" in text
    assert "discovery.type: single-node" in text
    assert "cluster.routing.allocation.disk.threshold_enabled: false" in text
    assert "$" not in text


def test_es_heap_is_fixed(cfg: StackConfig) -> None:
    assert elasticsearch.java_opts(cfg) == "-Xms512m -Xmx512m"


def test_layout_for_a_normal_user(cfg: StackConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elasticsearch, "runs_as_service_user", lambda: False)
    lay = elasticsearch.layout(cfg)

    assert lay.es_home == cfg.cache_dir / f"elasticsearch-{cfg.es_version}"
    assert lay.base == cfg.state_dir / "elasticsearch"


def test_layout_for_root_lives_in_the_service_home(
    cfg: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elasticsearch, "runs_as_service_user", lambda: True)
    lay = elasticsearch.layout(cfg)

    assert lay.es_home == SERVICE_HOME / "dist" / f"elasticsearch-{cfg.es_version}"
    assert lay.base == SERVICE_HOME / "stacks" / elasticsearch.stack_key(cfg.state_dir)


def test_stack_key_is_stable_and_distinct(tmp_path: Path) -> None:
    assert elasticsearch.stack_key(tmp_path / "a") == elasticsearch.stack_key(tmp_path / "a")
    assert elasticsearch.stack_key(tmp_path / "a") != elasticsearch.stack_key(tmp_path / "b")


def test_es_marker_names_this_stacks_config_dir(cfg: StackConfig) -> None:
    assert elasticsearch.marker(cfg).endswith(str(elasticsearch.layout(cfg).config_dir))


# --- addresses ---------------------------------------------------------------------


def test_endpoints(cfg: StackConfig) -> None:
    assert kafka_bootstrap(cfg) == "127.0.0.1:19092"
    assert es_url(cfg) == "http://127.0.0.1:19200"
    assert kafka_bootstrap(StackConfig()) == "127.0.0.1:9092"
    assert es_url(StackConfig()) == "http://127.0.0.1:9200"


@pytest.mark.parametrize(
    ("bootstrap", "port"),
    [("127.0.0.1:9092", 9092), ("localhost:29092,other:1", 29092), (" [::1]:9094 ", 9094)],
)
def test_bootstrap_port(bootstrap: str, port: int) -> None:
    assert bootstrap_port(bootstrap) == port


@pytest.mark.parametrize("bad", ["localhost", "", ":9092", "host:abc"])
def test_bootstrap_port_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        bootstrap_port(bad)


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://127.0.0.1:9200", 9200), ("http://localhost", 80), ("https://es.local/", 443)],
)
def test_url_port(url: str, port: int) -> None:
    assert url_port(url) == port


def test_url_port_rejects_non_http() -> None:
    with pytest.raises(ValueError):
        url_port("127.0.0.1:9200")


class _Settings:
    def __init__(self, tmp: Path, bootstrap: str, url: str) -> None:
        self.state_dir = tmp / "s"
        self.cache_dir = tmp / "c"
        self.kafka_bootstrap = bootstrap
        self.es_url = url


def test_config_from_settings_follows_the_addresses(tmp_path: Path) -> None:
    cfg = config_from_settings(_Settings(tmp_path, "127.0.0.1:29092", "http://127.0.0.1:29200"))

    assert (cfg.state_dir, cfg.cache_dir) == (tmp_path / "s", tmp_path / "c")
    assert (cfg.kafka_port, cfg.kafka_controller_port) == (29092, 29093)
    assert (cfg.es_port, cfg.es_transport_port) == (29200, 29300)


def test_config_from_default_settings_keeps_default_ports(tmp_path: Path) -> None:
    cfg = config_from_settings(_Settings(tmp_path, "127.0.0.1:9092", "http://127.0.0.1:9200"))

    assert (cfg.kafka_port, cfg.kafka_controller_port) == (9092, 9093)
    assert (cfg.es_port, cfg.es_transport_port) == (9200, 9300)


# --- tools -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('openjdk version "25" 2025-09-16 LTS', 25),
        ('openjdk version "21.0.5" 2024-10-15', 21),
        ('java version "1.8.0_392"', 8),
        ("bash: java: command not found", None),
    ],
)
def test_parse_java_major(output: str, major: int | None) -> None:
    assert parse_java_major(output) == major


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="needs Java 21"):
        require_java(tmp_path / "no-jdk", 21, "Elasticsearch 9")


# --- processes ---------------------------------------------------------------------


def test_read_pid(tmp_path: Path) -> None:
    (tmp_path / "ok.pid").write_text("123\n")
    (tmp_path / "bad.pid").write_text("not a pid")

    assert process.read_pid(tmp_path / "ok.pid") == 123
    assert process.read_pid(tmp_path / "bad.pid") is None
    assert process.read_pid(tmp_path / "missing.pid") is None


def test_owned_pid_checks_the_command_line(tmp_path: Path) -> None:
    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    own_cmdline = process.cmdline(os.getpid())

    assert process.owned_pid(pid_file, own_cmdline.split()[0]) == os.getpid()
    assert process.owned_pid(pid_file, "/definitely/not/this/process") is None


def test_zombie_children_count_as_dead() -> None:
    child = subprocess.Popen(["true"])
    time.sleep(0.3)  # exited but not yet waited for: a zombie

    assert not process.is_alive(child.pid)


def test_spawn_detaches_and_stop_group_kills_children(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    # The shell forks a background sleep: stopping must reach it too, as with ES's launcher.
    pid = process.spawn(
        ["sh", "-c", f"echo started; sleep 60 & sleep 61 # {tmp_path}"],
        log_file=log,
        env=os.environ,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 5
    # sh plus both sleeps (a shell that execs its last command leaves two processes)
    while len(process.group_members(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert os.getpgid(pid) == pid != os.getpgid(0)  # own session and process group
    assert len(process.group_members(pid)) >= 2
    process.stop_group(pid, timeout_s=5)
    assert process.group_members(pid) == []
    assert process.tail(log) == "started"


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    assert process.tail(log, lines=2) == "line 98\nline 99"
    assert process.tail(tmp_path / "missing.log") == ""


# --- manager without services ------------------------------------------------------


def test_status_of_a_fresh_state_dir_is_stopped(cfg: StackConfig) -> None:
    statuses = manager.status(cfg)

    assert [s.name for s in statuses] == ["kafka", "elasticsearch"]
    assert all(not s.running and not s.healthy and s.health == "stopped" for s in statuses)
    assert statuses[0].row()[:4] == ("kafka", "stopped", "-", "127.0.0.1:19092")


def test_down_forgets_stale_pid_files(cfg: StackConfig) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid_file in (kafka.pid_file(cfg), elasticsearch.pid_file(cfg)):
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{dead.pid}\n")

    manager.down(cfg, progress=lambda _: None)

    assert not kafka.pid_file(cfg).exists()
    assert not elasticsearch.pid_file(cfg).exists()


def test_up_refuses_a_port_taken_by_a_foreign_process(cfg: StackConfig) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = StackConfig(state_dir=cfg.state_dir, kafka_port=squatter.getsockname()[1])
        kafka_service = manager._SERVICES[0]
        with pytest.raises(StackError, match="already taken"):
            manager._ensure_started(taken, kafka_service, progress=lambda _: None)
