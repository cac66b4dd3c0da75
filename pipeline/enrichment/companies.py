"""Listed-company names for the alias table (round 4: an offline organisation gazetteer).

The names come from stock-index constituent lists shipped by the PyPI package
``pytickersymbols`` (S&P 500/600, Nasdaq 100, DAX, FTSE 100, CAC 40, Nikkei 225, ...). They are
turned into ``seeds/companies.yaml`` once, by ``seeds/build_companies.py``; at run time only
that YAML is read (no package, no network). The functions here are the pure part of that
build step: the short name news copy uses, and whether a name is safe to tag everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

# Legal forms and share classes that news copy drops ("Danaher Corporation" -> "Danaher").
# "Group", "Holdings" and "Company" stay: they are part of how names are written
# ("Expedia Group", "Japan Post Holdings"), and the article decides ("Nvidia Corp" is kept
# as written by the entity step, see ``corporate_full_names``).
_LEGAL_FORM_RE = re.compile(
    r"(?:,?\s+(?:Inc|Incorporated|Corp|Corporation|Co|Ltd|Limited|plc|PLC|AG|SE|S\.?A|N\.?V|"
    r"SpA|S\.p\.A|A/S|ASA|Oyj|AB|KGaA|Co\.,\s*Ltd)\.?|\s*\((?:Class\s+\w+|The)\))\s*$"
)
_LEADING_THE_RE = re.compile(r"^The\s+")
# "Warner Bros. Discovery" -> "Warner Bros Discovery" (legal forms and abbreviations lose
# their dot, as the entity step writes them).
_INNER_DOT_RE = re.compile(r"(?<=[A-Za-z])\.(?=\s|$)")
_MIN_SINGLE_WORD_LETTERS = 4


def company_short_name(name: str) -> str:
    """The name as news copy writes it: legal forms, share classes and a leading "The"
    dropped, abbreviation dots removed ("The Home Depot, Inc." -> "Home Depot")."""
    short = " ".join(name.split())
    while True:
        stripped = _LEGAL_FORM_RE.sub("", short).rstrip(" ,")
        if stripped == short or not stripped:
            break
        short = stripped
    short = _LEADING_THE_RE.sub("", short)
    return _INNER_DOT_RE.sub("", short)


def is_safe_company_name(
    name: str,
    *,
    is_word: Callable[[str], bool],
    is_place: Callable[[str], bool],
) -> bool:
    """True when ``name`` can be tagged as an organisation wherever it is written.

    Left out: names that are places ("Lincoln"), and single words that are English words or
    common given names in the word list ("Apple", "Target", "Charles"), shorter than four
    letters (acronyms clash: "BNY", "F5") or written in lower case. Multi-word names are
    kept: capitalised and case-sensitive, "General Electric" or "Best Buy" rarely mean
    anything else.
    """
    words = name.split()
    letters = sum(ch.isalpha() for ch in name)
    if not words or letters < 2 or not name[0].isupper() or is_place(name):
        return False
    if len(words) > 1:
        return True
    lower = name.lower()
    plural_of_word = lower.endswith("s") and is_word(lower[:-1])  # "Diodes", "Gates"
    return letters >= _MIN_SINGLE_WORD_LETTERS and not is_word(lower) and not plural_of_word


def company_entries(
    raw_names: Iterable[str],
    *,
    is_word: Callable[[str], bool],
    is_place: Callable[[str], bool],
    known: Callable[[str], bool] = lambda _name: False,
) -> Mapping[str, list[str]]:
    """Canonical short name -> aliases (the differently written forms, such as the dotted
    "Warner Bros. Discovery"), for the names that pass :func:`is_safe_company_name` and are
    not already ``known`` (the hand-written alias table wins)."""
    entries: dict[str, list[str]] = {}
    for raw in raw_names:
        short = company_short_name(raw)
        if known(short) or not is_safe_company_name(short, is_word=is_word, is_place=is_place):
            continue
        aliases = entries.setdefault(short, [])
        dotted = " ".join(raw.split())
        dotted = _LEADING_THE_RE.sub("", _LEGAL_FORM_RE.sub("", dotted).rstrip(" ,"))
        if dotted != short and "." in dotted and dotted not in aliases:
            aliases.append(dotted)
    return dict(sorted(entries.items()))
