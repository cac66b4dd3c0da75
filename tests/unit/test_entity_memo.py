"""The per-table memo of label refinement and normalisation, and the untagged-name scan's
overlap test: both are speed-ups that must not change a result."""

from __future__ import annotations

import pytest

from pipeline.enrichment import entities
from pipeline.enrichment.entities import (
    AliasTable,
    default_alias_table,
    normalise_mention,
    refine_label,
    untagged_org_spans,
)
from pipeline.enrichment.places import default_place_names

MENTIONS = [
    ("Putin's", "PERSON"), ("U.S.", "GPE"), ("the European Union", "ORG"), ("Ukrainian", "GPE"),
    ("ATACMS", "PERSON"), ("Christmas", "DATE"), ("Istiqlal Mosque", "ORG"),
    ("president", "PERSON"),
]


def unmemoised(text: str, label: str, aliases: AliasTable):  # type: ignore[no-untyped-def]
    refined = refine_label(text, label, aliases)
    normalised = normalise_mention(text, refined, aliases) if refined is not None else None
    return None if refined is None or normalised is None else (refined, normalised)


@pytest.mark.parametrize(("text", "label"), MENTIONS)
def test_memo_gives_the_unmemoised_result_first_and_again(text: str, label: str) -> None:
    aliases = default_alias_table()
    expected = unmemoised(text, label, aliases)
    assert entities._refined_and_normalised(text, label, aliases) == expected
    assert aliases.mention_memo[text, label] == expected
    assert entities._refined_and_normalised(text, label, aliases) == expected


def test_memo_is_per_table_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    table = AliasTable.from_mapping({"organizations": {"Acme Widgets": ["AW"]}})
    other = AliasTable.from_mapping({})
    assert entities._refined_and_normalised("AW", "ORG", table)[1].canonical == "Acme Widgets"
    assert entities._refined_and_normalised("AW", "ORG", other)[1].canonical == "AW"
    monkeypatch.setattr(entities, "_MENTION_MEMO_SIZE", 3)
    for name in ("Alpha Corp", "Beta Corp", "Gamma Corp", "Delta Corp"):
        entities._refined_and_normalised(name, "ORG", other)
    assert len(other.mention_memo) <= 3
    assert ("Delta Corp", "ORG") in other.mention_memo


@pytest.mark.parametrize("spans", [
    [],
    [(0, 5, "ORG")],
    [(40, 48, "PERSON"), (0, 5, "ORG")],  # unsorted: the function sorts
    [(20, 200, "ORG")],  # one long span covering the cue's name
])
def test_untagged_names_skip_exactly_the_runs_that_touch_a_span(spans) -> None:  # type: ignore[no-untyped-def]
    text = "Flights resumed. Travellers praised Loganair, which flies to the islands daily."
    places = default_place_names()
    found = untagged_org_spans(text, spans, 0, places)
    loganair = (text.index("Loganair"), text.index("Loganair") + len("Loganair"))
    touches = any(s < loganair[1] and loganair[0] < e for s, e, _ in spans)
    assert (loganair in found) is not touches
