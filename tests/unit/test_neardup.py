"""SimHash fingerprints and band keys: near-duplicates close, unrelated texts far."""

from __future__ import annotations

import itertools
import math
import os
import random
import subprocess
import sys

import pytest

from pipeline.enrichment.clean import clean_article_text
from pipeline.enrichment.neardup import (
    BLOCKS,
    KEY_BLOCKS,
    MAX_DISTANCE,
    features,
    fingerprint,
    hamming,
    words,
)
from pipeline.settings import SEEDS_DIR

PUTIN_TITLE = "Putin visits North Korea for the first time in 24 years"
ECB_TEXT = ("Central bank holds interest rates steady as inflation cools across the euro area, "
            "officials said on Thursday in Frankfurt.")


def seed_text(name: str) -> str:
    return clean_article_text((SEEDS_DIR / "articles" / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def putin() -> str:
    return seed_text("putin-north-korea.txt")


def distance(a: tuple[str, str], b: tuple[str, str]) -> int:
    fa, fb = fingerprint(*a), fingerprint(*b)
    assert fa is not None and fb is not None
    return hamming(fa.value, fb.value)


def shares_a_band(a: tuple[str, str], b: tuple[str, str]) -> bool:
    fa, fb = fingerprint(*a), fingerprint(*b)
    assert fa is not None and fb is not None
    return bool(set(fa.bands) & set(fb.bands))


def test_format() -> None:
    fp = fingerprint("ECB holds rates", ECB_TEXT)
    assert fp is not None
    assert len(fp.simhash) == 16 and int(fp.simhash, 16) == fp.value
    assert len(fp.bands) == math.comb(BLOCKS, KEY_BLOCKS)
    assert len(set(fp.bands)) == len(fp.bands)


def test_value_is_stable_across_processes_and_releases() -> None:
    # Stored fingerprints are compared with new ones for as long as the index lives: the
    # value must not depend on the process (hash seed) nor change silently between versions.
    fp = fingerprint("ECB holds rates", ECB_TEXT)
    assert fp is not None and fp.simhash == "c378e2177f39aa2d"
    code = ("from pipeline.enrichment.neardup import fingerprint; "
            f"print(fingerprint('ECB holds rates', {ECB_TEXT!r}).simhash)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == fp.simhash


def test_words_fold_case_accents_punctuation_and_function_words() -> None:
    assert words("The “Président” met Kim’s envoy — in Pyongyang.") == [
        "president", "met", "kim", "envoy", "pyongyang"]
    assert features(["a1", "b2", "c3"]) == ["a1", "b2", "c3", "a1 b2", "b2 c3"]


def test_short_text_has_no_fingerprint() -> None:
    assert fingerprint("Live updates", "Follow along.") is None
    assert fingerprint("", "") is None


def test_headline_counts_only_when_the_body_is_short(putin: str) -> None:
    assert distance(("Putin in Pyongyang", putin), ("Kim hosts Putin", putin)) == 0
    summary = "Heavy monsoon rains triggered flash floods across northern Pakistan this week."
    assert distance(("Floods kill dozens in Pakistan", summary),
                    ("Dozens dead as monsoon floods sweep north", summary)) > 0


def test_identical_text_up_to_typography_is_distance_zero(putin: str) -> None:
    plain = putin.replace("“", '"').replace("”", '"').replace("’", "'").replace("\n\n", "\n")
    assert distance((PUTIN_TITLE, putin), (PUTIN_TITLE, plain.upper())) == 0


@pytest.mark.parametrize("edit", ["headline", "dateline and credit", "words", "all"])
def test_syndicated_copy_is_within_the_threshold_and_shares_a_band(putin: str,
                                                                   edit: str) -> None:
    title, text = PUTIN_TITLE, putin
    if edit in ("headline", "all"):
        title = "Russia's Putin arrives in Pyongyang, vows to deepen ties with Kim"
    if edit in ("dateline and credit", "all"):
        text = f"PYONGYANG (Wire) — {text}\n\nReporting by Jane Doe; editing by John Roe."
    if edit in ("words", "all"):
        text = text.replace("North Korea", "the North", 2).replace("Russia's", "Moscow's", 2)
    original, copy = (PUTIN_TITLE, putin), (title, text)
    assert distance(original, copy) <= MAX_DISTANCE
    assert shares_a_band(original, copy)


def test_unrelated_seed_articles_are_far_apart() -> None:
    names = [p.name for p in sorted((SEEDS_DIR / "articles").glob("*.txt"))]
    assert len(names) >= 5
    texts = {name: (name, seed_text(name)) for name in names}
    for a, b in itertools.combinations(names, 2):
        assert distance(texts[a], texts[b]) > 2 * MAX_DISTANCE, (a, b)


def test_same_topic_different_story_is_not_a_near_duplicate() -> None:
    first = ("ECB holds rates", "The European Central Bank kept its deposit rate at 3.75% on "
             "Thursday, saying inflation was easing but wage growth remained strong, and "
             "President Christine Lagarde declined to commit to a cut in September.")
    second = ("Fed raises rates", "The Federal Reserve raised its benchmark rate by a quarter "
              "point on Wednesday, citing stubborn inflation in services and a tight labour "
              "market, and Chair Jerome Powell signalled that further increases were possible.")
    assert distance(first, second) > MAX_DISTANCE


def test_band_keys_find_every_fingerprint_within_the_guarantee() -> None:
    # Pigeonhole: differing in <= BLOCKS - KEY_BLOCKS bits leaves KEY_BLOCKS blocks intact.
    from pipeline.enrichment.neardup import band_keys

    rng = random.Random(7)
    guaranteed = BLOCKS - KEY_BLOCKS
    assert guaranteed >= MAX_DISTANCE - 1
    for _ in range(500):
        value = rng.getrandbits(64)
        flips = rng.sample(range(64), rng.randint(1, guaranteed))
        other = value
        for bit in flips:
            other ^= 1 << bit
        assert set(band_keys(value)) & set(band_keys(other))


def test_random_fingerprints_rarely_share_a_band() -> None:
    from pipeline.enrichment.neardup import band_keys

    rng = random.Random(11)
    keys = [set(band_keys(rng.getrandbits(64))) for _ in range(300)]
    shared = sum(bool(a & b) for a, b in itertools.combinations(keys, 2))
    # Expected ~ 120 keys * 2**-19 per pair, i.e. ~10 of 44,850 pairs: a cheap lookup.
    assert shared < 0.002 * math.comb(300, 2)
