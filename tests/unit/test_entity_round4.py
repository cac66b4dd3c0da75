"""Unit tests of round 4's general rules found in the d4 dev articles: dateline places,
names defined with their acronym, more context cues for organisations. Pure functions, no
spaCy model."""

from __future__ import annotations

import pytest

from pipeline.enrichment.entities import (
    AliasTable,
    NormalisedMention,
    acronym_name_spans,
    amount_trimmed_end,
    dateline_place_spans,
    dateline_spans,
    ends_with_company_word,
    in_a_list,
    label_from_context,
    location_short_names,
    merge_org_spans,
    normalise_dateline,
    org_by_context,
    place_category,
    plays_a_match,
    relabel_surname_spans,
    repair_span_end,
    starts_with_long_place,
    untagged_org_spans,
)
from pipeline.enrichment.places import PlaceNames

PLACES = PlaceNames.from_names(
    countries=["Senegal"], cities=["Oxford", "Abu Dhabi", "San Antonio"], regions=["New York"]
)

TABLE = AliasTable.from_mapping(
    {"organizations": {"United Nations": ["UNITED NATIONS"]}, "locations": {"Ohio": []}}
)


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("PORT MORESBY, May 25 - More than 300 people", ["PORT MORESBY"]),
        ("DAYTON, Ohio - A 92-year-old", ["DAYTON", "Ohio"]),
        ("LONDON, Feb 6 (Reuters) - Shares", ["LONDON"]),
        ("SEATTLE, Nov. 4 - Boeing", ["SEATTLE"]),
        ("CAPE CANAVERAL, Fla. - NASA", ["CAPE CANAVERAL", "Fla."]),
        ("ATLANTA (AP) - Georgia's", ["ATLANTA"]),
        ("Genetic traces of H5N1 - found", []),  # no all-capitals dateline
        ("NEW DELHI the capital", []),  # no dash: not a dateline
    ],
)
def test_dateline_place_spans(text: str, places: list[str]) -> None:
    assert [text[s:e] for s, e in dateline_place_spans(text)] == places


def test_dateline_places_replace_the_models_spans() -> None:
    text = "Dakar, Nov 21 . Senegal's ruling party"
    spans = [(0, 5, "PERSON"), (7, 13, "DATE"), (16, 23, "GPE")]
    assert dateline_spans(text, spans, [(0, 5)], TABLE) == [
        (0, 5, "GPE"), (7, 13, "DATE"), (16, 23, "GPE"),
    ]
    # "New Delhi" run into the headline ("C\n\nNew Delhi" as ORG) is cut back to the place
    text = "near 50 C\n\nNew Delhi, May 29 . Temperatures"
    start = text.index("New")
    assert dateline_spans(text, [(8, start + 9, "ORG")], [(start, start + 9)], TABLE) == [
        (start, start + 9, "GPE"),
    ]


def test_dateline_place_listed_as_organisation_is_left_to_the_table() -> None:
    text = "UNITED NATIONS - The Security Council"
    spans = [(0, 14, "ORG")]
    assert dateline_spans(text, spans, dateline_place_spans(text), TABLE) == spans


def test_normalise_dateline_keeps_particles_of_hyphenated_places_lower_case() -> None:
    text = "PORT-AU-PRINCE, Haiti - Gangs"
    normalised = normalise_dateline(text)
    assert normalised.startswith("Port-au-Prince, Haiti . Gangs")
    assert len(normalised) == len(text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "The Medicines and Healthcare products Regulatory Agency (MHRA) said",
            ["Medicines and Healthcare products Regulatory Agency"],
        ),
        (  # the acronym skips a word: "NICE"
            "draft guidance from the National Institute for Health and Care Excellence (NICE).",
            ["National Institute for Health and Care Excellence"],
        ),
        (
            "The International Association of Machinists and Aerospace Workers (IAM) said",
            ["International Association of Machinists and Aerospace Workers"],
        ),
        ("supplying high-bandwidth memory (HBM), the chips", []),  # no capitalised name
        ("Indonesia's National Research and Innovation Agency (BRIN) and", []),  # other language
        ("Britain's regulator, the Competition and Markets Authority (CMA), said",
         ["Competition and Markets Authority"]),
    ],
)
def test_acronym_name_spans(text: str, names: list[str]) -> None:
    assert [text[s:e] for s, e, _ in acronym_name_spans(text, [])] == names


