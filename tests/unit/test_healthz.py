"""The metrics port's /healthz: ok while the loop makes progress, 503 once it stalls."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from pipeline.observability import HEARTBEAT, Heartbeat, serve_metrics


def test_heartbeat_fails_only_after_its_limit() -> None:
    beat = Heartbeat()
    assert beat.healthy()[0]  # no limit: always healthy
    beat.max_age_s = 60.0
    assert beat.healthy()[0]
    beat._last -= 61.0  # as if the last progress was 61 s ago
    ok, message = beat.healthy()
    assert not ok and "stalled: no progress for 61s" in message
    beat.beat()
    assert beat.healthy()[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_port_serves_metrics_and_healthz() -> None:
    port = _free_port()
    server = serve_metrics(port, stall_after_s=30.0, address="127.0.0.1")
    assert server is not None
    base = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
            assert answer.status == 200 and answer.read().startswith(b"ok")
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
            assert b"newspipe_polls_total" in answer.read()
        HEARTBEAT._last -= 31.0
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert failed.value.code == 503
    finally:
        HEARTBEAT.max_age_s = None
        HEARTBEAT.beat()
        server.shutdown()
        server.server_close()
