from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.enrichment import (
    ENRICHMENT_VERSION,
    Enricher,
    Enrichment,
    clean_article_text,
    extract_entities,
)
from pipeline.enrichment.entities import seeds_dir

_SAMPLE_CANDIDATES = (
    seeds_dir() / "articles" / "putin-north-korea.txt",
    Path("/work/shared/seeds/sample-article-putin-north-korea.txt"),
)


def _sample_article() -> str:
    for path in _SAMPLE_CANDIDATES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise AssertionError(f"sample article not found in {_SAMPLE_CANDIDATES}")


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher.load()


@pytest.fixture(scope="module")
def sample(enricher: Enricher) -> Enrichment:
    return enricher.enrich("Putin visits North Korea", _sample_article())


# --- acceptance: the sample article ------------------------------------------------------


def test_sample_raw_text_has_the_junk_lines() -> None:
    raw = _sample_article()
    assert "\nShare.\n" in raw and "Exit mobile version" in raw


def test_sample_clean_and_entities_acceptance(enricher: Enricher) -> None:
    text = clean_article_text(_sample_article())
    assert "Share." not in text.splitlines()
    assert "Exit mobile version" not in text
    assert text.endswith("will reverberate in the region and beyond.")

    entities = extract_entities(text, enricher.nlp, enricher.aliases)
    persons = entities.names("person")
    assert persons == ["Vladimir Putin", "Kim Jong-un"]  # exactly: no stray "Putin"/"Kim"
    putin, kim = entities.persons
    assert "Putin" in putin.surface_forms and "Vladimir V. Putin" in putin.surface_forms
    assert "Kim" in kim.surface_forms and "Kim Jong-un" in kim.surface_forms
    assert putin.count == 7 and kim.count == 5  # every mention spaCy tagged
    locations = entities.names("location")
    for place in ("North Korea", "Russia", "Ukraine", "United States", "Pyongyang", "Moscow"):
        assert place in locations
    assert "U.S." not in locations and "the United States" not in locations
    assert "North Korea’s" not in locations
    assert "Exit" not in locations  # the junk line's false entity is gone with it
    assert "United Nations" in entities.names("organization")
    assert "Kremlin" in entities.names("organization")
    nationalities = {r.canonical: r.surface_forms for r in entities.nationalities}
    assert nationalities["Russia"] == ["Russian"]
    assert nationalities["North Korea"] == ["North Korean"]
    assert nationalities["United States"] == ["American"]


def test_sample_enrichment(sample: Enrichment) -> None:
    assert sample.language == "en"
    assert sample.language_confidence > 0.9
    assert sample.ner_skipped_reason is None
    assert sample.ner_model is not None and sample.ner_model.endswith("-3.8.0")
    assert [p.canonical for p in sample.persons] == ["Vladimir Putin", "Kim Jong-un"]
    putin = sample.persons[0]
    assert putin.in_title  # "Putin" in the title resolves to the body's full name
    assert sample.locations[0].canonical == "North Korea"
    assert sample.locations[0].in_title
    top_two = {t.code for t in sample.topics[:2]}
    assert top_two == {"medtop:11000000", "medtop:16000000"}
    assert {t.label for t in sample.topics[:2]} == {
        "politics and government",
        "conflict, war and peace",
    }
    assert sample.keywords[:2] == ["North Korea", "Russia"]
    assert "Russia" in sample.countries
    assert sample.enrichment_version == ENRICHMENT_VERSION


def test_to_dict_is_json_serialisable(sample: Enrichment) -> None:
    data = sample.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["persons"][0]["canonical"] == "Vladimir Putin"
    assert data["topics"][0].keys() == {"code", "label", "score"}
    assert data["enrichment_version"] == ENRICHMENT_VERSION
    assert set(data) >= {
        "language",
        "language_confidence",
        "clean_text",
        "persons",
        "organizations",
        "locations",
        "nationalities",
        "topics",
        "keywords",
        "ner_skipped_reason",
    }


# --- other languages, HTML, batches ------------------------------------------------------


def test_french_gets_french_ner_not_english(enricher: Enricher) -> None:
    result = enricher.enrich(
        "Grippe : la campagne de vaccination commence",
        "<p>Le ministère de la Santé a lancé mardi une nouvelle campagne de vaccination "
        "contre la grippe dans toute la France, a précisé le ministre à Paris.</p>",
    )
    assert result.language == "fr"
    assert result.ner_skipped_reason is None
    assert result.ner_model is not None and result.ner_model.startswith("fr_core_news")
    assert [r.canonical for r in result.locations] == ["France", "Paris"]
    assert result.topics[0].label == "health"  # the French topic lexicon
    assert "vaccination" in result.keywords  # keywords: French stop words
    assert result.clean_text.startswith("Le ministère de la Santé")


def test_undetermined_language(enricher: Enricher) -> None:
    result = enricher.enrich("", "<p>OK</p>")
    assert result.language == "und"
    assert result.ner_skipped_reason is not None and "undetermined" in result.ner_skipped_reason
    assert result.clean_text == "OK"