def test_acronym_name_spans_replace_the_cut_pieces_only() -> None:
    text = "The Medicines and Healthcare products Regulatory Agency (MHRA) said"
    pieces = [(4, 13, "ORG"), (18, 28, "ORG"), (38, 55, "ORG")]
    assert acronym_name_spans(text, pieces) == [(4, 55, [0, 1, 2])]
    # already one entity: nothing to do; an entity crossing the run: left alone
    assert acronym_name_spans(text, [(4, 55, "ORG")]) == []
    assert acronym_name_spans(text, [(0, 13, "ORG")]) == []
    # headlines are title case: only body text counts
    assert acronym_name_spans(text, [], title_chars=len(text)) == []


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("Most of the goods, from Swiss watchmaker Audemars Piguet, were", "Audemars Piguet",
         True),
        ("spin off its channels into a company called Versant.", "Versant", True),
        ("Senegal's ruling Pastef party won 130 seats", "Pastef", True),
        ("allies, Nitish Kumar's party in Bihar", "Nitish Kumar's", False),  # possessive
        ("said Jon Holden, who leads the union", "Jon Holden", False),
    ],
)
def test_org_by_context_round4_cues(text: str, name: str, expected: bool) -> None:
    start = text.index(name)
    assert org_by_context(text, start, start + len(name), PLACES) is expected


def test_dateline_place_keeps_the_name_the_model_ran_into_it() -> None:
    text = "Manchester, England . Erling Haaland scored"
    start = text.index("England")
    run_in = (start, len("Manchester, England . Erling Haaland"), "ORG")
    assert dateline_spans(text, [run_in], [(start, start + 7)], TABLE) == [
        (start, start + 7, "GPE"), (text.index("Erling"), run_in[1], "ORG"),
    ]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Liverpool, who drew 1-1 at Aston Villa on Saturday", "Liverpool"),
        ("Liverpool, who drew 1-1 at Aston Villa on Saturday", "Aston Villa"),
        ("the visitors won 2-0 against the Lyon side", "Lyon"),
        ("Leinster beat Toulouse 23-20", "Leinster"),
    ],
)
def test_plays_a_match_with_scores_and_relative_clauses(text: str, name: str) -> None:
    start = text.index(name)
    assert plays_a_match(text, start, start + len(name))


def test_plays_a_match_needs_a_match() -> None:
    text = "Liverpool, which lies on the Mersey, drew 1,000 visitors"
    assert not plays_a_match(text, 0, len("Liverpool"))


@pytest.mark.parametrize(
    ("text", "span", "kept"),
    [
        ("fined Apple 500 million euros", "Apple 500 million", "Apple"),
        ("fined Apple 500 million euros", "Apple 500", "Apple"),
        ("fined Meta 200 % more", "Meta 200", "Meta"),
        ("the S&P 500 rose 1%", "S&P 500", "S&P 500"),  # an index name, not an amount
        ("the FTSE 100 index", "FTSE 100", "FTSE 100"),
        ("about 500 million euros", "500", "500"),  # a number alone is left to others
    ],
)
def test_amount_trimmed_end(text: str, span: str, kept: str) -> None:
    start = text.index(span)
    assert text[start:amount_trimmed_end(text, start, start + len(span))] == kept


def _locations(*names: str) -> list[NormalisedMention]:
    return [NormalisedMention(name, "location") for name in names]


def test_location_short_names_keep_places_that_a_word_makes_different() -> None:
    assert location_short_names(_locations("Sudan", "Port Sudan")) == {}
    assert location_short_names(_locations("Delhi", "New Delhi")) == {}
    assert location_short_names(_locations("Guinea", "Papua New Guinea")) == {}
    assert location_short_names(_locations("Congo", "Democratic Republic of the Congo")) == {
        "Congo": "Democratic Republic of the Congo"
    }


