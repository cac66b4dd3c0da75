"""The job's DoFns route every failure to a dead letter with its stage and reason, and
keep the rest of the batch (the stages' models and clients are replaced by stand-ins)."""

from __future__ import annotations

from typing import Any

from apache_beam.pvalue import TaggedOutput

from pipeline.beam.job import flink_local_defaults
from pipeline.beam.messages import KafkaMessage
from pipeline.beam.transforms import DEAD, DecodeArticle, EnrichArticles
from pipeline.kafka.dead_letter import DeadLetter
from pipeline.models import Article
from pipeline.settings import Settings


def message_for(article: Article, offset: int) -> KafkaMessage:
    return KafkaMessage("raw", 0, offset, article.key, article.to_json_bytes())


def article(n: int, body: str = "Text of the story.") -> Article:
    return Article.create(url=f"https://example.org/story-{n}", title=f"Story {n}",
                          feed_url="https://example.org/feed.xml", content=body)


def split(outputs: list[Any]) -> tuple[list[Any], list[DeadLetter]]:
    dead = [o.value for o in outputs if isinstance(o, TaggedOutput) and o.tag == DEAD]
    return [o for o in outputs if not isinstance(o, TaggedOutput)], dead


class FakeEnrichment:
    def __init__(self, text: str):
        self.text = text

    def to_dict(self) -> dict[str, Any]:
        return {"clean_text": self.text, "language": "en"}


class EnricherFailingOn:
    """Fails any batch that holds a body containing ``poison``."""

    def __init__(self, poison: str):
        self.poison = poison
        self.batches: list[int] = []

    def enrich_many(self, items: list[tuple[str, str]]) -> list[FakeEnrichment]:
        self.batches.append(len(items))
        if any(self.poison in body for _, body in items):
            raise ValueError(f"cannot enrich {self.poison}")
        return [FakeEnrichment(body) for _, body in items]


def test_undecodable_message_is_a_decode_dead_letter() -> None:
    broken = KafkaMessage("raw", 3, 42, b"k", b'{"title": "no url"')
    [letter] = [o.value for o in DecodeArticle().process(broken)]
    assert (letter.stage, letter.source_partition, letter.source_offset) == ("decode", 3, 42)
    assert letter.original_payload() == broken.value and letter.reason


def test_enrich_failure_dead_letters_only_the_failing_article() -> None:
    good, bad, other = article(1), article(2, "poison pill"), article(3)
    batch = [(message_for(a, i), a) for i, a in enumerate((good, bad, other))]
    fn = EnrichArticles()
    fn._enricher = EnricherFailingOn("poison")  # type: ignore[assignment]
    docs, dead = split(list(fn.process(batch)))
    assert [doc["id"] for _, doc in docs] == [good.id, other.id]
    [letter] = dead
    assert letter.stage == "enrich" and letter.error_type == "ValueError"
    assert "cannot enrich poison" in letter.reason
    assert letter.key == bad.id and letter.source_offset == 1
    assert letter.original_payload() == bad.to_json_bytes()
    assert fn._enricher.batches == [3, 1, 1, 1]  # type: ignore[attr-defined]


def test_enrich_runs_a_whole_batch_in_one_call() -> None:
    batch = [(message_for(a, i), a) for i, a in enumerate(article(n) for n in range(5))]
    fn = EnrichArticles()
    fn._enricher = EnricherFailingOn("nothing fails")  # type: ignore[assignment]
    docs, dead = split(list(fn.process(batch)))
    assert len(docs) == 5 and not dead and fn._enricher.batches == [5]  # type: ignore[attr-defined]


def test_flink_defaults_finish_bundles_before_the_checkpoint_barrier() -> None:
    args = flink_local_defaults(Settings(), [], batch_size=16)
    assert "--finish_bundle_before_checkpointing" in args
    assert "--max_bundle_size=64" in args and "--checkpointing_interval=5000" in args
    given = flink_local_defaults(Settings(), ["--max_bundle_size=1000"], batch_size=16)
    assert "--max_bundle_size=1000" in given and "--max_bundle_size=64" not in given
