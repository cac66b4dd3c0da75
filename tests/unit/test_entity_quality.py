"""Unit tests of the general entity mechanisms: datelines, acronyms, legal forms,
organisation keywords, and the broader alias table. Pure functions, no network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipeline.enrichment.entities import (
    AliasTable,
    Mention,
    NormalisedMention,
    acronym_after,
    acronym_keys,
    corporate_full_names,
    corporate_suffix_end,
    default_alias_table,
    initials,
    is_acronym,
    keyword_org_spans,
    link_acronyms,
    load_ner_model,
    mentions_from_doc,
    normalise_dateline,
    normalise_mention,
    resolve_mentions,
    strip_corporate_dot,
    strip_titles,
)
from pipeline.enrichment.places import PlaceNames

if TYPE_CHECKING:
    from spacy.language import Language

PLACES = PlaceNames.from_names(countries=["India", "Germany"], cities=["Mumbai", "London"])


@pytest.fixture(scope="module")
def aliases() -> AliasTable:
    return default_alias_table()


# --- datelines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_start"),
    [
        ("MUMBAI - The Reserve Bank of India", "Mumbai.  The Reserve"),
        ("LONDON, Feb 6 (Reuters) - The Bank", "London, Feb 6 (Reuters).  The Bank"),
        ("THE HAGUE - Police in Spain", "The Hague.  Police"),
        ("CAPE CANAVERAL, Fla. - NASA said", "Cape Canaveral, Fla. . NASA"),
        ("SEOUL, July 5 (Yonhap) -- Samsung", "Seoul, July 5 (Yonhap).   Samsung"),
        ("WASHINGTON (AP) \u2014 The Securities", "Washington (AP).  The Securities"),
    ],
)
def test_normalise_dateline(text: str, expected_start: str) -> None:
    result = normalise_dateline(text)
    assert result.startswith(expected_start)
    assert len(result) == len(text)  # offsets into the text stay valid


@pytest.mark.parametrize(
    "text",
    [
        "NASA said on Tuesday that two astronauts would return.",
        "The U.S. Federal Reserve cut rates - again.",
        "A-level results rose.",
        "UK - EU talks",  # too short to be a dateline place
        "",
    ],
)
def test_normalise_dateline_leaves_other_text_alone(text: str) -> None:
    assert normalise_dateline(text) == text


# --- legal forms ----------------------------------------------------------------------------


def test_strip_corporate_dot() -> None:
    assert strip_corporate_dot("Nvidia Corp.") == "Nvidia Corp"
    assert strip_corporate_dot("Samsung Electronics Co.") == "Samsung Electronics Co"
    assert strip_corporate_dot("U.S.") == "U.S."
    assert strip_corporate_dot("Washington D.C.") == "Washington D.C."


def test_corporate_suffix_end() -> None:
    text = "Nvidia Corp. reported revenue; Siemens AG agreed; Apple said"
    end = text.index("Nvidia") + len("Nvidia")
    assert text[: corporate_suffix_end(text, end)] == "Nvidia Corp."
    siemens_end = text.index("Siemens") + len("Siemens")
    assert text[text.index("Siemens") : corporate_suffix_end(text, siemens_end)] == "Siemens AG"
    apple_end = text.index("Apple") + len("Apple")
    assert corporate_suffix_end(text, apple_end) == apple_end  # nothing to extend over


def test_corporate_full_names() -> None:
    items = [
        NormalisedMention("Nvidia Corp", "organization"),
        NormalisedMention("Nvidia", "organization"),
        NormalisedMention("Meta Platforms", "organization"),
        NormalisedMention("Meta", "organization"),
        NormalisedMention("Acme Inc", "organization"),
        NormalisedMention("Acme Group", "organization"),
        NormalisedMention("Acme", "organization"),  # two legal forms: left alone
        NormalisedMention("Siemens", "location"),  # only organisations are considered
    ]
    assert corporate_full_names(items) == {"Nvidia": "Nvidia Corp", "Meta": "Meta Platforms"}


# --- acronyms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("WHO", True), ("U.N.", True), ("BoE", True), ("AfD", True), ("NASA", True),
     ("Nasa", False), ("I", False), ("Reuters", False), ("G7", False),
     ("ABCDEFGHIJ", False)],
)
def test_is_acronym(text: str, expected: bool) -> None:
    assert is_acronym(text) is expected


def test_acronym_after() -> None:
    text = "the Reserve Bank of India (RBI) said; the index (up 2%) rose; the bank (Acme)"
    end = text.index(" (RBI)")
    assert acronym_after(text, end) == "RBI"
    assert acronym_after(text, text.index(" (up")) == ""
    assert acronym_after(text, text.index(" (Acme)")) == ""  # a name, not an acronym


def test_initials_and_acronym_keys() -> None:
    assert "FDA" in initials("Food and Drug Administration")
    assert "WADA" in initials("World Anti-Doping Agency")
    assert "BE" in initials("Bank of England")
    assert acronym_keys("BoE") == {"BE", "BOE"}
    assert acronym_keys("U.N.") == {"UN"}


def _pair(
    text: str, norm: NormalisedMention, acronym: str = ""
) -> tuple[Mention, NormalisedMention]:
    return Mention(text, "ORG", 0, False, acronym), norm


def test_link_acronyms_by_definition_wins_over_the_alias_table(aliases: AliasTable) -> None:
    board = NormalisedMention("England and Wales Cricket Board", "organization")
    items = [
        _pair("England and Wales Cricket Board", board, acronym="ECB"),
        _pair("ECB", NormalisedMention("European Central Bank", "organization")),
    ]
    linked = link_acronyms(items, aliases)
    assert [n.canonical for _, n in linked] == ["England and Wales Cricket Board"] * 2


def test_link_acronyms_by_initials(aliases: AliasTable) -> None:
    items = [
        _pair("Zembla Drug Administration",
              NormalisedMention("Zembla Drug Administration", "organization")),
        _pair("Bank of Zembla", NormalisedMention("Bank of Zembla", "organization")),
        _pair("ZDA", NormalisedMention("ZDA", "organization")),
        _pair("BoZ", NormalisedMention("BoZ", "person")),  # category follows the full name
        _pair("XYZ", NormalisedMention("XYZ", "organization")),  # no owner: unchanged
    ]
    linked = [n for _, n in link_acronyms(items, aliases)]
    assert linked[2] == NormalisedMention("Zembla Drug Administration", "organization")
    assert linked[3] == NormalisedMention("Bank of Zembla", "organization")
    assert linked[4] == NormalisedMention("XYZ", "organization")


def test_link_acronyms_ignores_ambiguous_initials(aliases: AliasTable) -> None:
    items = [
        _pair("National Zoo Board", NormalisedMention("National Zoo Board", "organization")),
        _pair("Nordic Zinc Bank", NormalisedMention("Nordic Zinc Bank", "organization")),
        _pair("NZB", NormalisedMention("NZB", "organization")),
    ]
    assert link_acronyms(items, aliases)[2][1].canonical == "NZB"


def test_a_place_does_not_define_an_unrelated_acronym(aliases: AliasTable) -> None:
    # "Alternative for Germany (AfD)" where the model tagged only "Germany".
    items = [
        (Mention("Germany", "GPE", 0, False, "AfD"), NormalisedMention("Germany", "location")),
        _pair("AfD", NormalisedMention("Alternative for Germany", "organization")),
    ]
    assert link_acronyms(items, aliases)[1][1].canonical == "Alternative for Germany"


def test_resolve_mentions_links_acronyms_and_legal_forms(aliases: AliasTable) -> None:
    mentions = [
        Mention("Zembla Power Corp", "ORG", 0),
        Mention("Grid Authority of Zembla", "ORG", 30, acronym="GAZ"),
        Mention("GAZ", "ORG", 80),
        Mention("ZPC", "PERSON", 100),
    ]
    entities = resolve_mentions(mentions, aliases, PLACES)
    assert sorted(r.canonical for r in entities.organizations) == [
        "Grid Authority of Zembla", "Zembla Power Corp"]
    assert not entities.persons


# --- organisation keywords ------------------------------------------------------------------


def _spans(text: str, entities: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    return [(text.index(t), text.index(t) + len(t), label) for t, label in entities]


def test_keyword_org_spans_finds_missed_names() -> None:
    text = "The U.S. Food and Drug Administration on Friday approved the drug."
    found = keyword_org_spans(text, _spans(text, [("U.S.", "GPE"), ("Friday", "DATE")]))
    assert [(text[s:e], replaced) for s, e, replaced in found] == [
        ("U.S. Food and Drug Administration", [0])]


def test_keyword_org_spans_repairs_place_inside_org() -> None:
    text = "Economists said the Bank of England would wait."
    found = keyword_org_spans(text, _spans(text, [("England", "GPE")]))
    assert [text[s:e] for s, e, _ in found] == ["Bank of England"]


def test_keyword_org_spans_leaves_persons_and_orgs_to_the_model() -> None:
    text = ("Members of the Chicago Teachers Union met Mayor Brandon Johnson and Apple Council."
            " Apple Council met.")
    entities = _spans(text, [("Chicago Teachers Union", "ORG"), ("Brandon Johnson", "PERSON")])
    found = [text[s:e] for s, e, _ in keyword_org_spans(text, entities)]
    assert "Chicago Teachers Union" not in found and all("Members" not in f for f in found)
    assert found == ["Apple Council"]  # the second one: the first run touches a person


def test_keyword_org_spans_trims_sentence_initial_words() -> None:
    text = "Shares rose. Members of the Zembla Dockers Union voted."
    assert [text[s:e] for s, e, _ in keyword_org_spans(text, [])] == ["Zembla Dockers Union"]


def test_keyword_org_spans_ignores_plain_capitalised_runs() -> None:
    text = "Apple and Google met in New York on Monday."
    assert keyword_org_spans(text, []) == []


# --- titles, alias table --------------------------------------------------------------------


def test_monarch_titles_are_stripped() -> None:
    assert strip_titles("King Charles III") == "Charles III"
    assert strip_titles("Queen Margrethe") == "Margrethe"


@pytest.mark.parametrize(
    ("text", "label", "canonical", "category"),
    [
        ("IMF", "ORG", "International Monetary Fund", "organization"),
        ("BoE", "PERSON", "Bank of England", "organization"),
        ("New York Times", "ORG", "The New York Times", "organization"),
        ("Christie's", "ORG", "Christie's", "organization"),
        ("Fla.", "GPE", "Florida", "location"),
        ("Dutchman", "NORP", "Netherlands", "nationality"),
        ("Nvidia Corp.", "ORG", "Nvidia Corp", "organization"),
    ],
)
def test_broader_alias_table(
    aliases: AliasTable, text: str, label: str, canonical: str, category: str
) -> None:
    assert normalise_mention(text, label, aliases) == NormalisedMention(canonical, category)


def test_ignored_events_and_products(aliases: AliasTable) -> None:
    for name in ("El Nino", "Olympics", "Bitcoin", "ChatGPT"):
        assert aliases.is_ignored(name), name


# --- with the model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner_model()


def test_mentions_cut_at_a_bracket_and_keep_the_acronym(nlp: Language) -> None:
    text = "The Court of Arbitration for Sport (CAS) banned her. CAS said the ruling was final."
    mentions = mentions_from_doc(nlp(text))
    first = next(m for m in mentions if m.text.endswith("Sport"))
    assert first.acronym == "CAS"
    assert all("(" not in m.text for m in mentions)


# --- second round: roles, date words, organisations inside organisation names ----------------


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("South Africa's foreign minister, Naledi Pandor, welcomed it.", "Naledi Pandor", True),
        ("RBI Governor Shaktikanta Das said rates would hold.", "Shaktikanta Das", True),
        ("Sundar Pichai, chief executive of Alphabet, said so.", "Sundar Pichai", True),
        ("Thomas Greer, 58, was convicted.", "Thomas Greer", True),
        ("The director of Lincoln Center said it would close.", "Lincoln Center", False),
        ("Analysts at Goldman Sachs said prices would rise.", "Goldman Sachs", False),
        ("after Alphonso Davies had given them the lead", "Alphonso Davies", False),
        ("Deutsche Bank, the German lender, said", "Deutsche Bank", False),
    ],
)
def test_person_by_role(text: str, name: str, expected: bool) -> None:
    from pipeline.enrichment.entities import person_by_role

    start = text.index(name)
    assert person_by_role(text, start, start + len(name)) is expected


def test_keyword_org_spans_date_words_and_head_words() -> None:
    text = ("Lawyers said he would appeal to the U.S. Court of Appeals for the Second Circuit."
            " The Bank of Zembla on Friday cut rates.")
    found = [text[s:e] for s, e, _ in keyword_org_spans(text, [])]
    assert found == ["U.S. Court of Appeals for the Second Circuit", "Bank of Zembla"]


def test_keyword_org_spans_takes_one_org_inside_the_name() -> None:
    text = "The company's union, the National Samsung Electronics Union, threatened strikes."
    inner = _spans(text, [("Samsung Electronics", "ORG")])
    found = keyword_org_spans(text, inner)
    assert [(text[s:e], r) for s, e, r in found] == [("National Samsung Electronics Union", [0])]
    # Two organisations joined by "and" are two names, not one.
    text2 = "Talks between Microsoft and Federal Trade Commission staff."
    two = _spans(text2, [("Microsoft", "ORG"), ("Federal Trade Commission", "ORG")])
    assert keyword_org_spans(text2, two) == []


def test_corporate_suffix_end_takes_group_words() -> None:
    text = "investigations into Meta Platforms and Coinbase Global Inc. over"
    meta_end = text.index("Meta") + len("Meta")
    assert text[text.index("Meta") : corporate_suffix_end(text, meta_end)] == "Meta Platforms"
    coin_end = text.index("Coinbase") + len("Coinbase")
    assert text[text.index("Coinbase") : corporate_suffix_end(text, coin_end)] == (
        "Coinbase Global Inc.")


def test_mentions_inside_an_extended_span_are_dropped(nlp: Language) -> None:
    text = "Germany's Siemens AG agreed on Monday to buy a software company."
    mentions = [m.text for m in mentions_from_doc(nlp(text))]
    assert "Siemens AG" in mentions and "AG" not in mentions


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("Crowds celebrated in the streets of Khan Younis.", "Khan Younis", True),
        ("famine in the Zamzam camp near El Fasher.", "El Fasher", True),
        ("a cave in the state of Thuringia.", "Thuringia", True),
        ("a plant near Goldman Sachs offices", "Goldman Sachs", True),  # shape only: see below
        ("a clinic near the Kennedy Space Center", "Kennedy Space Center", False),
        ("Analysts at Barclays said", "Barclays", False),
    ],
)
def test_place_by_context(text: str, name: str, expected: bool) -> None:
    from pipeline.enrichment.entities import place_by_context

    start = text.index(name)
    assert place_by_context(text, start, start + len(name)) is expected


def test_place_by_context_defers_to_the_alias_table(aliases: AliasTable) -> None:
    # The span gets a LOC label, but a listed organisation keeps its table category.
    assert normalise_mention("NATO", "LOC", aliases) == NormalisedMention("NATO", "organization")


def test_keyword_org_spans_split_at_and_the() -> None:
    text = "Economists expect the European Central Bank and the Bank of Zembla to cut rates."
    found = [text[s:e] for s, e, _ in keyword_org_spans(text, [])]
    assert found == ["European Central Bank", "Bank of Zembla"]


def test_keyword_org_spans_absorb_the_tail_of_a_head_word_name() -> None:
    text = "He will appeal to the U.S. Court of Appeals for the Second Circuit next week."
    entities = _spans(text, [("U.S.", "GPE"), ("the Second Circuit", "ORG")])
    found = keyword_org_spans(text, entities)
    assert [(text[s:e], r) for s, e, r in found] == [
        ("U.S. Court of Appeals for the Second Circuit", [0, 1])]


def test_person_by_speech() -> None:
    from pipeline.enrichment.entities import person_by_speech

    places = PlaceNames.from_names(cities=["Moscow"])
    cases = [
        ("This is for the city, Tatum said.", "Tatum", "GPE", True),
        ("Moscow said it would respond.", "Moscow", "GPE", False),  # a known place speaks
        ("Acme said profits rose.", "Acme", "ORG", False),  # organisations speak too
        ("The union welcomed Ms. Okafor's appointment.", "Okafor", "ORG", True),
        ("Kansas City Chiefs said", "Kansas City Chiefs", "GPE", False),  # three words
    ]
    for text, name, label, expected in cases:
        start = text.index(name)
        assert person_by_speech(text, start, start + len(name), places, label) is expected, text


def test_untagged_full_names() -> None:
    from pipeline.enrichment.entities import untagged_full_names

    text = ("Jayson Tatum scored 31 points. Coach Tatum smiled. "
            "Tatum said it was for the city. Mayor Wu and Joe Mazzulla agreed; Mazzulla left.")
    mentions = [("Tatum", "PERSON", text.index("Tatum said")),
                ("Joe Mazzulla", "PERSON", text.index("Joe Mazzulla")),
                ("Mazzulla", "PERSON", text.rindex("Mazzulla")),
                ("Wu", "PERSON", text.index("Wu"))]
    spans = [text[s:e] for s, e in untagged_full_names(text, mentions)]
    assert spans == ["Jayson Tatum"]  # "Mayor Wu": a title; Mazzulla already has a full name


def test_generic_org_words_are_dropped(aliases: AliasTable) -> None:
    from pipeline.enrichment.entities import is_generic_org_word

    assert is_generic_org_word("Court", aliases)
    assert not is_generic_org_word("Supreme Court", aliases)
    assert not is_generic_org_word("Bundestag", aliases)
    mentions = [
        Mention("International Court of Justice", "ORG", 0),
        Mention("International Criminal Court", "ORG", 40),
        Mention("Court", "ORG", 80),  # two courts in the article: which one is unknown
    ]
    entities = resolve_mentions(mentions, aliases, PLACES)
    assert sorted(r.canonical for r in entities.organizations) == [
        "International Court of Justice", "International Criminal Court"]


def test_a_court_named_after_a_circuit_is_not_a_site(aliases: AliasTable) -> None:
    from pipeline.enrichment.entities import refine_label

    assert refine_label("Court of Appeals for the Second Circuit", "ORG", aliases) == "ORG"
    assert refine_label("Silverstone Circuit", "ORG", aliases) == "FAC"


def test_plays_a_match() -> None:
    from pipeline.enrichment.entities import plays_a_match

    text = "Arsenal drew at home to Brighton, then travel to face Sporting. Lisbon is sunny."
    for name, expected in (("Brighton", True), ("Sporting", True), ("Lisbon", False)):
        start = text.index(name)
        assert plays_a_match(text, start, start + len(name)) is expected, name


def test_opponent_club_in_sports_articles(aliases: AliasTable) -> None:
    places = PlaceNames.from_names(countries=["France"], cities=["Brighton"])
    brighton = Mention("Brighton", "GPE", 0, opponent=True)
    france = Mention("France", "GPE", 20, opponent=True)
    mentions = [Mention("Premier League", "ORG", 40), brighton, france]
    entities = resolve_mentions(mentions, aliases, places)
    assert sorted(entities.names("organization")) == ["Brighton", "Premier League"]
    assert entities.names("location") == ["France"]  # national teams stay countries
    # Outside a sports article the same mention stays a place.
    assert resolve_mentions([brighton], aliases, places).names("location") == ["Brighton"]