def test_place_category_moves_multi_word_cities_tagged_as_organisations() -> None:
    org = NormalisedMention("Abu Dhabi", "organization")
    assert place_category(org, TABLE, PLACES) == NormalisedMention("Abu Dhabi", "location")
    assert place_category(org, TABLE, PLACES, sport=True) == org  # a club in a match report


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("The conservative group GAFCON, which represents churches", ["GAFCON"]),
        ("Loganair, which flies to the island twice a week, offered", ["Loganair"]),
        ("the cloud platform of Snowflake, a data storage firm that", ["Snowflake"]),
        ("The charity Alzheimer's Research UK urged", ["Alzheimer's Research UK"]),
        ("Loganair's pilots, which", []),  # "'s" dropped; ", which" then follows nothing
        ("On Monday, which was a holiday", []),  # a date
        ("a professor at Oxford, which", []),  # a place
        ("The Council, which meets monthly", []),  # a lone keyword
        ("said Jon Holden, who leads the union", []),  # no cue
        ("boats on the Thames, which flooded", []),  # "the X, which": rivers, regions
    ],
)
def test_untagged_org_spans(text: str, names: list[str]) -> None:
    assert [text[s:e] for s, e in untagged_org_spans(text, [], 0, PLACES)] == names


def test_untagged_org_spans_leave_tagged_names_and_headlines_alone() -> None:
    text = "Loganair, which flies to the island"
    assert untagged_org_spans(text, [(0, 8, "PERSON")], 0, PLACES) == []
    assert untagged_org_spans(text, [], len(text), PLACES) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("New York Knicks", True),
        ("San Antonio Spurs", True),
        ("New York", False),  # the place itself
        ("Oxford Brookes", False),  # one-word places open many surnames' full names
        ("Jalen Brunson", False),
    ],
)
def test_starts_with_long_place(name: str, expected: bool) -> None:
    assert starts_with_long_place(name, PLACES) is expected


def test_team_named_after_a_long_place_is_not_a_person_named_by_its_last_word() -> None:
    items = [
        NormalisedMention("New York Knicks", "organization"),
        NormalisedMention("Knicks", "organization"),
    ]
    assert relabel_surname_spans(items, TABLE, PLACES) == items


def test_names_listed_with_and_stay_apart() -> None:
    text = "160 customers, including Ticketmaster and Santander. AT&T said"
    start = text.index("Ticketmaster")
    cut = start + len("Ticketmaster and")
    assert in_a_list(text, start, cut)
    assert text[start:repair_span_end(text, start, cut, "ORG")] == "Ticketmaster"
    second = text.index("Santander")
    spans = [(start, cut, "ORG"), (second, second + 9, "ORG")]
    assert merge_org_spans(text, spans, PLACES) == spans


def test_a_name_cut_after_and_is_still_joined_outside_lists() -> None:
    text = "the Organisation for Economic Co-operation and Development said"
    start = text.index("Organisation")
    cut = start + len("Organisation for Economic Co-operation and")
    assert not in_a_list(text, start, cut)
    assert text[start:repair_span_end(text, start, cut, "ORG")].endswith("and Development")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Cornish Metals", True),
        ("Warner Bros.", True),
        ("Vulcan Resources", True),
        ("Nvidia Corp", True),  # a legal form
        ("Metals", False),  # one word: the article decides
        ("Jon Holden", False),
    ],
)
def test_ends_with_company_word(name: str, expected: bool) -> None:
    assert ends_with_company_word(name) is expected


def test_person_labels_of_company_and_team_names_become_organisations() -> None:
    text = "Cornish Lithium, a separate company, and the New York Knicks coach said"
    for name in ("Cornish Lithium", "New York Knicks"):
        start = text.index(name)
        assert label_from_context(text, start, start + len(name), "PERSON", PLACES) == "ORG"
