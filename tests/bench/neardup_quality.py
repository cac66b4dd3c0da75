"""Near-duplicate detection quality on the labelled articles, with synthetic edits.

    .venv/bin/python tests/bench/neardup_quality.py

For each English article of ``tests/data/eval/articles.jsonl`` (and the seed Putin story)
it makes a syndicated-style copy (new headline; dateline and credit line; a few words
replaced; all three; last sentence dropped) and reports how often the copy is found: it
shares a band key with the original and lies within ``MAX_DISTANCE`` bits. It also reports
the distances between unrelated articles (none should be within the threshold).
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
from collections.abc import Callable

from pipeline.enrichment.clean import clean_article_text
from pipeline.enrichment.neardup import MAX_DISTANCE, Fingerprint, fingerprint, hamming
from pipeline.settings import REPO_ROOT, SEEDS_DIR

Edit = Callable[[str, str, random.Random], tuple[str, str]]


def articles() -> list[tuple[str, str]]:
    path = REPO_ROOT / "tests" / "data" / "eval" / "articles.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts = [(r["title"], clean_article_text(r["text"])) for r in rows if r["language"] == "en"]
    putin = clean_article_text((SEEDS_DIR / "articles" / "putin-north-korea.txt").read_text())
    return [*texts, ("Putin visits North Korea for the first time in 24 years", putin)]


def new_headline(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    return "Update: " + " ".join(reversed(title.split()[:4])), text


def dateline_and_credit(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    return title, f"LONDON (Wire) - {text}\n\nReporting by Jane Doe; Editing by John Roe"


def replace_words(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    words = text.split(" ")
    for _ in range(4):
        words[rng.randrange(len(words))] = rng.choice(["said", "officials", "Monday", "the"])
    return title, " ".join(words)


def all_three(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    for edit in (new_headline, dateline_and_credit, replace_words):
        title, text = edit(title, text, rng)
    return title, text


def drop_last_sentence(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    return title, text.rsplit(". ", 1)[0] + "."


EDITS: dict[str, Edit] = {"new headline": new_headline,
                          "dateline + credit": dateline_and_credit,
                          "4 words replaced": replace_words, "all three": all_three,
                          "last sentence dropped": drop_last_sentence}


def found(a: Fingerprint, b: Fingerprint) -> bool:
    return bool(set(a.bands) & set(b.bands)) and hamming(a.value, b.value) <= MAX_DISTANCE


def main() -> None:
    texts = articles()
    originals = [fingerprint(t, x) for t, x in texts]
    assert all(originals), "every labelled article is long enough for a fingerprint"
    print(f"{len(texts)} articles, threshold {MAX_DISTANCE} bits")
    for name, edit in EDITS.items():
        rng = random.Random(1)
        copies = [fingerprint(*edit(t, x, rng)) for t, x in texts]
        pairs = [(a, b) for a, b in zip(originals, copies, strict=True) if a and b]
        distances = [hamming(a.value, b.value) for a, b in pairs]
        recall = sum(found(a, b) for a, b in pairs) / len(pairs)
        print(f"  {name:22} found {recall:5.0%}  distance median "
              f"{statistics.median(distances):4.1f} max {max(distances):2}")
    unrelated = [(a, b) for a, b in itertools.combinations(originals, 2) if a and b]
    distances = [hamming(a.value, b.value) for a, b in unrelated]
    print(f"  unrelated pairs: {len(unrelated)}, within threshold "
          f"{sum(found(a, b) for a, b in unrelated)}, closest {min(distances)} bits, "
          f"sharing a band {sum(bool(set(a.bands) & set(b.bands)) for a, b in unrelated)}")


if __name__ == "__main__":
    main()
