"""Unit tests of round 5's general rules (organisations first): name shapes no person
carries, demonyms and countries inside organisation names, possessives inside names, clubs
in sports articles. Pure functions, no spaCy model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipeline.enrichment.entities import (
    AliasTable,
    Mention,
    NormalisedMention,
    club_category,
    company_shaped_place,
    corporate_full_names,
    country_org_spans,
    demonym_opens_org,
    is_org_word,
    label_from_context,
    listed_remit_end,
    load_ner_model,
    looks_like_person_name,
    mentions_from_doc,
    merge_org_spans,
    not_a_person_shape,
    org_by_context,
    places_heading_orgs,
    possessive_org_spans,
    score_trimmed_end,
    second_place_of_org,
    singular,
    split_country_prefix,
    split_owner_possessive,
    split_person_of_org,
    unit_name_end,
)
from pipeline.enrichment.places import PlaceNames

if TYPE_CHECKING:
    from spacy.language import Language

PLACES = PlaceNames.from_names(countries=["Australia", "Canada"], regions=["New York"])
TABLE = AliasTable.from_mapping(
    {"locations": {"United Kingdom": ["UK"], "United States": ["USA", "U.S."]},
     "organizations": {"Google": [], "Department of Justice": ["Justice Department"]}}
)


def _is_country(name: str) -> bool:
    hit = TABLE.lookup(name)
    return PLACES.kind(name) == "country" or (hit is not None and hit[1] == "location")


def _span(text: str, part: str, label: str) -> tuple[int, int, str]:
    start = text.index(part)
    return (start, start + len(part), label)


# --- name shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [("Universities", "university"), ("Institutes", "institute"), ("Services", "service"),
     ("Press", "press"), ("Corp.", "corp")],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [("Institutes", True), ("Guild", True), ("Services", True), ("Banks", False),
     ("Chambers", False), ("Smith", False)],
)
def test_is_org_word_takes_plurals_of_name_keywords_only(word: str, expected: bool) -> None:
    assert is_org_word(word) is expected


@pytest.mark.parametrize(
    "name",
    ["The Writers Guild", "The Indian Institutes", "QpiAI", "DeepSeek", "ETH Zurich",
     "Writers Guild"],
)
def test_not_a_person_shape(name: str) -> None:
    assert not_a_person_shape(name)
    assert not looks_like_person_name(name)


@pytest.mark.parametrize(
    "name",
    ["LeBron James", "Ronald McDonald", "Mohammed AlQuraishi", "Leonardo DiCaprio",
     "Henry VIII", "Tyra Banks", "JD Vance", "NASA Administrator Bill Nelson", "ATACMS"],
)
def test_person_spellings_are_not_org_shapes(name: str) -> None:
    assert not not_a_person_shape(name)


def test_org_of_place_is_not_split_as_person_of_org() -> None:
    text = "The Writers Guild of America said the merger would cost jobs."
    assert split_person_of_org(text, 0, len("The Writers Guild of America")) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [("Chief Nagendra Nagaraja of QpiAI and ETH Zurich said so.", "ETH Zurich"),
     ("The chatbot from Moonshot AI rose.", "Moonshot AI"),
     ("Rival Honda Motor reports on Friday.", "Honda Motor")],
)
def test_person_span_with_org_shape_becomes_org(text: str, name: str) -> None:
    start = text.index(name)
    assert label_from_context(text, start, start + len(name), "PERSON", PLACES) == "ORG"


# --- demonyms and places inside names -------------------------------------------------------


def test_demonym_opens_an_organisation_ending_in_a_keyword() -> None:
    text = "income from the Indian Premier League, whose deal"
    spans = [_span(text, "Indian", "NORP"), _span(text, "Premier League", "ORG")]
    assert demonym_opens_org(text, *spans)
    merged = merge_org_spans(text, spans, PLACES)
    assert [text[s:e] for s, e, _ in merged] == ["Indian Premier League"]
    assert merged[0][2] == "ORG"


def test_demonym_before_a_name_without_keyword_stays_apart() -> None:
    text = "The German Bundesliga resumed."
    spans = [_span(text, "German", "NORP"), _span(text, "Bundesliga", "ORG")]
    assert not demonym_opens_org(text, *spans)
    assert len(merge_org_spans(text, spans, PLACES)) == 2


def test_second_place_joins_an_org_of_place() -> None:
    text = "The Port Authority of New York and New Jersey, which runs the tunnels"
    spans = [_span(text, "Port Authority of New York", "ORG"), _span(text, "New Jersey", "GPE")]
    assert second_place_of_org(text, *spans)
    assert [text[s:e] for s, e, _ in merge_org_spans(text, spans, PLACES)] == [
        "Port Authority of New York and New Jersey"
    ]


@pytest.mark.parametrize(
    ("text", "org", "place"),
    [("The Bank of England and France's central bank disagreed.", "Bank of England", "France"),
     ("at the University of Ottawa and Canada Goose said", "University of Ottawa", "Canada")],
)
def test_second_place_not_joined_when_the_phrase_goes_on(text: str, org: str, place: str) -> None:
    assert not second_place_of_org(text, _span(text, org, "ORG"), _span(text, place, "GPE"))


@pytest.mark.parametrize(
    ("text", "country", "expected"),
    [("It said. Universities UK, which represents them, agreed.", "UK", "Universities UK"),
     ("The charity Cancer Research UK said so.", "UK", "Cancer Research UK"),
     ("The charity Alzheimer's Research UK urged it.", "UK", "Alzheimer's Research UK"),
     ("Officials at USA Track & Field said.", "USA", "USA Track & Field"),
     ("A ruling by Athletics Australia came.", "Australia", "Athletics Australia")],
)
def test_country_org_spans(text: str, country: str, expected: str) -> None:
    spans = [_span(text, country, "GPE")]
    found = country_org_spans(text, spans, _is_country)
    assert [(text[s:e], covered) for s, e, covered in found] == [(expected, [0])]


@pytest.mark.parametrize(
    ("text", "country"),
    [("Trade with Canada rose.", "Canada"), ("Exports From Australia fell.", "Australia"),
     ("Prime Minister Keir Starmer UK visit", "UK")],
)
def test_country_org_spans_leaves_places_alone(text: str, country: str) -> None:
    spans = [_span(text, country, "GPE")]
    if "Starmer" in text:
        spans = [_span(text, "Keir Starmer", "PERSON"), *spans]
    assert country_org_spans(text, spans, _is_country) == []


def test_country_prefix_kept_before_a_sport() -> None:
    mention = Mention("USA Track & Field", "ORG", 10)
    assert split_country_prefix(mention, TABLE) == [mention]
    split = split_country_prefix(Mention("U.S. Supreme Court", "ORG", 0), TABLE)
    assert [(m.text, m.label) for m in split] == [("U.S.", "GPE"), ("Supreme Court", "ORG")]


# --- cues, scores, consistency within the article ----------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "label"),
    [("as Google's parent Alphabet designs chips", "Alphabet", "PERSON"),
     ("The airline's low-cost arm, Jetstar, was not", "Jetstar", "GPE"),
     ("Price comparison site Foundem, whose complaint", "Foundem", "PERSON"),
     ("funded by the hedge fund High-Flyer, said", "High-Flyer", "PERSON"),
     ("through its unit Woven, which", "Woven", "GPE")],
)
def test_corporate_family_nouns_mark_organisations(text: str, name: str, label: str) -> None:
    start = text.index(name)
    assert org_by_context(text, start, start + len(name), PLACES, label)


def test_a_parent_in_a_family_sense_needs_the_noun_right_before() -> None:
    text = "Her parents Maria Lopez and Juan Lopez said"
    start = text.index("Maria Lopez")
    assert not org_by_context(text, start, start + len("Maria Lopez"), PLACES, "PERSON")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("NatWest", True), ("BlackRock", True), ("McAllen", False), ("Canada", False),
     ("Springfield", False)],
)
def test_company_shaped_place(name: str, expected: bool) -> None:
    assert company_shaped_place(name, PLACES) is expected


def test_natwest_tagged_as_place_becomes_org() -> None:
    text = "rivals Lloyds Banking Group and NatWest fell."
    start = text.index("NatWest")
    assert label_from_context(text, start, start + 7, "GPE", PLACES) == "ORG"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [("thrashing Werder Bremen 5-0 to end", "Werder Bremen 5-0", "Werder Bremen"),
     ("the Boeing 737-800 jet", "Boeing 737-800", "Boeing 737-800"),
     ("with 5-0", "5-0", "5-0")],
)
def test_score_trimmed_end(text: str, name: str, expected: str) -> None:
    start = text.index(name)
    assert text[start:score_trimmed_end(text, start, start + len(name))] == expected


def test_place_heading_an_org_of_the_article_is_the_org() -> None:
    text = "Carlsberg agreed a deal. The Carlsberg Foundation backs it. Carlsberg fell."
    mentions = [
        Mention("Carlsberg", "GPE", 0),
        Mention("The Carlsberg Foundation", "ORG", 25),
        Mention("Carlsberg", "GPE", text.rindex("Carlsberg")),
    ]
    labels = [m.label for m in places_heading_orgs(mentions, PLACES, TABLE, text)]
    assert labels == ["ORG", "ORG", "ORG"]


@pytest.mark.parametrize(
    ("text", "place", "org"),
    [("It neared the southeastern Caribbean. The Caribbean Disaster Agency said",
      "Caribbean", "The Caribbean Disaster Agency"),
     ("Trade with Canada rose. The Canada Pension Plan said", "Canada", "The Canada Pension Plan")],
)
def test_regions_and_known_places_heading_orgs_stay_places(
    text: str, place: str, org: str
) -> None:
    mentions = [Mention(place, "LOC", text.index(place)), Mention(org, "ORG", text.index(org))]
    assert places_heading_orgs(mentions, PLACES, TABLE, text)[0].label == "LOC"


# --- possessives ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span", "parts"),
    [("an appeal by Alphabet's Google against", "Alphabet's Google", ("Alphabet", "Google")),
     ("said Trump's Justice Department", "Trump's Justice Department",
      ("Trump", "Justice Department"))],
)
def test_split_owner_possessive(text: str, span: str, parts: tuple[str, str]) -> None:
    start = text.index(span)
    cut = split_owner_possessive(text, start, start + len(span), TABLE)
    assert cut is not None
    assert (text[start:cut[0]], text[cut[1]:start + len(span)]) == parts


@pytest.mark.parametrize(
    "span", ["Alzheimer's Research UK", "McDonald's Corp", "Christie's"]
)
def test_possessive_names_stay_whole(span: str) -> None:
    text = f"Shares of {span} rose."
    start = text.index(span)
    assert split_owner_possessive(text, start, start + len(span), TABLE) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("director of the Alzheimer's Society said", "Alzheimer's Society"),
     ("The Football Supporters' Association welcomed it", "Football Supporters' Association"),
     ("at Dayton Children's Hospital on Friday", "Dayton Children's Hospital")],
)
def test_possessive_org_spans(text: str, expected: str) -> None:
    found = possessive_org_spans(text, [], PLACES)
    assert [text[s:e] for s, e, _ in found] == [expected]


def test_possessive_org_spans_replace_the_keyword_the_model_found() -> None:
    text = "director of the Alzheimer's Society said"
    spans = [_span(text, "Society", "ORG")]
    assert possessive_org_spans(text, spans, PLACES) == [
        (text.index("Alzheimer"), text.index(" said"), [0])
    ]


@pytest.mark.parametrize(
    ("text", "spans"),
    [("Canada's Competition Bureau said", []),
     ("Trump's Justice Department sued", [("Trump", "PERSON")]),
     ("Google's Research Council met", [("Google", "ORG")]),
     ("The company's Audit Committee met", [])],
)
def test_owners_are_not_part_of_the_name(text: str, spans: list[tuple[str, str]]) -> None:
    assert possessive_org_spans(text, [_span(text, n, label) for n, label in spans], PLACES) == []


# --- clubs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Real Sociedad", "AS Roma", "Werder Bremen", "Nottingham Forest", "Crystal Palace"]
)
def test_club_heads_and_tails_make_clubs_in_sports_articles(name: str) -> None:
    norm = club_category(NormalisedMention(name, "person"), PLACES)
    assert norm == NormalisedMention(name, "organization")
    assert not looks_like_person_name(name)


@pytest.mark.parametrize(
    ("name", "category"), [("Stade de France", "location"), ("Real Madrid", "organization"),
                           ("New York", "location")]
)
def test_club_category_leaves_others(name: str, category: str) -> None:
    assert club_category(NormalisedMention(name, category), PLACES).category == category


# --- units and subsidiaries named after the parent -----------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [("Samsung Biologics and Samsung SDI were", "Samsung", "Samsung Biologics"),
     ("and Samsung SDI, affiliates", "Samsung", "Samsung SDI"),
     ("on BBC Studios, the arm", "BBC", "BBC Studios"),
     ("Sony Pictures Entertainment and Apollo", "Sony", "Sony Pictures Entertainment"),
     ("the pay-TV group Canal+ and the publisher", "Canal", "Canal+"),
     ("Apple Music and Apple TV grew", "Apple", "Apple"),
     ("Samsung Galaxy phones", "Samsung", "Samsung"),
     ("said Google on Monday", "Google", "Google")],
)
def test_unit_name_end(text: str, name: str, expected: str) -> None:
    start = text.index(name)
    assert text[start:unit_name_end(text, start + len(name), {})] == expected


def test_unit_name_end_stops_at_another_name() -> None:
    text = "as Reuters Jane Smith Group reported"
    start = text.index("Jane")
    assert unit_name_end(text, len("as Reuters"), {start: "PERSON"}) == len("as Reuters")


# --- ministries named after a list of remits ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cut", "expected"),
    [("The Department for Culture, Media and Sport is consulting", "Department for Culture",
      "Department for Culture, Media and Sport"),
     ("by the Ministry of Land, Infrastructure, Transport and Tourism found", "Ministry of Land",
      "Ministry of Land, Infrastructure, Transport and Tourism")],
)
def test_listed_remit_end(text: str, cut: str, expected: str) -> None:
    start = text.index(cut)
    assert text[start:listed_remit_end(text, start, start + len(cut), TABLE)] == expected


@pytest.mark.parametrize(
    ("text", "cut"),
    [("The Department of Energy, Google and Microsoft said", "Department of Energy"),
     ("Apple, Samsung and Sony said", "Apple"),
     ("the Ministry of Defence, Thales and Google said", "Ministry of Defence")],
)
def test_listed_remit_end_leaves_lists_of_names(text: str, cut: str) -> None:
    start = text.index(cut)
    assert listed_remit_end(text, start, start + len(cut), TABLE) == start + len(cut)


# --- short company names ------------------------------------------------------------------


def test_short_names_of_airlines_and_carmakers_take_the_full_name() -> None:
    items = [NormalisedMention(n, "organization") for n in
             ("Qantas", "Qantas Airways", "Toyota", "Toyota Motor Corp", "Tata", "Tata Motors")]
    items.append(NormalisedMention("Singapore", "location"))
    items.append(NormalisedMention("Singapore Airlines", "organization"))
    assert corporate_full_names(items) == {
        "Qantas": "Qantas Airways", "Toyota": "Toyota Motor Corp"
    }


# --- the rules in place, on the model's spans -------------------------------------------------


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner_model()


@pytest.mark.parametrize(
    ("body", "expected"),
    [("Most cuts will fall on BBC Studios, the commercial arm.", "BBC Studios"),
     ("The Department for Culture, Media and Sport is consulting.",
      "Department for Culture, Media and Sport"),
     ("Director Fiona Carragher of the Alzheimer's Society said so.", "Alzheimer's Society")],
)
def test_body_names_are_extended_in_mentions(nlp: Language, body: str, expected: str) -> None:
    text = "Headline\n\n" + body
    mentions = mentions_from_doc(nlp(text), text=text, title_chars=len("Headline"))
    assert any(m.text.removeprefix("the ") == expected for m in mentions)


def test_title_case_headlines_are_not_extended(nlp: Language) -> None:
    title = "Nvidia Chips Power AI Boom"
    text = title + "\n\nNvidia said its chips sold out."
    mentions = mentions_from_doc(nlp(text), text=text, title_chars=len(title))
    assert all("Power" not in m.text for m in mentions)
