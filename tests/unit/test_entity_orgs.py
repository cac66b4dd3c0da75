"""Unit tests of the organisations round: context cues, events, cut names joined back,
names extended to their first word, leading lowercase words, acronyms of the article's
own organisations. Pure functions, no spaCy."""

from __future__ import annotations

import pytest

from pipeline.enrichment.entities import (
    AliasTable,
    Mention,
    NormalisedMention,
    clubs_everywhere,
    default_alias_table,
    geo_feature_follows,
    label_from_context,
    link_acronyms,
    looks_like_person_name,
    merge_org_spans,
    modifies_a_title,
    names_an_event,
    normalise_mention,
    org_by_context,
    org_start,
    person_by_role,
    persons_by_list,
    relabel_surname_spans,
    resolve_mentions,
    site_name_end,
    split_person_of_org,
    strip_leading_lowercase,
)
from pipeline.enrichment.places import PlaceNames

PLACES = PlaceNames.from_names(
    countries=["Netherlands", "Japan"], cities=["Oxford", "San Diego", "London"],
    regions=["Santa Cruz"],
)


@pytest.fixture(scope="module")
def aliases() -> AliasTable:
    return default_alias_table()


def _span(text: str, name: str) -> tuple[int, int]:
    start = text.index(name)
    return start, start + len(name)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("a hack of health insurer Medibank Private in 2022", "Medibank Private", True),
        ("said Julie Utterback, an analyst at Morningstar.", "Morningstar", True),
        ("against online marketplace Temu on Thursday", "Temu", True),
        ("Milieudefensie, which is the Dutch arm, said", "Milieudefensie", True),
        ("a professor at Oxford said", "Oxford", False),  # a known place stays a place
        ("the rival Donald Trump said", "Donald Trump", False),  # "rival" is not a cue
        ("Ms. Temu, which surprised nobody", "Temu", False),  # an honorific wins
        ("Julie Utterback said on Tuesday", "Julie Utterback", False),
    ],
)
def test_org_by_context(text: str, name: str, expected: bool) -> None:
    start, end = _span(text, name)
    assert org_by_context(text, start, end, PLACES) is expected


def test_label_from_context_moves_persons_to_organisations_and_drops_events() -> None:
    text = "an analyst at Morningstar said at the Computex trade show in Taipei"
    start, end = _span(text, "Morningstar")
    assert label_from_context(text, start, end, "PERSON", PLACES) == "ORG"
    start, end = _span(text, "Computex")
    assert label_from_context(text, start, end, "ORG", PLACES) == "EVENT"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("at the Computex trade show", "Computex", True),
        ("the Cannes festival opened", "Cannes", True),
        ("at a NATO summit in Vilnius", "NATO", False),
        ("Reuters reported", "Reuters", False),
    ],
)
def test_names_an_event(text: str, name: str, expected: bool) -> None:
    assert names_an_event(text, _span(text, name)[1]) is expected


def _spans(text: str, *named: tuple[str, str]) -> list[tuple[int, int, str]]:
    return sorted((*_span(text, name), label) for name, label in named)


def test_merge_org_spans_joins_adjacent_organisations() -> None:
    text = "Toyota Motor Corp gained 1.2%."
    spans = _spans(text, ("Toyota", "ORG"), ("Motor Corp", "ORG"))
    assert merge_org_spans(text, spans, PLACES) == [(*_span(text, "Toyota Motor Corp"), "ORG")]


def test_merge_org_spans_joins_a_national_branch_ending_the_phrase() -> None:
    text = "Greenpeace Netherlands called the ruling a missed opportunity."
    spans = _spans(text, ("Greenpeace", "ORG"), ("Netherlands", "GPE"))
    assert merge_org_spans(text, spans, PLACES) == [
        (*_span(text, "Greenpeace Netherlands"), "ORG")
    ]
    # A country that starts a new phrase is not a branch: "Shell Japan imports" unchanged.
    text = "Shell Japan imports rose."
    spans = _spans(text, ("Shell", "ORG"), ("Japan", "GPE"))
    assert merge_org_spans(text, spans, PLACES) == spans