def test_html_input_is_cleaned(enricher: Enricher) -> None:
    html = (
        "<html><head><style>.x{}</style></head><body><nav>Home | World</nav>"
        "<p>President Joe Biden met Japanese Prime Minister Fumio Kishida at the White House "
        "on Wednesday to discuss trade and security in the Pacific.</p>"
        "<p>Biden said the alliance with Japan was stronger than ever.</p>"
        "<p>Share this:</p><script>track()</script></body></html>"
    )
    result = enricher.enrich("Biden hosts Kishida", html)
    assert result.clean_text == (
        "President Joe Biden met Japanese Prime Minister Fumio Kishida at the White House on "
        "Wednesday to discuss trade and security in the Pacific.\n\n"
        "Biden said the alliance with Japan was stronger than ever."
    )
    persons = [p.canonical for p in result.persons]
    assert persons[0] == "Joe Biden"
    assert "Biden" not in persons
    assert "Japan" in result.countries


def test_enrich_many_matches_enrich(enricher: Enricher) -> None:
    items = [
        ("Putin visits North Korea", _sample_article()),
        ("Grippe", "Le ministère de la Santé a lancé mardi une campagne de vaccination."),
        ("", ""),
    ]
    batch = enricher.enrich_many(items)
    assert len(batch) == 3
    assert [r.language for r in batch] == ["en", "fr", "und"]
    single = [enricher.enrich(title, body) for title, body in items]
    assert [r.to_dict() for r in batch] == [r.to_dict() for r in single]
    assert enricher.enrich_many([]) == []


def test_load_with_explicit_paths(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("locations:\n  Ruritania: [Ruritanian Republic]\n", encoding="utf-8")
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text(
        "scoring: {min_score: 1.0}\n"
        "topics:\n  - code: x:1\n    label: monarchy\n    terms: {king: 3, crown: 2}\n",
        encoding="utf-8",
    )
    custom = Enricher.load(aliases_path=aliases, lexicon_path=lexicon, languages=["en", "fr"])
    result = custom.enrich(
        "The king of Ruritania",
        "The Ruritanian Republic crowned a new king on Sunday in the capital, and the crown "
        "was passed on in a ceremony watched by thousands of people.",
    )
    assert [t.code for t in result.topics] == ["x:1"]
    assert "Ruritania" in [r.canonical for r in result.locations]


# --- geo and near-duplicate fingerprints -------------------------------------------------


def test_sample_places_get_country_codes_and_points(sample: Enrichment) -> None:
    assert sample.geo is not None
    places = sample.geo.places
    assert places["North Korea"].country_code == "KP"
    assert places["Pyongyang"].country_code == "KP"
    assert places["Russia"].country_code == "RU"
    assert places["Moscow"].country_code == "RU"
    assert places["Ukraine"].country_code == "UA"
    assert {"KP", "RU", "UA", "US"} <= set(sample.geo.country_codes)
    assert len(sample.geo.country_codes) == len(set(sample.geo.country_codes))
    assert len(sample.geo.points) == sum(p.point is not None for p in places.values())
    data = sample.to_dict()
    assert data["places"]["Pyongyang"]["point"] == places["Pyongyang"].point
    assert data["country_codes"] == sample.geo.country_codes


def test_sample_has_a_fingerprint(sample: Enrichment) -> None:
    assert sample.fingerprint is not None
    data = sample.to_dict()
    assert len(data["simhash"]) == 16 and int(data["simhash"], 16) >= 0
    assert data["simhash_bands"] == sample.fingerprint.bands


def test_language_without_ner_gets_a_fingerprint_but_no_places(enricher: Enricher) -> None:
    result = enricher.enrich(
        "Grippe: Impfkampagne beginnt",
        "Das Gesundheitsministerium hat am Dienstag in ganz Deutschland eine neue "
        "Impfkampagne gegen die Grippe gestartet, teilte der Minister in Berlin vor der "
        "Presse mit.",
    )
    assert result.language == "de"
    assert result.geo is None and result.to_dict()["country_codes"] == []
    assert result.fingerprint is not None  # syndicated German copies cluster too


def test_french_places_get_country_codes(enricher: Enricher) -> None:
    result = enricher.enrich(
        "Grippe : la campagne de vaccination commence",
        "Le ministère de la Santé a lancé mardi une nouvelle campagne de vaccination contre "
        "la grippe dans toute la France, a précisé le ministre à Paris, devant la presse.",
    )
    assert result.geo is not None and result.to_dict()["country_codes"] == ["FR"]
    assert result.fingerprint is not None


def test_title_and_body_mentions_are_split_back_with_their_own_offsets() -> None:
    from pipeline.enrichment.enricher import TITLE_BREAK, split_title_mentions
    from pipeline.enrichment.entities import Mention

    title, body = "Putin visits Pyongyang", "Vladimir Putin met Kim Jong-un."
    text = title + TITLE_BREAK + body
    found = [Mention("Putin", "PERSON", 0), Mention("Pyongyang", "GPE", 13),
             Mention("Pyongyang" + TITLE_BREAK + "Vladimir", "GPE", 13),  # across the break
             Mention("Vladimir Putin", "PERSON", text.index("Vladimir")),
             Mention("Kim Jong-un", "PERSON", text.index("Kim"))]
    assert split_title_mentions(found, len(title)) == [
        Mention("Putin", "PERSON", 0, True), Mention("Pyongyang", "GPE", 13, True),
        Mention("Vladimir Putin", "PERSON", 0, False),
        Mention("Kim Jong-un", "PERSON", body.index("Kim"), False)]
