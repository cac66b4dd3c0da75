"""Unit tests of round 4's general rules found in the d4 dev articles: dateline places.
Pure functions, no spaCy model."""

from __future__ import annotations

import pytest

from pipeline.enrichment.entities import (
    AliasTable,
    dateline_place_spans,
    dateline_spans,
    normalise_dateline,
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
