"""Quality measurement for the enrichment: a labelled set and pure scoring functions.

The labelled set (``tests/data/eval/articles.jsonl``) holds one article per line::

    {"id", "split": "dev"|"test", "language", "title", "text",
     "persons": [...], "organizations": [...], "locations": [...], "topic": "<IPTC label>"}

Entity lists hold canonical names (the conventions of ``seeds/aliases.yaml``). Scoring:

* entities: per type, precision / recall / F1 micro-averaged over the canonical-name
  sets of every article (true positives, false positives and false negatives are summed
  over articles, then P/R/F1 computed once). Names are compared exactly (after trimming).
* topic: top-1 accuracy (best predicted label == gold label) and top-2 hit rate (gold
  label among the two best), on English articles only: the topic lexicon is English-only.
* language: accuracy of the detected ISO 639-1 code, on every article.

Usage::

    articles = load_eval_set(DEFAULT_EVAL_PATH)
    report = evaluate(Enricher.load(), articles, split="dev")
    print(format_report(report))
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pipeline.enrichment.enricher import Enricher, Enrichment

__all__ = [
    "DEFAULT_EVAL_PATH",
    "ENTITY_TYPES",
    "EvalArticle",
    "EvalReport",
    "Prediction",
    "PRF",
    "evaluate",
    "format_report",
    "load_eval_set",
    "prediction_from_enrichment",
    "score",
]

DEFAULT_EVAL_PATH = (
    Path(__file__).resolve().parent.parent / "tests" / "data" / "eval" / "articles.jsonl"
)

EntityType = Literal["persons", "organizations", "locations"]
ENTITY_TYPES: tuple[EntityType, ...] = ("persons", "organizations", "locations")
SPLITS = ("dev", "test")
TOPIC_LANGUAGE = "en"
# Languages with a topic lexicon: their topic accuracy is also reported on its own.
TOPIC_LANGUAGES = ("en", "fr")


def _entities(self: EvalArticle | Prediction, kind: EntityType) -> frozenset[str]:
    """The canonical names of one entity type (shared by gold and predicted records)."""
    value: frozenset[str] = getattr(self, kind)
    return value


@dataclass(frozen=True)
class EvalArticle:
    """One labelled article of the evaluation set."""

    id: str
    split: str
    language: str
    title: str
    text: str
    topic: str
    persons: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()

    entities = _entities


@dataclass(frozen=True)
class Prediction:
    """What the enricher said about one article, reduced to what is scored."""

    language: str
    topics: tuple[str, ...] = ()  # labels, best first
    persons: frozenset[str] = frozenset()
    organizations: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()

    entities = _entities


@dataclass(frozen=True)
class PRF:
    """Micro-averaged counts and the precision / recall / F1 derived from them."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass(frozen=True)
class ArticleErrors:
    """Per-article differences, for error analysis."""

    id: str
    missed: dict[str, list[str]] = field(default_factory=dict)  # type -> gold not predicted
    spurious: dict[str, list[str]] = field(default_factory=dict)  # type -> predicted not gold
    gold_topic: str | None = None
    predicted_topics: list[str] = field(default_factory=list)
    topic_scored: bool = False
    gold_language: str = ""
    predicted_language: str = ""

    @property
    def topic_correct(self) -> bool:
        return bool(self.predicted_topics) and self.predicted_topics[0] == self.gold_topic


@dataclass(frozen=True)
class EvalReport:
    """Figures for one evaluated set of articles."""

    n_articles: int
    n_topic_articles: int
    entities: dict[str, PRF]
    topic_top1: float
    topic_top2: float
    language_accuracy: float
    errors: list[ArticleErrors] = field(default_factory=list)
    split: str | None = None
    # The same entity counts per article language (English rules and French NER differ).
    entities_by_language: dict[str, dict[str, PRF]] = field(default_factory=dict)
    # language -> (articles, top-1 accuracy) for each of TOPIC_LANGUAGES present
    topic_top1_by_language: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split or "all",
            "n_articles": self.n_articles,
            "n_topic_articles": self.n_topic_articles,
            "entities": {kind: prf.to_dict() for kind, prf in self.entities.items()},
            "entities_by_language": {
                language: {kind: prf.to_dict() for kind, prf in by_kind.items()}
                for language, by_kind in self.entities_by_language.items()
            },
            "topic_top1_accuracy": round(self.topic_top1, 4),
            "topic_top2_accuracy": round(self.topic_top2, 4),
            "topic_note": "topic_top1/top2 on English articles; topic_top1_by_language for "
                          "every language with a lexicon",
            "topic_top1_by_language": {
                language: {"articles": n, "top1_accuracy": round(top1, 4)}
                for language, (n, top1) in self.topic_top1_by_language.items()
            },
            "language_accuracy": round(self.language_accuracy, 4),
            "errors": [asdict(e) for e in self.errors],
        }


