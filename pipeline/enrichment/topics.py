"""Topics (IPTC Media Topics, top level) from a weighted keyword lexicon, and keywords.

First version, deliberately transparent: every score can be explained by the matched terms
(:meth:`TopicLexicon.explain`). The lexicon lives in ``seeds/topics/iptc-keywords.yaml``.
No model is needed: tokenisation is a regular expression plus a light plural fold.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from pipeline.enrichment.entities import seeds_dir

__all__ = [
    "LEXICON_FILE",
    "TopicDefinition",
    "TopicLexicon",
    "TopicScore",
    "classify_topics",
    "default_topic_lexicon",
    "KEYWORD_LANGUAGES",
    "extract_keywords",
    "fold",
    "load_topic_lexicon",
    "tokenize",
]

LEXICON_FILE = Path("topics") / "iptc-keywords.yaml"

_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_NO_PLURAL_FOLD = ("ss", "us", "is", "ous", "'s")
# French: elided articles and pronouns glued to the next word ("l'Assemblée", "qu'il").
_FRENCH_ELISION_RE = re.compile(
    r"\b(?:[lLdDjJnNsScCmMtT]|[qQ]u|[jJ]usqu|[lL]orsqu|[pP]uisqu)['\u2019](?=\w)")


@lru_cache(maxsize=1 << 16)
def fold(word: str) -> str:
    """Lower-case, drop a possessive, fold a regular plural: ``"Sanctions"`` -> ``"sanction"``.

    Crude on purpose and applied identically to text and lexicon, so both sides agree.
    Cached: news vocabulary repeats, and this runs for every word of every article.
    """
    w = word.casefold().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    elif w.endswith("'"):
        w = w[:-1]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith(_NO_PLURAL_FOLD):
        return w[:-1]
    return w


def tokenize(text: str, language: str = "en") -> list[str]:
    """Folded word tokens; hyphens and digits separate words. French elisions are cut off
    first ("l'Assemblée" -> "assemblée")."""
    if language == "fr":
        text = _FRENCH_ELISION_RE.sub("", text)
    return [fold(m.group()) for m in _WORD_RE.finditer(text)]


class TopicScore(NamedTuple):
    """One topic of a text: IPTC QCode, English label, score (share of all topic evidence)."""

    code: str
    label: str
    score: float


@dataclass(frozen=True)
class TopicDefinition:
    code: str
    label: str
    terms: Mapping[tuple[str, ...], float]  # folded token sequence -> weight


@dataclass(frozen=True)
class _TermIndex:
    """The lexicon inverted for counting: which n-grams to look for and where they score."""

    # term -> (topic code, weight) for every topic that lists the term
    postings: Mapping[tuple[str, ...], tuple[tuple[str, float], ...]]
    # n -> first words of the n-word terms (an n-gram is only built where one starts)
    starts: Mapping[int, frozenset[str]]

    @classmethod
    def build(cls, topics: Iterable[TopicDefinition]) -> _TermIndex:
        postings: dict[tuple[str, ...], list[tuple[str, float]]] = {}
        starts: dict[int, set[str]] = {}
        for topic in topics:
            for term, weight in topic.terms.items():
                postings.setdefault(term, []).append((topic.code, weight))
                starts.setdefault(len(term), set()).add(term[0])
        return cls({t: tuple(p) for t, p in postings.items()},
                   {n: frozenset(words) for n, words in sorted(starts.items())})

    def count(self, tokens: list[str]) -> Counter[tuple[str, ...]]:
        """Occurrences of the lexicon's terms in ``tokens``."""
        counts: Counter[tuple[str, ...]] = Counter()
        for n, first_words in self.starts.items():
            for i in range(len(tokens) - n + 1):
                if tokens[i] in first_words:
                    gram = tuple(tokens[i : i + n])
                    if gram in self.postings:
                        counts[gram] += 1
        return counts


