from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipeline.enrichment.entities import seeds_dir
from pipeline.enrichment.topics import (
    TopicLexicon,
    TopicScore,
    classify_topics,
    default_topic_lexicon,
    extract_keywords,
    fold,
    load_topic_lexicon,
    tokenize,
)

IPTC_TOP_LEVEL = {
    "medtop:01000000": "arts, culture, entertainment and media",
    "medtop:02000000": "crime, law and justice",
    "medtop:03000000": "disaster, accident and emergency incident",
    "medtop:04000000": "economy, business and finance",
    "medtop:05000000": "education",
    "medtop:06000000": "environment",
    "medtop:07000000": "health",
    "medtop:08000000": "human interest",
    "medtop:09000000": "labour",
    "medtop:10000000": "lifestyle and leisure",
    "medtop:11000000": "politics and government",
    "medtop:12000000": "religion",
    "medtop:13000000": "science and technology",
    "medtop:14000000": "society",
    "medtop:15000000": "sport",
    "medtop:16000000": "conflict, war and peace",
    "medtop:17000000": "weather",
}


@pytest.fixture(scope="module")
def lexicon() -> TopicLexicon:
    return load_topic_lexicon()


def _tiny_lexicon() -> TopicLexicon:
    return TopicLexicon.from_mapping(
        {
            "scoring": {"min_score": 1.0, "relative_threshold": 0.5, "max_topics": 3},
            "topics": [
                {"code": "t:war", "label": "war", "terms": {"war": 3, "missile": 2}},
                {"code": "t:pol", "label": "politics", "terms": {"prime minister": 3, "vote": 1}},
                {"code": "t:eco", "label": "economy", "terms": {"inflation": 3}},
            ],
        }
    )


def test_fold_and_tokenize() -> None:
    assert fold("Sanctions") == "sanction"
    assert fold("policies") == "policy"
    assert fold("Russia’s") == "russia"
    assert fold("crisis") == "crisis"
    assert fold("business") == "business"
    assert tokenize("Cease-fire talks in Kyiv’s 2 districts") == [
        "cease",
        "fire",
        "talk",
        "in",
        "kyiv",
        "district",
    ]


def test_seed_lexicon_has_the_17_iptc_top_level_topics(lexicon: TopicLexicon) -> None:
    assert (seeds_dir() / "topics" / "iptc-keywords.yaml").is_file()
    assert {t.code: t.label for t in lexicon.topics} == IPTC_TOP_LEVEL
    assert all(len(t.terms) >= 10 for t in lexicon.topics)
    assert lexicon.language == "en"


def test_scoring_is_weighted_sublinear_and_counts_phrases() -> None:
    lex = _tiny_lexicon()
    raw = lex.raw_scores("War, war and a missile. The prime minister lost the vote.")
    assert raw["t:war"] == pytest.approx(3 * (1 + math.log(2)) + 2)
    assert raw["t:pol"] == pytest.approx(3 + 1)
    assert raw["t:eco"] == 0.0


def test_title_terms_count_more() -> None:
    lex = _tiny_lexicon()
    without = lex.raw_scores("inflation rose")["t:eco"]
    with_title = lex.raw_scores("inflation rose", title="Inflation")["t:eco"]
    assert with_title == pytest.approx(3 * (1 + math.log(1 + lex.title_weight)))
    assert with_title > without


def test_classify_is_multilabel_normalised_and_sorted() -> None:
    lex = _tiny_lexicon()
    topics = classify_topics(
        "War and missile strikes. The prime minister called a vote on the war.", lex
    )
    assert [t.code for t in topics] == ["t:war", "t:pol"]
    assert all(isinstance(t, TopicScore) for t in topics)
    assert topics[0].score > topics[1].score
    assert sum(t.score for t in topics) == pytest.approx(1.0, abs=1e-3)
    code, label, score = topics[0]
    assert (code, label) == ("t:war", "war") and 0 < score <= 1


def test_thresholds() -> None:
    lex = _tiny_lexicon()
    text = "War, war, war and missiles; inflation."
    assert [t.code for t in classify_topics(text, lex)] == ["t:war"]  # eco below relative
    assert [t.code for t in classify_topics(text, lex, relative_threshold=0.0)] == [
        "t:war",
        "t:eco",
    ]
    assert classify_topics(text, lex, min_score=100.0) == []
    assert len(classify_topics(text, lex, relative_threshold=0.0, max_topics=1)) == 1
    assert classify_topics("Nothing relevant here.", lex) == []


