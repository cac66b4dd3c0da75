"""Near-duplicate fingerprints: 64-bit SimHash over word features, plus LSH band keys.

Syndicated copies of one wire story differ by a headline, a dateline, a credit line: their
SimHashes differ in a few bits, while unrelated texts differ in about half (32) of them.
SimHash approximates the angle between the feature vectors (expected distance =
64 * angle / pi), so ``MAX_DISTANCE = 8`` accepts copies with cosine similarity >= ~0.92.

The text is the cleaned body (the headline too when the body is under 40 words, as in
summary-only feeds): partners rewrite headlines more than anything else. Features are the
words (case and accents folded, English function words dropped) and the pairs of
consecutive such words: words make short texts robust to a changed phrase, pairs keep some
word order. Measured on the labelled articles with light edits (new headline, dateline and
credit line, a few words replaced) and on pairs of unrelated articles: see
the README ("Near-duplicates").

Finding the near-duplicates of a new article among millions must not compare it with every
stored fingerprint. The 64 bits are cut into ``BLOCKS`` blocks; two fingerprints that
differ in at most ``BLOCKS - KEY_BLOCKS`` bits still agree on at least ``KEY_BLOCKS`` whole
blocks (pigeonhole). Every combination of ``KEY_BLOCKS`` blocks becomes one band key
(``"<blocks>:<bits in hex>"``), stored as a keyword: a terms query on a new article's keys
finds every stored fingerprint within 7 bits (and ~97% of those at 8), and the exact
Hamming distance then decides.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np

from pipeline.enrichment.clean import fold_accents

__all__ = [
    "BLOCKS",
    "KEY_BLOCKS",
    "MAX_DISTANCE",
    "MIN_WORDS",
    "Fingerprint",
    "band_keys",
    "features",
    "fingerprint",
    "hamming",
    "simhash",
    "words",
]

BITS = 64
MAX_DISTANCE = 8
BLOCKS = 10
KEY_BLOCKS = 3
# Below this many content words a fingerprint says little about the story (a bare "Live
# updates" item would cluster unrelated ones): such articles get none, stay on their own.
MIN_WORDS = 12
# A body this long identifies the story by itself; the headline is left out (see fingerprint).
BODY_ONLY_WORDS = 40

# Function words carry no story; dropping them keeps unrelated texts apart.
_STOP_WORDS_TEXT = """
a an and are as at be been but by for from had has have he her his i in is it its more
not of on or our over s said says she so than that the their them then there these they
this to up was we were what when which who will with would you
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"\w+")


def _block_spans(bits: int = BITS, blocks: int = BLOCKS) -> list[tuple[int, int]]:
    """(shift, width) of each block, most significant first; widths differ by <= 1."""
    base, extra = divmod(bits, blocks)
    spans, shift = [], bits
    for index in range(blocks):
        width = base + 1 if index < extra else base
        shift -= width
        spans.append((shift, width))
    return spans


BLOCK_SPANS = _block_spans()
# Per band key: its prefix ("<block indices>:") and the (shift, width) of its blocks.
_KEY_LAYOUTS = [("".join(str(i) for i in chosen) + ":", [BLOCK_SPANS[i] for i in chosen])
                for chosen in combinations(range(BLOCKS), KEY_BLOCKS)]


@dataclass(frozen=True)
class Fingerprint:
    """The SimHash of one text, as stored: 16 hex digits and its band keys."""

    simhash: str
    bands: list[str]

    @property
    def value(self) -> int:
        return int(self.simhash, 16)


def words(text: str) -> list[str]:
    """Content words of ``text``: case- and accent-folded, punctuation and function words
    dropped (quotes, dashes and spacing vary between copies of one story; words do not)."""
    folded = (w if w.isascii() else fold_accents(w) for w in _WORD.findall(text.casefold()))
    return [w for w in folded if w not in STOP_WORDS]


def features(content_words: Sequence[str]) -> list[str]:
    """Each word and each pair of consecutive words."""
    pairs = [f"{a} {b}" for a, b in zip(content_words, content_words[1:], strict=False)]
    return [*content_words, *pairs]


@lru_cache(maxsize=1 << 17)
def _hash64(feature: str) -> int:
    # blake2b, not hash(): the value must be the same in every process and every release.
    # Cached: words and common word pairs recur across articles.
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(),
                          "big")


def simhash(weighted_features: Iterable[str]) -> int:
    """Charikar's SimHash: bit i is set when the features whose hash has bit i set
    outweigh those that do not (weight = occurrences). Vectorised: a few hundred features
    times 64 bits is too slow as a Python loop next to NER."""
    counts = Counter(weighted_features)
    if not counts:
        return 0
    hashes = np.fromiter((_hash64(f) for f in counts), dtype=np.uint64, count=len(counts))
    weights = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    bits = (hashes[:, None] >> np.arange(BITS, dtype=np.uint64)) & np.uint64(1)
    votes = weights @ (2 * bits.astype(np.int64) - 1)
    return sum(1 << bit for bit in np.flatnonzero(votes > 0).tolist())


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def band_keys(value: int) -> list[str]:
    """One key per combination of ``KEY_BLOCKS`` blocks: ``"<block indices>:<their bits>"``."""
    keys = []
    for prefix, spans in _KEY_LAYOUTS:
        joined = 0
        for shift, width in spans:
            joined = joined << width | (value >> shift) & ((1 << width) - 1)
        keys.append(f"{prefix}{joined:x}")
    return keys


def fingerprint(title: str, text: str) -> Fingerprint | None:
    """The fingerprint of a cleaned body, with the title only when the body is short
    (summary-only feeds): partners rewrite headlines far more than wire text. None when
    even both together are too short."""
    content = words(text)
    if len(content) < BODY_ONLY_WORDS:
        content = words(f"{title}\n{text}")
    if len(content) < MIN_WORDS:
        return None
    value = simhash(features(content))
    return Fingerprint(simhash=f"{value:016x}", bands=band_keys(value))