@dataclass(frozen=True)
class TopicLexicon:
    topics: tuple[TopicDefinition, ...]
    language: str = "en"
    min_score: float = 4.0
    relative_threshold: float = 0.3
    max_topics: int = 4
    title_weight: float = 2.0

    @cached_property
    def index(self) -> _TermIndex:
        """The terms inverted for counting, built on first use."""
        return _TermIndex.build(self.topics)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TopicLexicon:
        scoring = data.get("scoring") or {}
        language = str(data.get("language", "en"))
        topics: list[TopicDefinition] = []
        seen_codes: set[str] = set()
        for entry in data.get("topics") or []:
            code = str(entry["code"])
            if code in seen_codes:
                raise ValueError(f"topic lexicon: duplicate code {code}")
            seen_codes.add(code)
            terms: dict[tuple[str, ...], float] = {}
            for term, weight in (entry.get("terms") or {}).items():
                tokens = tuple(tokenize(str(term), language))
                if not tokens:
                    raise ValueError(f"topic lexicon: term {term!r} of {code} has no words")
                terms[tokens] = max(terms.get(tokens, 0.0), float(weight))
            topics.append(TopicDefinition(code=code, label=str(entry["label"]), terms=terms))
        return cls(
            topics=tuple(topics),
            language=language,
            min_score=float(scoring.get("min_score", cls.min_score)),
            relative_threshold=float(scoring.get("relative_threshold", cls.relative_threshold)),
            max_topics=int(scoring.get("max_topics", cls.max_topics)),
            title_weight=float(scoring.get("title_weight", cls.title_weight)),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> TopicLexicon:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_mapping(data)

    def explain(self, text: str, *, title: str = "") -> dict[str, list[tuple[str, float]]]:
        """Per topic code: matched terms and their contributions, largest first."""
        counts = _term_counts(self, tokenize(text, self.language),
                              tokenize(title, self.language), self.title_weight)
        result: dict[str, list[tuple[str, float]]] = {}
        for topic in self.topics:
            contributions = [
                (" ".join(term), _contribution(weight, counts[term]))
                for term, weight in topic.terms.items()
                if counts.get(term, 0.0) > 0
            ]
            if contributions:
                result[topic.code] = sorted(contributions, key=lambda c: -c[1])
        return result

    def raw_scores(self, text: str, *, title: str = "") -> dict[str, float]:
        """Unnormalised evidence per topic code (0 for topics with no matched term)."""
        counts = _term_counts(self, tokenize(text, self.language),
                              tokenize(title, self.language), self.title_weight)
        scores = dict.fromkeys((topic.code for topic in self.topics), 0.0)
        for term, count in counts.items():
            for code, weight in self.index.postings[term]:
                scores[code] += _contribution(weight, count)
        return scores


def _contribution(weight: float, count: float) -> float:
    # Sub-linear in the count: ten mentions of "war" are not ten times the evidence.
    return weight * (1.0 + math.log(count)) if count >= 1.0 else weight * count


def _term_counts(
    lexicon: TopicLexicon, body: list[str], title: list[str], title_weight: float
) -> dict[tuple[str, ...], float]:
    body_counts = lexicon.index.count(body)
    title_counts = lexicon.index.count(title)
    return {
        term: float(body_counts.get(term, 0) + title_weight * title_counts.get(term, 0))
        for term in body_counts.keys() | title_counts.keys()
    }


def load_topic_lexicon(path: str | Path | None = None) -> TopicLexicon:
    """Load ``seeds/topics/iptc-keywords.yaml`` (or ``path``)."""
    return TopicLexicon.from_yaml(path if path is not None else seeds_dir() / LEXICON_FILE)


@lru_cache(maxsize=1)
def default_topic_lexicon() -> TopicLexicon:
    """The repository's topic lexicon, loaded once per process."""
    return load_topic_lexicon()


def classify_topics(
    text: str,
    lexicon: TopicLexicon | None = None,
    *,
    title: str = "",
    min_score: float | None = None,
    relative_threshold: float | None = None,
    max_topics: int | None = None,
) -> list[TopicScore]:
    """Multi-label topics of a text, best first.

    ``score`` is the topic's share of all topic evidence in the text (scores of all matched
    topics sum to 1; the returned ones, after thresholds, sum to at most 1). A topic is
    returned when its raw evidence is at least ``min_score`` and at least
    ``relative_threshold`` times the best topic's evidence.
    """
    lex = lexicon if lexicon is not None else default_topic_lexicon()
    min_raw = lex.min_score if min_score is None else min_score
    relative = lex.relative_threshold if relative_threshold is None else relative_threshold
    limit = lex.max_topics if max_topics is None else max_topics
    raw = lex.raw_scores(text, title=title)
    total = sum(raw.values())
    if total <= 0:
        return []
    best = max(raw.values())
    labels = {t.code: t.label for t in lex.topics}
    order = {t.code: i for i, t in enumerate(lex.topics)}
    kept = [
        TopicScore(code, labels[code], round(value / total, 4))
        for code, value in raw.items()
        if value >= min_raw and value >= relative * best
    ]
    kept.sort(key=lambda t: (-t.score, order[t.code]))
    return kept[:limit]


# --- keywords ---------------------------------------------------------------------------

_SEGMENT_SPLIT_RE = re.compile(r"[.,;:!?()\[\]{}\"“”«»—–/|\n]+")
_EXTRA_STOP_WORDS = frozenset(
    {
        "said",
        "says",
        "say",
        "told",
        "according",
        "also",
        "would",
        "could",
        "year",
        "years",
        "week",
        "day",
        "days",
        "time",
        "mr",
        "mrs",
        "ms",
        "percent",
        "including",
        "like",
        "new",
        "reported",
        "reportedly",
    }
)


@lru_cache(maxsize=1)
def _english_stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS  # no model needed, just the word list

    return frozenset(fold(w) for w in STOP_WORDS) | frozenset(fold(w) for w in _EXTRA_STOP_WORDS)


# French news words that say nothing about the story (spaCy's list has the function words).
_FRENCH_EXTRA_STOP_WORDS = frozenset(
    {
        "selon", "indiqué", "déclaré", "affirmé", "annoncé", "précisé", "ajouté", "estimé",
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        "année", "années", "an", "ans", "jour", "jours", "semaine", "semaines", "mois",
        "heure", "heures", "fois", "cette", "dont", "plus", "également", "ainsi",
        "depuis", "après", "avant", "lors", "contre", "entre", "sans", "sous", "vers",
        "millions", "milliards", "euros", "cent",
    }
)


@lru_cache(maxsize=1)
def _french_stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS  # no model needed, just the word list

    return frozenset(fold(w) for w in STOP_WORDS) | frozenset(
        fold(w) for w in _FRENCH_EXTRA_STOP_WORDS)


KEYWORD_LANGUAGES = frozenset({"en", "fr"})


def extract_keywords(
    text: str, n: int = 10, *, stop_words: Iterable[str] | None = None, language: str = "en"
) -> list[str]:
    """Up to ``n`` keywords: frequent content words and repeated two-word phrases.

    Cheap and model-free: tokens split at punctuation into segments; stop words (spaCy's
    English or French list, by ``language``, plus a few news words; French elisions such
    as "l'" cut off) and words under 3 letters are dropped; adjacent
    content words seen together at least twice form a phrase ("North Korea"), whose count
    is taken out of its words. Ranked by count (phrases x1.5), ties by first appearance.
    Each keyword is shown in its most frequent surface form.
    """
    if n <= 0:
        return []
    if language == "fr":
        text = _FRENCH_ELISION_RE.sub("", text)
    default_stops = _french_stop_words() if language == "fr" else _english_stop_words()
    stops = frozenset(fold(w) for w in stop_words) if stop_words is not None else default_stops
    # Keys: a folded word (str) or a pair of them (tuple); surfaces counted per (key, form).
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    forms: Counter[tuple[Any, Any]] = Counter()
    first_seen: dict[Any, int] = {}
    position = 0
    for segment in _SEGMENT_SPLIT_RE.split(text):
        previous: tuple[str, str] | None = None  # (folded, surface) of the previous token
        for surface in _WORD_RE.findall(segment):
            possessive = surface.endswith(("'s", "\u2019s"))
            if possessive:
                surface = surface[:-2]
            key = fold(surface)
            position += 1
            if len(key) < 3 or key in stops:
                previous = None
                continue
            unigrams[key] += 1
            forms[key, surface] += 1
            if key not in first_seen:
                first_seen[key] = position
            if previous is not None:
                pair = (previous[0], key)
                bigrams[pair] += 1
                forms[pair, (previous[1], surface)] += 1
                if pair not in first_seen:
                    first_seen[pair] = first_seen[previous[0]]
            # A possessive ends a phrase: "Putin's visit" is not a keyword phrase.
            previous = None if possessive else (key, surface)

    scores: dict[Any, float] = {}
    for pair, count in bigrams.items():
        if count >= 2:
            scores[pair] = count * 1.5
            unigrams[pair[0]] -= count
            unigrams[pair[1]] -= count
    for key, count in unigrams.items():
        if count > 0:
            scores[key] = float(count)

    ranked = sorted(scores, key=lambda k: (-scores[k], first_seen[k]))[:n]
    return _most_common_forms(ranked, forms)


def _most_common_forms(keys: list[Any], forms: Counter[tuple[Any, Any]]) -> list[str]:
    # The most frequent written form of each key; on a tie the first seen (forms keeps
    # insertion order). Pairs are shown as their two forms joined by a space.
    best: dict[Any, tuple[int, Any]] = {}
    wanted = set(keys)
    for (key, form), count in forms.items():
        if key in wanted and count > best.get(key, (0, None))[0]:
            best[key] = (count, form)
    return [" ".join(best[k][1]) if isinstance(k, tuple) else best[k][1] for k in keys]