def test_explain_lists_matched_terms() -> None:
    explained = _tiny_lexicon().explain("The prime minister won the vote.")
    assert [term for term, _ in explained["t:pol"]] == ["prime minister", "vote"]
    assert "t:war" not in explained


def test_lexicon_rejects_duplicate_codes() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        TopicLexicon.from_mapping({"topics": [{"code": "a", "label": "x", "terms": {"x": 1}}] * 2})


def test_lexicon_from_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "lex.yaml"
    path.write_text(
        "topics:\n  - code: c1\n    label: one\n    terms: {alpha: 2, beta gamma: 3}\n",
        encoding="utf-8",
    )
    lex = load_topic_lexicon(path)
    assert lex.topics[0].terms == {("alpha",): 2.0, ("beta", "gamma"): 3.0}


@pytest.mark.parametrize(
    ("article", "expected_top"),
    [
        ("putin-north-korea.txt", {"medtop:16000000", "medtop:11000000"}),
        ("ecb-rates.txt", {"medtop:04000000"}),
        ("flood.txt", {"medtop:03000000"}),
        ("marathon.txt", {"medtop:15000000"}),
        ("fusion.txt", {"medtop:13000000"}),
    ],
)
def test_seed_articles(lexicon: TopicLexicon, article: str, expected_top: set[str]) -> None:
    path = seeds_dir() / "articles" / article
    if not path.is_file():
        pytest.skip(f"seed article {article} not present")
    topics = classify_topics(path.read_text(encoding="utf-8"), lexicon)
    assert expected_top <= {t.code for t in topics[: len(expected_top)]}


def test_sample_article_politics_and_conflict(lexicon: TopicLexicon) -> None:
    text = (
        "President Vladimir Putin of Russia made his first visit to North Korea in 24 years to "
        "strengthen ties with Pyongyang. Russia's military support, artillery shells and "
        "missile technology aid its war against Ukraine, while the U.N. sanctions and embargo "
        "are undermined. The two authoritarian leaders signed a strategic partnership "
        "agreement, a shift in international relations and geopolitics."
    )
    codes = [t.code for t in classify_topics(text, lexicon)]
    assert set(codes[:2]) == {"medtop:16000000", "medtop:11000000"}


def test_default_lexicon_is_cached() -> None:
    assert default_topic_lexicon() is default_topic_lexicon()


class TestKeywords:
    def test_frequent_words_and_phrases(self) -> None:
        text = (
            "North Korea and Russia signed a pact. North Korea's leader met Russia's president. "
            "The pact covers military aid. Military aid to North Korea worries Seoul."
        )
        keywords = extract_keywords(text, n=5)
        assert keywords[0] == "North Korea"
        assert "Russia" in keywords
        assert "military aid" in keywords
        assert "north" not in [k.lower() for k in keywords]  # absorbed by the phrase
        assert "the" not in [k.lower() for k in keywords]

    def test_possessive_breaks_phrases(self) -> None:
        keywords = extract_keywords("Putin’s visit. Putin’s visit. Putin’s visit.", n=5)
        assert keywords == ["Putin", "visit"]

    def test_limits_and_custom_stop_words(self) -> None:
        text = "alpha, beta, gamma; alpha. beta! alpha"
        assert extract_keywords(text, n=2, stop_words=[]) == ["alpha", "beta"]
        assert extract_keywords(text, n=3, stop_words=["alpha"]) == ["beta", "gamma"]
        assert extract_keywords(text, n=0) == []
        assert extract_keywords("", n=5) == []


@pytest.mark.parametrize(("title", "text", "expected"), [
    ("Regulator fines energy supplier",
     "The competition watchdog fined the energy supplier 40 million pounds. The company said "
     "it would appeal the ruling, which a tribunal upheld last year.",
     "crime, law and justice"),
    ("City council approves budget",
     "The city council voted to approve the budget after the mayor and councillors agreed "
     "on cuts to municipal services, the local government association said.",
     "politics and government"),
    ("Public broadcaster trims newsroom",
     "The public broadcaster will merge two newsrooms as licence fee income falls, and its "
     "magazine publishing arm will be sold to a newspaper publisher.",
     "arts, culture, entertainment and media"),
])
def test_round5_vocabulary_courts_local_government_and_media(
    lexicon: TopicLexicon, title: str, text: str, expected: str
) -> None:
    # General vocabulary added in round 5 (regulators and courts, local government, the
    # media business), on texts written for this test.
    topics = classify_topics(text, lexicon, title=title)
    assert topics[0].label == expected