def _names(value: Any, field_name: str, line_no: int) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"line {line_no}: {field_name!r} must be a list of non-empty strings")
    return frozenset(v.strip() for v in value)


def load_eval_set(path: str | Path = DEFAULT_EVAL_PATH) -> list[EvalArticle]:
    """Read the JSONL evaluation set; raises ``ValueError`` on a malformed line."""
    articles: list[EvalArticle] = []
    seen: set[str] = set()
    with Path(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {line_no}: invalid JSON: {exc}") from exc
            if not isinstance(raw, dict):
                raise ValueError(f"line {line_no}: expected a JSON object")
            for key in ("id", "split", "language", "title", "text", "topic"):
                if not isinstance(raw.get(key), str) or not raw[key].strip():
                    raise ValueError(f"line {line_no}: {key!r} must be a non-empty string")
            if raw["split"] not in SPLITS:
                raise ValueError(f"line {line_no}: split must be one of {SPLITS}")
            if raw["id"] in seen:
                raise ValueError(f"line {line_no}: duplicate id {raw['id']!r}")
            seen.add(raw["id"])
            articles.append(
                EvalArticle(
                    id=raw["id"],
                    split=raw["split"],
                    language=raw["language"],
                    title=raw["title"],
                    text=raw["text"],
                    topic=raw["topic"],
                    **{k: _names(raw.get(k, []), k, line_no) for k in ENTITY_TYPES},
                )
            )
    return articles


def prediction_from_enrichment(enrichment: Enrichment) -> Prediction:
    """Reduce an :class:`Enrichment` to canonical-name sets and ranked topic labels."""
    return Prediction(
        language=enrichment.language,
        topics=tuple(t.label for t in enrichment.topics),
        persons=frozenset(r.canonical for r in enrichment.persons),
        organizations=frozenset(r.canonical for r in enrichment.organizations),
        locations=frozenset(r.canonical for r in enrichment.locations),
    )


def score(
    gold: Sequence[EvalArticle], predicted: Sequence[Prediction], *, split: str | None = None
) -> EvalReport:
    """Compare predictions with the gold labels (same order, same length)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold articles but {len(predicted)} predictions")
    counts = {kind: [0, 0, 0] for kind in ENTITY_TYPES}
    by_language: dict[str, dict[str, list[int]]] = {}
    topic_hits: dict[str, list[int]] = {}  # language -> [articles, top-1 hits]
    n_topic = top1 = top2 = lang_ok = 0
    errors: list[ArticleErrors] = []
    for g, p in zip(gold, predicted, strict=True):
        missed: dict[str, list[str]] = {}
        spurious: dict[str, list[str]] = {}
        for kind in ENTITY_TYPES:
            gs, ps = g.entities(kind), p.entities(kind)
            language_counts = by_language.setdefault(
                g.language, {k: [0, 0, 0] for k in ENTITY_TYPES})[kind]
            for c in (counts[kind], language_counts):
                c[0] += len(gs & ps)
                c[1] += len(ps - gs)
                c[2] += len(gs - ps)
            if gs - ps:
                missed[kind] = sorted(gs - ps)
            if ps - gs:
                spurious[kind] = sorted(ps - gs)
        topic_scored = g.language == TOPIC_LANGUAGE
        if g.language in TOPIC_LANGUAGES:
            hits = topic_hits.setdefault(g.language, [0, 0])
            hits[0] += 1
            hits[1] += bool(p.topics[:1]) and p.topics[0] == g.topic
        if topic_scored:
            n_topic += 1
            top1 += bool(p.topics[:1]) and p.topics[0] == g.topic
            top2 += g.topic in p.topics[:2]
        lang_ok += p.language == g.language
        errors.append(
            ArticleErrors(
                id=g.id,
                missed=missed,
                spurious=spurious,
                gold_topic=g.topic,
                predicted_topics=list(p.topics),
                topic_scored=topic_scored,
                gold_language=g.language,
                predicted_language=p.language,
            )
        )
    n = len(gold)
    return EvalReport(
        n_articles=n,
        n_topic_articles=n_topic,
        entities={kind: PRF(*counts[kind]) for kind in ENTITY_TYPES},
        topic_top1=top1 / n_topic if n_topic else 0.0,
        topic_top2=top2 / n_topic if n_topic else 0.0,
        language_accuracy=lang_ok / n if n else 0.0,
        errors=errors,
        split=split,
        entities_by_language={
            language: {kind: PRF(*c) for kind, c in by_kind.items()}
            for language, by_kind in sorted(by_language.items())
        },
        topic_top1_by_language={language: (n, hits / n)
                                for language, (n, hits) in sorted(topic_hits.items())},
    )


def select_split(articles: Iterable[EvalArticle], split: str | None) -> list[EvalArticle]:
    """``split`` None or "all" keeps everything."""
    if split in (None, "all"):
        return list(articles)
    return [a for a in articles if a.split == split]


def evaluate(
    enricher: Enricher, articles: Sequence[EvalArticle], split: str | None = None
) -> EvalReport:
    """Run the enricher on ``articles`` (optionally one split) and score the result."""
    chosen = select_split(articles, split)
    enrichments = enricher.enrich_many([(a.title, a.text) for a in chosen])
    predictions = [prediction_from_enrichment(e) for e in enrichments]
    return score(chosen, predictions, split=None if split == "all" else split)


def _total(by_kind: dict[str, PRF]) -> PRF:
    return PRF(sum(p.tp for p in by_kind.values()), sum(p.fp for p in by_kind.values()),
               sum(p.fn for p in by_kind.values()))


def format_report(report: EvalReport) -> str:
    """A small plain-text table of the figures."""
    lines = [
        f"split: {report.split or 'all'}   articles: {report.n_articles}"
        f"   (English, topic-scored: {report.n_topic_articles})",
        "",
        f"{'entity type':<15}{'P':>8}{'R':>8}{'F1':>8}{'tp':>6}{'fp':>6}{'fn':>6}",
    ]
    for kind, prf in report.entities.items():
        lines.append(
            f"{kind:<15}{prf.precision:>8.3f}{prf.recall:>8.3f}{prf.f1:>8.3f}"
            f"{prf.tp:>6}{prf.fp:>6}{prf.fn:>6}"
        )
    total = _total(report.entities)
    lines.append(
        f"{'all entities':<15}{total.precision:>8.3f}{total.recall:>8.3f}{total.f1:>8.3f}"
        f"{total.tp:>6}{total.fp:>6}{total.fn:>6}"
    )
    labelled = {language: by_kind for language, by_kind in report.entities_by_language.items()
                if any(prf.tp + prf.fn for prf in by_kind.values())}
    if len(labelled) > 1:
        lines += ["", "F1 per article language (languages with labelled entities):"]
        for language, by_kind in labelled.items():
            lines.append(f"  {language}: " + ", ".join(
                f"{kind} {prf.f1:.3f}" for kind, prf in by_kind.items())
                + f", all {_total(by_kind).f1:.3f}")
    lines += [
        "",
        f"topic top-1 accuracy   {report.topic_top1:.3f}   (English articles only)",
        f"topic top-2 hit rate   {report.topic_top2:.3f}   (English articles only)",
        *(["topic top-1 by language: " + ", ".join(
            f"{language} {top1:.3f} ({n} articles)"
            for language, (n, top1) in report.topic_top1_by_language.items())]
          if len(report.topic_top1_by_language) > 1 else []),
        f"language accuracy      {report.language_accuracy:.3f}   (all articles)",
    ]
    return "\n".join(lines)