def test_merge_org_spans_joins_a_campus_but_not_a_list() -> None:
    text = "Brant Robertson of the University of California, Santa Cruz, said"
    spans = _spans(text, ("University of California", "ORG"), ("Santa Cruz", "GPE"))
    assert merge_org_spans(text, spans, PLACES) == [
        (*_span(text, "University of California, Santa Cruz"), "ORG")
    ]
    text = "the University of California, San Diego and London"
    spans = _spans(text, ("University of California", "ORG"), ("San Diego", "GPE"),
                   ("London", "GPE"))
    assert merge_org_spans(text, spans, PLACES) == spans
    text = "the University of California, Japan."  # a country is never a campus
    spans = _spans(text, ("University of California", "ORG"), ("Japan", "GPE"))
    assert merge_org_spans(text, spans, PLACES) == spans


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("He led the Union for a Popular Movement party.", "Popular Movement party",
         "Union for a Popular Movement party"),
        ("Christian Lindner of the Free Democrats said", "Democrats", "Free Democrats"),
        ("Olaf Scholz's Social Democrats won", "Democrats", "Social Democrats"),
        ("Rival Rite Aid closed stores.", "Rite Aid", "Rite Aid"),  # sentence start
        ("On Monday Google said", "Google", "Google"),  # a date is not a name
        ("chief executive Sundar Pichai said", "Sundar Pichai", "Sundar Pichai"),
        ("Finance Minister Lindner said", "Lindner", "Lindner"),  # a title
    ],
)
def test_org_start(text: str, name: str, expected: str) -> None:
    start, end = _span(text, name)
    assert text[org_start(text, start):end] == expected


def test_org_start_stops_at_the_previous_entity() -> None:
    text = "Apple Democrats"
    start = text.index("Democrats")
    assert org_start(text, start, taken_until=len("Apple")) == start


def test_strip_leading_lowercase(aliases: AliasTable) -> None:
    assert strip_leading_lowercase("first Group of Seven") == "Group of Seven"
    assert strip_leading_lowercase("easyJet") == "easyJet"
    assert strip_leading_lowercase("lowercase") == "lowercase"  # nothing else left
    assert normalise_mention("the first Group of Seven", "ORG", aliases) == NormalisedMention(
        "G7", "organization")


def _pair(text: str, norm: NormalisedMention) -> tuple[Mention, NormalisedMention]:
    return Mention(text, "ORG", 0), norm


def test_alias_acronym_yields_to_the_articles_own_organisation(aliases: AliasTable) -> None:
    police = NormalisedMention("Australian Federal Police", "organization")
    agency = NormalisedMention("Agence France-Presse", "organization")
    items = [_pair("The Australian Federal Police", police), _pair("AFP", agency)]
    assert [n for _, n in link_acronyms(items, aliases)] == [police, police]
    # When the article names the table's organisation in words, the table wins.
    items = [_pair("Agence France-Presse", agency), *items]
    assert [n.canonical for _, n in link_acronyms(items, aliases)][-1] == "Agence France-Presse"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Marc Chagall", True),
        ("Matthijs de Ligt", True),
        ("Reserve Bank", False),
        ("Economic Community", False),
        ("Aston Villa", False),  # a club word
        ("Mega Basket", True),  # no organisation word: the callers need more evidence
        ("Manchester United", False),
        ("Soudal Quick-Step Team", False),
    ],
)
def test_looks_like_person_name(name: str, expected: bool) -> None:
    assert looks_like_person_name(name) is expected


def test_split_person_of_org() -> None:
    text = "with Remco Evenepoel of Soudal Quick-Step third"
    start, end = _span(text, "Remco Evenepoel of Soudal Quick-Step")
    person_end, org_begin = split_person_of_org(text, start, end) or (0, 0)
    assert text[start:person_end] == "Remco Evenepoel"
    assert text[org_begin:end] == "Soudal Quick-Step"
    for name in ("Reserve Bank of India", "Economic Community of West African States",
                 "Bank of England"):
        text = f"the {name} said"
        assert split_person_of_org(text, *_span(text, name)) is None, name


def test_person_by_role_reads_the_body_a_person_belongs_to() -> None:
    text = "a team led by Stefano Carniani of the Scuola Normale Superiore in Pisa"
    assert person_by_role(text, *_span(text, "Stefano Carniani"))
    text = "the Reserve Bank of India said"
    assert not person_by_role(text, *_span(text, "Reserve Bank"))


def test_relabel_surname_spans_uses_lone_words_of_any_label(aliases: AliasTable) -> None:
    places = PlaceNames.from_names(cities=["Denver"])
    items = [
        NormalisedMention("Marc Chagall", "organization"),
        NormalisedMention("Chagall", "organization"),
        NormalisedMention("Denver Nuggets", "organization"),  # a place as given name
        NormalisedMention("Nuggets", "organization"),
        NormalisedMention("Indian National Congress", "organization"),  # organisation words
        NormalisedMention("Congress", "organization"),
    ]
    relabelled = relabel_surname_spans(items, aliases, places)
    assert [n.category for n in relabelled[::2]] == ["person", "organization", "organization"]


