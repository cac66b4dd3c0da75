"""Unit tests of round 6's general rules: roles, owners and closed appositions around a
name, lists introduced by a plural organisation noun, consistency within an article, new
keyword words, acronyms with "in", untagged tails of organisation names. Texts written for
the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pipeline.enrichment.entities import (
    AliasTable,
    Mention,
    NormalisedMention,
    acronym_name_spans,
    default_alias_table,
    ends_with_company_word,
    keyword_org_spans,
    label_from_context,
    listed_org_spans,
    load_ner_model,
    looks_like_person_name,
    majority_categories,
    mentions_from_doc,
    merge_org_spans,
    org_by_context,
    org_by_round6_context,
    resolve_mentions,
)
from pipeline.enrichment.places import PlaceNames

if TYPE_CHECKING:
    from spacy.language import Language

PLACES = PlaceNames.from_names(countries=["Spain", "Peru"], cities=["Lima"])


def _where(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


# --- roles, owners and appositions around a name ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "label"),
    [("Talvora chairman Peter Quint said so.", "Talvora", "GPE"),
     ("Brindlemoor negotiator Anna Vos walked out.", "Brindlemoor", "PERSON"),
     ("Ostrava Rail spokeswoman Ida Kern declined.", "Ostrava Rail", "GPE"),
     ("It bought the owner of Kestrelle last year.", "Kestrelle", "PERSON"),
     ("Kestrelle's owner Harbor Goods reported.", "Kestrelle", "PERSON"),
     ("Velmont, part of the Arcadia group, said so.", "Velmont", "PERSON"),
     ("Quillon Maddox, the London company that runs it, said so.", "Quillon Maddox", "PERSON"),
     ("Enlyra, the power operator, said so.", "Enlyra", "PERSON")],
)
def test_roles_owners_and_appositions_make_organisations(
    text: str, name: str, label: str
) -> None:
    start, end = _where(text, name)
    assert org_by_round6_context(text, start, end, label)
    assert label_from_context(text, start, end, label, PLACES) == "ORG"


@pytest.mark.parametrize(
    ("text", "name"),
    [  # an aide of a person: the person stays a person
     ("Harlow spokesman Tim Bright said so.", "Harlow"),
     ("Greta Lund, a company director, said so.", "Greta Lund"),
     ("Greta Lund, the company's founder, said so.", "Greta Lund"),
     ("Greta Lund, chairman of the board, said so.", "Greta Lund")],
)
def test_persons_keep_their_label(text: str, name: str) -> None:
    start, end = _where(text, name)
    assert not org_by_round6_context(text, start, end, "PERSON")
    assert label_from_context(text, start, end, "PERSON", PLACES) == "PERSON"


def test_known_places_are_left_alone() -> None:
    text = "Peru president Ana Ruiz spoke."
    start, end = _where(text, "Peru")
    assert not org_by_context(text, start, end, PLACES, "GPE")


def test_copper_miner_introduces_an_organisation() -> None:
    text = "State copper miner Andorra Minerals said so."
    start, end = _where(text, "Andorra Minerals")
    assert org_by_context(text, start, end, PLACES, "PERSON")


# --- lists after a plural organisation noun -------------------------------------------------


def _listed(text: str, spans: list[tuple[int, int, str]]) -> list[str]:
    return [text[s:e] for s, e, _ in listed_org_spans(text, spans, 0, PLACES)]


def test_a_span_over_two_items_gives_two_organisations() -> None:
    text = "Rival digital banks Wexmoor and Tallis Bank already hold licences."
    start, end = _where(text, "Wexmoor and Tallis Bank")
    found = listed_org_spans(text, [(start, end, "ORG")], 0, PLACES)
    assert [text[s:e] for s, e, _ in found] == ["Wexmoor", "Tallis Bank"]
    assert all(covered == [0] for _, _, covered in found)


def test_items_read_as_persons_or_places_or_untagged() -> None:
    text = "It hired law firms Brack Hollis, Orvane and Pell & Rudd. Then it stopped."
    spans = [(*_where(text, "Brack Hollis"), "PERSON"), (*_where(text, "Orvane"), "GPE")]
    assert _listed(text, spans) == ["Brack Hollis", "Orvane", "Pell & Rudd"]


def test_a_list_stops_at_the_sentence_end() -> None:
    text = "The banks led by Dovecote, Arlen and Marsh. Clifford Ames said so."
    assert _listed(text, []) == ["Dovecote", "Arlen", "Marsh"]


def test_mixed_nouns_need_an_organisation_in_the_list() -> None:
    persons = "Early investors Tomas Weir and Lena Hart sold their shares."
    assert _listed(persons, [(*_where(persons, "Tomas Weir"), "PERSON"),
                             (*_where(persons, "Lena Hart"), "PERSON")]) == []
    mixed = "Rivals Norvik Capital and Selwyn Ash also bid."
    spans = [(*_where(mixed, "Norvik Capital"), "ORG"), (*_where(mixed, "Selwyn Ash"), "PERSON")]
    assert _listed(mixed, spans) == ["Norvik Capital", "Selwyn Ash"]


def test_places_and_capitalised_nouns_do_not_make_lists() -> None:
    places = "Shares of retailers in Spain and Peru fell."
    assert _listed(places, []) == []
    known = "Clubs from carriers Lima and Spain rose."
    assert _listed(known, []) == []
    name = "Universities Norland said the funding gap widened."
    assert _listed(name, []) == []


# --- in place, on the model's spans -----------------------------------------------------------


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_ner_model()


def test_listed_items_are_separate_organisations_in_mentions(nlp: Language) -> None:
    text = "Headline\n\nRival digital banks Wexmoor and Tallis Bank already hold licences."
    mentions = mentions_from_doc(nlp(text), text=text, title_chars=len("Headline"))
    orgs = {m.text for m in mentions if m.label == "ORG"}
    assert {"Wexmoor", "Tallis Bank"} <= orgs
    assert "Wexmoor and Tallis Bank" not in orgs


def test_new_alias_entries_are_organisations() -> None:
    table = default_alias_table()
    assert table.lookup("Houthi") == ("Houthis", "organization")
    assert table.lookup("A.P. Moller-Maersk") == ("Maersk", "organization")
    assert table.lookup("Bundeswehr") == ("Bundeswehr", "organization")


# --- consistency: a cue read once decides the article's vote -----------------------------------


def test_a_cue_made_organisation_wins_the_vote() -> None:
    items = [NormalisedMention("Harrow Vance", "person"),
             NormalisedMention("Harrow Vance", "person"),
             NormalisedMention("Harrow Vance", "organization"),
             NormalisedMention("Ellis Dorne", "person")]
    assert majority_categories(items)["Harrow Vance"] == "person"
    winners = majority_categories(items, [False, False, True, False])
    assert winners == {"Harrow Vance": "organization", "Ellis Dorne": "person"}


def test_cue_marks_reach_the_resolved_entities() -> None:
    mentions = [Mention("Harrow Vance", "PERSON", 0), Mention("Harrow Vance", "PERSON", 40),
                Mention("Harrow Vance", "ORG", 80, by_cue=True)]
    entities = resolve_mentions(mentions, AliasTable.from_mapping({}))
    assert [r.canonical for r in entities.organizations] == ["Harrow Vance"]
    assert entities.persons == []


def test_which_alone_is_not_a_strong_cue(nlp: Language) -> None:
    text = ("Mine reopens near Dunmere\n\nThe tin mine near Dunmere, which closed in 1998, "
            "will reopen. Dunmere residents welcomed it.")
    mentions = mentions_from_doc(nlp(text), text=text, title_chars=len("Mine reopens near Dunmere"))
    assert not any(m.by_cue for m in mentions if m.text == "Dunmere")


def test_a_union_after_the_name() -> None:
    text = "Talks with the Brevik union stalled."
    start, end = _where(text, "Brevik")
    assert org_by_context(text, start, end, PLACES, "PERSON")


# --- new keyword, club and line-of-business words ----------------------------------------------


@pytest.mark.parametrize("name", ["Moravian Hill Church", "Tarnby Juniors"])
def test_church_and_club_tails_are_not_person_names(name: str) -> None:
    assert not looks_like_person_name(name)


def test_securities_ends_a_company_name() -> None:
    text = "Kessel Hart Securities said on Monday."
    assert ends_with_company_word("Kessel Hart Securities")
    assert label_from_context(text, 0, len("Kessel Hart Securities"), "PERSON", PLACES) == "ORG"


def test_church_ends_an_organisation_run() -> None:
    text = "The Moravian Hill Church said it would appeal."
    found = keyword_org_spans(text, [])
    assert [text[s:e] for s, e, _ in found] == ["Moravian Hill Church"]


def test_in_gives_its_letter_to_un_mission_acronyms() -> None:
    text = "Troops of the United Nations Patrol Mission in Veldor (UNPMIV) were hit."
    found = acronym_name_spans(text, [(*_where(text, "United Nations"), "ORG"),
                                      (*_where(text, "Veldor"), "GPE")])
    assert [text[s:e] for s, e, _ in found] == ["United Nations Patrol Mission in Veldor"]
    other = "Units of the Kestrel Patrol of Veldor (KPOV) were hit."
    assert acronym_name_spans(other, []) == []  # only "in" lends its letter


# --- untagged tails of organisation names ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "org", "expected"),
    [("He now heads Oxfam Peru.", "Oxfam", "Oxfam Peru"),
     ("She worked at Norvex VistaLab, a unit.", "Norvex", "Norvex VistaLab"),
     ("Oxfam Peru said it would help.", "Oxfam", "Oxfam Peru")],
)
def test_untagged_country_or_company_word_extends_an_org(
    text: str, org: str, expected: str
) -> None:
    merged = merge_org_spans(text, [(*_where(text, org), "ORG")], PLACES)
    assert [text[s:e] for s, e, _ in merged] == [expected]


@pytest.mark.parametrize(
    "text",
    ["Oxfam Peru staff flew home.",  # the country does not end the phrase
     "Oxfam Monday said so.",  # not a country, no capital inside
     "Oxfam Peru Lima office."],
)
def test_other_words_after_an_org_stay_out(text: str) -> None:
    merged = merge_org_spans(text, [(*_where(text, "Oxfam"), "ORG")], PLACES)
    assert [text[s:e] for s, e, _ in merged] == ["Oxfam"]


def test_a_tagged_word_after_an_org_is_left_to_the_merge_rules() -> None:
    text = "Oxfam VistaLab staff flew home."
    spans = [(*_where(text, "Oxfam"), "ORG"), (*_where(text, "VistaLab"), "PRODUCT")]
    assert len(merge_org_spans(text, spans, PLACES)) == 2
