"""Unit tests of round 4: the listed-company gazetteer (short names, the safety filter, the
merge into the alias table) and how company matches are placed among the model's spans.
Pure functions, no spaCy model."""

from __future__ import annotations

import pytest

from pipeline.enrichment.companies import (
    company_entries,
    company_short_name,
    is_safe_company_name,
)
from pipeline.enrichment.entities import (
    AliasTable,
    load_company_names,
    place_company_matches,
)

WORDS = frozenset({"apple", "target", "charles", "diode", "general", "electric"})
PLACES = frozenset({"lincoln", "santander"})


def is_word(word: str) -> bool:
    return word in WORDS


def is_place(name: str) -> bool:
    return name.lower() in PLACES


@pytest.mark.parametrize(
    ("raw", "short"),
    [
        ("Danaher Corporation", "Danaher"),
        ("The Home Depot, Inc.", "Home Depot"),
        ("Warner Bros. Discovery", "Warner Bros Discovery"),
        ("ZOZO Co., Ltd", "ZOZO"),
        ("Clearway Energy, Inc. (Class C)", "Clearway Energy"),
        ("Wacker Chemie AG", "Wacker Chemie"),
        ("Expedia Group", "Expedia Group"),  # "Group" is how the name is written
        ("Japan Post Holdings", "Japan Post Holdings"),
        ("Prudential plc", "Prudential"),
    ],
)
def test_company_short_name_drops_legal_forms_and_dots(raw: str, short: str) -> None:
    assert company_short_name(raw) == short


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("General Electric", True),  # multi-word names are kept, even of English words
        ("Danaher", True),  # a single word that is no English word
        ("Apple", False),  # an English word
        ("Charles", False),  # a given name in the word list
        ("Diodes", False),  # the plural of an English word
        ("Lincoln", False),  # a place
        ("BNY", False),  # short acronyms clash with others
        ("eBay", False),  # written in lower case: sentence-case matching would miss it
    ],
)
def test_is_safe_company_name(name: str, safe: bool) -> None:
    assert is_safe_company_name(name, is_word=is_word, is_place=is_place) is safe


def test_company_entries_keep_dotted_alias_and_skip_known_names() -> None:
    entries = company_entries(
        ["Warner Bros. Discovery", "Apple Inc.", "Nasdaq, Inc.", "Danaher Corporation"],
        is_word=is_word,
        is_place=is_place,
        known=lambda name: name == "Nasdaq",
    )
    assert entries == {"Danaher": [], "Warner Bros Discovery": ["Warner Bros. Discovery"]}


def test_with_organizations_never_overrides_the_hand_written_table() -> None:
    table = AliasTable.from_mapping(
        {"organizations": {"Nasdaq": []}, "locations": {"Georgia": []}, "ignore": ["Bitcoin"]}
    )
    merged = table.with_organizations(
        {
            "Nasdaq": ["NASDAQ Inc"],
            "Georgia": [],
            "Bitcoin": [],
            "Warner Bros Discovery": ["Warner Bros. Discovery"],
            "Pearson": [],
        }
    )
    assert merged.lookup("Georgia") == ("Georgia", "location")
    assert merged.lookup("NASDAQ Inc") is None  # the clashing entry is skipped whole
    assert merged.lookup("Warner Bros. Discovery") == ("Warner Bros Discovery", "organization")
    # one-word names feed the company ruler but are not forced: they may be surnames
    assert merged.lookup("Pearson") is None
    assert merged.company_names == (
        "Warner Bros Discovery", "Warner Bros. Discovery", "Pearson",
    )
    assert merged.names == table.names  # company names do not feed the pre-NER ruler


def test_load_company_names_rejects_a_malformed_file(tmp_path) -> None:
    path = tmp_path / "companies.yaml"
    path.write_text(
        "organizations:\n  Danaher: []\n  Warner Bros Discovery: [Warner Bros. Discovery]\n"
    )
    assert load_company_names(path) == {
        "Danaher": [],
        "Warner Bros Discovery": ["Warner Bros. Discovery"],
    }
    path.write_text("- Danaher\n")
    with pytest.raises(ValueError, match="organizations"):
        load_company_names(path)


@pytest.mark.parametrize(
    ("ents", "matches", "expected"),
    [
        # untagged by the model: the match is added
        ([(0, 2, "PERSON")], [(5, 7)], [(0, 2, "PERSON"), (5, 7, "ORG")]),
        # "Siemens" tagged, "Siemens Energy" matched: the longer company name replaces it
        ([(0, 1, "ORG")], [(0, 2)], [(0, 2, "ORG")]),
        # "Micron Technology" tagged PERSON: same span, now ORG
        ([(3, 5, "PERSON")], [(3, 5)], [(3, 5, "ORG")]),
        # "Suzuki" inside "Shunichi Suzuki": the person is kept
        ([(0, 2, "PERSON")], [(1, 2)], [(0, 2, "PERSON")]),
        # "Pearson said": a one-token match leaves a person alone
        ([(4, 5, "PERSON")], [(4, 5)], [(4, 5, "PERSON")]),
        # overlapping matches: the longest wins
        ([], [(0, 1), (0, 3)], [(0, 3, "ORG")]),
    ],
)
def test_place_company_matches(ents, matches, expected) -> None:
    assert place_company_matches(ents, matches) == expected