def test_site_name_end() -> None:
    text = "at Tottenham Hotspur Stadium on Saturday"
    end = _span(text, "Tottenham Hotspur")[1]
    assert text[: site_name_end(text, end) or 0].endswith("Tottenham Hotspur Stadium")
    text = "the Wembley Stadium Trust said"  # the site word does not end the name
    assert site_name_end(text, _span(text, "Wembley")[1]) is None
    assert site_name_end("Arsenal won", len("Arsenal")) is None


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("Education Secretary Bridget Phillipson said", "Education", True),
        ("Media regulator Ofcom said", "Media", True),
        ("NATO Secretary General Mark Rutte said", "NATO", False),  # alias-table name
        ("Kremlin spokesman Dmitry Peskov", "Kremlin", False),
        ("the BMA secretary said", "BMA", False),  # an acronym names a body
        ("Ofcom said", "Ofcom", False),
    ],
)
def test_modifies_a_title(text: str, name: str, expected: bool) -> None:
    assert modifies_a_title(text, *_span(text, name)) is expected


def test_geo_feature_follows_place_type_nouns() -> None:
    text = "its hospital in the Tabarre district received victims"
    assert geo_feature_follows(text, _span(text, "Tabarre")[1])
    text = "Tabarre said"
    assert not geo_feature_follows(text, _span(text, "Tabarre")[1])


def test_clubs_everywhere() -> None:
    club = NormalisedMention("Toulouse", "organization")
    city = NormalisedMention("Toulouse", "location")
    items = [
        (Mention("Toulouse", "GPE", 0, opponent=True), club),
        (Mention("Toulouse", "GPE", 40), city),
        (Mention("London", "GPE", 80), NormalisedMention("London", "location")),
    ]
    assert [n.category for _, n in clubs_everywhere(items)] == [
        "organization", "organization", "location"]


def test_two_match_mentions_make_a_sports_article(aliases: AliasTable) -> None:
    places = PlaceNames.from_names(cities=["Toulouse", "Lyon"])
    mentions = [
        Mention("Toulouse", "GPE", 0, opponent=True),
        Mention("Lyon", "GPE", 20, opponent=True),
        Mention("Toulouse", "GPE", 60),
    ]
    entities = resolve_mentions(mentions, aliases, places)
    assert sorted(entities.names("organization")) == ["Lyon", "Toulouse"]
    # One match mention alone, with no competition named, is not enough.
    entities = resolve_mentions(mentions[1:], aliases, places)
    assert entities.names("organization") == []


def test_org_by_context_press_nouns_and_appositions() -> None:
    text = "The Nikkei newspaper reported"
    assert org_by_context(text, *_span(text, "Nikkei"), PLACES, "GPE")
    text = "the largest union federation, Rengo, reported"
    assert org_by_context(text, *_span(text, "Rengo"), PLACES, "PRODUCT")
    # The comma form never turns a tagged person into an organisation.
    text = "a lawyer for the firm, John Smith, said"
    assert not org_by_context(text, *_span(text, "John Smith"), PLACES, "PERSON")


def test_merge_org_spans_joins_a_one_word_person_after_an_organisation() -> None:
    text = "Google DeepMind released"
    spans = _spans(text, ("Google", "ORG"), ("DeepMind", "PERSON"))
    assert merge_org_spans(text, spans, PLACES) == [(*_span(text, "Google DeepMind"), "ORG")]
    text = "Reuters John Smith"  # a full name is not part of the organisation
    spans = _spans(text, ("Reuters", "ORG"), ("John Smith", "PERSON"))
    assert merge_org_spans(text, spans, PLACES) == spans


def test_persons_by_list() -> None:
    text = "works by Jackson Pollock, Mark Rothko and Joan Mitchell"
    spans = _spans(text, ("Jackson Pollock", "ORG"), ("Mark Rothko", "PERSON"),
                   ("Joan Mitchell", "PERSON"))
    assert [label for *_, label in persons_by_list(text, spans)] == ["PERSON"] * 3
    # Listed with organisations, or not person-shaped: unchanged.
    text = "Goldman Sachs, Morgan Stanley and Jane Fraser"
    spans = _spans(text, ("Goldman Sachs", "ORG"), ("Morgan Stanley", "ORG"),
                   ("Jane Fraser", "PERSON"))
    assert persons_by_list(text, spans) == spans
    text = "HP Inc and Dell"
    spans = _spans(text, ("HP Inc", "ORG"), ("Dell", "PERSON"))
    assert persons_by_list(text, spans) == spans


def test_a_party_that_speaks_stays_a_party() -> None:
    text = "Christian Lindner of the Free Democrats said he would act"
    start, end = _span(text, "Democrats")
    assert label_from_context(text, start, end, "NORP", PLACES) == "NORP"
    assert text[org_start(text, start):end] == "Free Democrats"
