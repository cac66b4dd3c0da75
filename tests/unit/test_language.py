from __future__ import annotations

import pytest

from pipeline.enrichment.language import (
    DEFAULT_LANGUAGES,
    UNDETERMINED,
    LanguageDetector,
    LanguageResult,
)


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    # Built once for the module, like a worker would (lingua models come from the wheel).
    return LanguageDetector()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("President Vladimir Putin arrived in Pyongyang on Tuesday for talks with Kim.", "en"),
        ("Le ministère de la Santé a lancé mardi une nouvelle campagne de vaccination.", "fr"),
        ("Der russische Präsident ist am Dienstag in Nordkorea eingetroffen.", "de"),
        ("El presidente ruso llegó el martes a Corea del Norte para reunirse con Kim.", "es"),
        ("Президент России во вторник прибыл в Северную Корею.", "ru"),
        ("Президент Росії у вівторок прибув до Північної Кореї з візитом.", "uk"),
        ("ロシアのプーチン大統領が北朝鮮を訪問し、金正恩総書記と会談した。", "ja"),
    ],
)
def test_detects_common_news_languages(
    detector: LanguageDetector, text: str, expected: str
) -> None:
    result = detector.detect_with_confidence(text)
    assert result.code == expected
    assert 0.5 <= result.confidence <= 1.0
    assert detector.detect(text) == expected


@pytest.mark.parametrize("text", ["", "ok", "12345 678", "!!! ???", "Hi there"])
def test_too_short_text_is_undetermined(detector: LanguageDetector, text: str) -> None:
    assert detector.detect_with_confidence(text) == LanguageResult(UNDETERMINED, 0.0)


def test_low_confidence_is_undetermined() -> None:
    strict = LanguageDetector(["en", "nl"], min_confidence=0.999)
    # Short and shared between English and Dutch: not 99.9 % sure either way.
    result = strict.detect_with_confidence("Hotel Amsterdam Centraal station park")
    assert result.code == UNDETERMINED
    assert 0.0 < result.confidence < 0.999


def test_detect_many_matches_single_detection(detector: LanguageDetector) -> None:
    texts = [
        "The central bank left interest rates unchanged on Thursday.",
        "ok",
        "La banque centrale a laissé ses taux inchangés jeudi.",
    ]
    results = detector.detect_many(texts)
    assert [r.code for r in results] == ["en", UNDETERMINED, "fr"]
    assert results == [detector.detect_with_confidence(t) for t in texts]


def test_language_set_is_configurable_and_validated() -> None:
    assert len(DEFAULT_LANGUAGES) >= 20
    small = LanguageDetector(["en", "fr"])
    assert small.languages == ("en", "fr")
    assert small.detect("Der Präsident ist heute in der Hauptstadt eingetroffen.") in {
        "en",
        "fr",
        UNDETERMINED,
    }
    with pytest.raises(ValueError, match="not support"):
        LanguageDetector(["en", "xx"])
    with pytest.raises(ValueError, match="at least two"):
        LanguageDetector(["en"])
