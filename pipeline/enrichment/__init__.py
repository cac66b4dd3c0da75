"""Enrichment stage as pure functions: clean text, detect language, NER, topics, keywords.

Heavy models (spaCy NER, lingua) live in :class:`Enricher`, built once per worker with
:meth:`Enricher.load`; everything else is a plain function of its inputs.
"""

from pipeline.enrichment.clean import (
    clean_article_text,
    html_to_text,
    normalise_text,
    remove_site_junk,
)
from pipeline.enrichment.enricher import ENRICHMENT_VERSION, Enricher, Enrichment
from pipeline.enrichment.entities import (
    AliasTable,
    Entities,
    EntityRecord,
    Mention,
    extract_entities,
    load_alias_table,
    load_ner_model,
    normalise_mention,
    resolve_mentions,
    seeds_dir,
)
from pipeline.enrichment.language import LanguageDetector, LanguageResult
from pipeline.enrichment.topics import (
    TopicLexicon,
    TopicScore,
    classify_topics,
    extract_keywords,
    load_topic_lexicon,
)

__all__ = [
    "ENRICHMENT_VERSION",
    "AliasTable",
    "Enricher",
    "Enrichment",
    "Entities",
    "EntityRecord",
    "LanguageDetector",
    "LanguageResult",
    "Mention",
    "TopicLexicon",
    "TopicScore",
    "classify_topics",
    "clean_article_text",
    "extract_entities",
    "extract_keywords",
    "html_to_text",
    "load_alias_table",
    "load_ner_model",
    "load_topic_lexicon",
    "normalise_mention",
    "normalise_text",
    "remove_site_junk",
    "resolve_mentions",
    "seeds_dir",
]
