"""Retry/rejection logic of the sink against a scripted stand-in for streaming_bulk."""

from typing import Any

import pytest
from elasticsearch import ConnectionError as ESConnectionError

from pipeline.sinks import elasticsearch as sink_module
from pipeline.sinks.backoff import OutageTimeout
from pipeline.sinks.elasticsearch import ElasticsearchSink


def item(doc_id: str, status: int, error: dict[str, Any] | None = None) -> tuple[bool, Any]:
    body: dict[str, Any] = {"_id": doc_id, "status": status}
    if error:
        body["error"] = error
    return status < 300, {"index": body}


class ScriptedBulk:
    """Each call consumes one scripted outcome: an exception or a list of failed items."""

    def __init__(self, script: list[Any]):
        self.script = script
        self.calls: list[list[str]] = []

    def __call__(self, client: Any, actions: Any, **kwargs: Any) -> Any:
        self.calls.append([a["_id"] for a in actions])
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return iter(outcome)


DOCS = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
MAPPING_ERROR = {"type": "document_parsing_exception", "reason": "failed to parse [published_at]"}


def run(monkeypatch: pytest.MonkeyPatch, script: list[Any],
        outage_timeout_s: float = 100.0) -> tuple[list[Any], ScriptedBulk, list[float]]:
    bulk = ScriptedBulk(script)
    monkeypatch.setattr(sink_module.helpers, "streaming_bulk", bulk)
    sleeps: list[float] = []
    sink = ElasticsearchSink(object(), "idx", outage_timeout_s=outage_timeout_s,  # type: ignore[arg-type]
                             sleep=sleeps.append)
    return sink.write(DOCS), bulk, sleeps


def test_all_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    rejections, bulk, sleeps = run(monkeypatch, [[]])
    assert rejections == [] and bulk.calls == [["a", "b", "c"]] and sleeps == []


def test_mapping_conflict_is_rejected_and_rest_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    rejections, bulk, _ = run(monkeypatch, [[item("b", 400, MAPPING_ERROR)]])
    assert [(r.doc_id, r.status) for r in rejections] == [("b", 400)]
    assert "document_parsing_exception" in rejections[0].reason
    assert len(bulk.calls) == 1


def test_back_pressure_is_retried_only_for_the_failed_docs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rejections, bulk, sleeps = run(monkeypatch, [[item("c", 429)], []])
    assert rejections == []
    assert bulk.calls == [["a", "b", "c"], ["c"]]
    assert sleeps == [0.5]


def test_outage_is_waited_out_with_growing_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    down = ESConnectionError("connection refused")
    rejections, bulk, sleeps = run(monkeypatch, [down, down, down, []])
    assert rejections == [] and len(bulk.calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_endless_outage_raises_so_offsets_stay_uncommitted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    down = ESConnectionError("connection refused")
    with pytest.raises(OutageTimeout, match="3 documents not indexed"):
        run(monkeypatch, [down] * 50, outage_timeout_s=0.1)



def test_template_falls_back_to_core_analysis() -> None:
    import json

    from pipeline.sinks.elasticsearch import TEMPLATE_PATH, without_language_analysis

    template = json.loads(TEMPLATE_PATH.read_text())
    adapted = without_language_analysis(template)
    text = json.dumps(adapted)
    assert '"english"' not in text and "lowercase_ascii" not in text
    # keyword matching stays case-insensitive with the built-in (core) normalizer
    surface = adapted["template"]["mappings"]["properties"]["entities"]["properties"][
        "surface_forms"]
    assert surface["normalizer"] == "lowercase"
    assert adapted["template"]["mappings"]["properties"]["body"]["analyzer"] == "standard"
    # The original is untouched: production clusters keep the english analyzer.
    assert template["template"]["mappings"]["properties"]["body"]["analyzer"] == "english"


def test_outage_backoff_doubles_to_its_ceiling_and_gives_up_at_the_deadline() -> None:
    from pipeline.sinks.backoff import OutageBackoff

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    backoff = OutageBackoff(10.0, max_backoff_s=2.0, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(OutageTimeout, match="gave up"):
        for _ in range(20):
            backoff.pause("gave up")
    assert slept == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]  # the next 2 s would pass 10 s
