"""Places -> ISO 3166-1 alpha-2 codes and points, with the real offline gazetteers."""

from __future__ import annotations

import pytest

from pipeline.enrichment.geo import (
    Gazetteer,
    Place,
    _population_centre,
    normalise_place_name,
    resolve_article_places,
)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def resolved(gazetteer: Gazetteer, name: str, context: tuple[str, ...] = ()) -> Place:
    place = gazetteer.resolve(name, context)
    assert place is not None, name
    return place


@pytest.mark.parametrize(("name", "code"), [
    ("North Korea", "KP"), ("DPRK", "KP"), ("Russia", "RU"), ("Russian Federation", "RU"),
    ("Ukraine", "UA"), ("United States", "US"), ("U.S.", "US"), ("the United States", "US"),
    ("America", "US"), ("Britain", "GB"), ("United Kingdom", "GB"), ("U.K.", "GB"),
    ("Ivory Coast", "CI"), ("Côte d'Ivoire", "CI"), ("Cote d’Ivoire", "CI"),
    ("Turkey", "TR"), ("Türkiye", "TR"), ("Czech Republic", "CZ"), ("Czechia", "CZ"),
    ("South Korea", "KR"), ("Iran", "IR"), ("Vietnam", "VN"), ("Viet Nam", "VN"),
    ("Holland", "NL"), ("the Netherlands", "NL"), ("Burma", "MM"), ("Taiwan", "TW"),
    ("Democratic Republic of the Congo", "CD"), ("Palestine", "PS"), ("Kosovo", "XK"),
])
def test_countries_by_name_common_name_and_alias(gazetteer: Gazetteer, name: str,
                                                 code: str) -> None:
    place = resolved(gazetteer, name)
    assert place.kind == "country"
    assert place.country_code == code


def test_country_point_is_its_capital(gazetteer: Gazetteer) -> None:
    assert resolved(gazetteer, "North Korea").point == resolved(gazetteer, "Pyongyang").point
    assert resolved(gazetteer, "Russia").point == resolved(gazetteer, "Moscow").point
    assert resolved(gazetteer, "Ukraine").point == resolved(gazetteer, "Kyiv").point


def test_constituent_countries_are_gb_at_their_own_capital(gazetteer: Gazetteer) -> None:
    scotland = resolved(gazetteer, "Scotland")
    assert scotland.country_code == "GB" and scotland.kind == "region"
    assert scotland.point == resolved(gazetteer, "Edinburgh").point
    assert resolved(gazetteer, "England").point == resolved(gazetteer, "London").point


def test_us_state_is_us_with_a_point_inside_the_state(gazetteer: Gazetteer) -> None:
    california = resolved(gazetteer, "California")
    assert california.kind == "state" and california.country_code == "US"
    assert california.lat is not None and california.lon is not None
    assert 32.5 < california.lat < 42 and -124.5 < california.lon < -114


def test_countries_come_before_us_states(gazetteer: Gazetteer) -> None:
    assert resolved(gazetteer, "Georgia").country_code == "GE"


@pytest.mark.parametrize(("name", "code"), [("Ontario", "CA"), ("British Columbia", "CA"),
                                            ("Queensland", "AU"), ("New South Wales", "AU")])
def test_canadian_and_australian_states_come_before_cities(gazetteer: Gazetteer, name: str,
                                                           code: str) -> None:
    place = resolved(gazetteer, name)  # "Ontario" is also a city in California
    assert (place.kind, place.country_code, place.point) == ("state", code, None)


@pytest.mark.parametrize(("name", "code", "capital"), [
    ("Crimea", "UA", "Simferopol"), ("Catalonia", "ES", "Barcelona"),
    ("Tibet", "CN", "Lhasa"), ("Bavaria", "DE", "Munich"),
])
def test_regions_known_by_english_names(gazetteer: Gazetteer, name: str, code: str,
                                        capital: str) -> None:
    place = resolved(gazetteer, name)
    assert (place.kind, place.country_code) == ("region", code)
    assert place.point == resolved(gazetteer, capital).point


def test_subdivisions_give_a_country_but_no_point(gazetteer: Gazetteer) -> None:
    kerala = resolved(gazetteer, "Kerala")
    assert (kerala.kind, kerala.country_code, kerala.point) == ("subdivision", "IN", None)
    assert gazetteer.resolve("Punjab") is None  # India or Pakistan: not without context
    assert resolved(gazetteer, "Punjab", ("PK",)).country_code == "PK"
    assert resolved(gazetteer, "Santander").country_code == "ES"  # the city
    assert resolved(gazetteer, "Santander", ("CO",)).kind == "subdivision"
    assert gazetteer.subdivisions.get("central") is None  # too generic to index


def test_news_usage_washington_is_the_capital(gazetteer: Gazetteer) -> None:
    for name in ("Washington", "Washington, D.C.", "Washington DC"):
        place = resolved(gazetteer, name)
        assert place.kind == "city" and place.country_code == "US"
        assert place.lat is not None and abs(place.lat - 38.9) < 0.1
    assert resolved(gazetteer, "New York").name == "New York City"


@pytest.mark.parametrize(("name", "code", "gazetteer_name"), [
    ("Pyongyang", "KP", "Pyongyang"), ("Moscow", "RU", "Moscow"), ("Paris", "FR", "Paris"),
    ("Kiev", "UA", "Kyiv"),  # alternate name
    ("Odessa", "UA", "Odesa"),  # news usage over Odessa, Texas
    ("Cologne", "DE", "Köln"),  # English alternate of a local primary name
    ("Gaza", "PS", "Gaza"), ("Tokyo", "JP", "Tokyo"),
])
def test_cities(gazetteer: Gazetteer, name: str, code: str, gazetteer_name: str) -> None:
    place = resolved(gazetteer, name)
    assert place.kind == "city"
    assert (place.country_code, place.name) == (code, gazetteer_name)
    assert place.point is not None


def test_ambiguous_city_takes_the_most_populous(gazetteer: Gazetteer) -> None:
    cambridge = resolved(gazetteer, "Cambridge")
    assert cambridge.country_code == "GB"
    candidates = gazetteer.cities[normalise_place_name("Cambridge")]
    assert cambridge.population == max(c.population for c in candidates)
    assert resolved(gazetteer, "Moscow").country_code == "RU"  # not Moscow, Idaho


def test_ambiguous_city_prefers_a_country_the_article_names(gazetteer: Gazetteer) -> None:
    assert resolved(gazetteer, "Cambridge", ("US",)).country_code == "US"
    assert resolved(gazetteer, "Birmingham", ("US",)).country_code == "US"
    # ... unless the namesake there is tiny next to the famous one.
    assert resolved(gazetteer, "Paris", ("US",)).country_code == "FR"
    assert resolved(gazetteer, "Moscow", ("US",)).country_code == "RU"


@pytest.mark.parametrize("name", ["Narnia", "Soviet Union", "Middle East", "Europe",
                                  "Asia", "Africa", "Kremlin", "", "   ", "the"])
def test_unknown_places_stay_without_geo(gazetteer: Gazetteer, name: str) -> None:
    assert gazetteer.resolve(name) is None


def test_alternate_names_only_for_big_cities(gazetteer: Gazetteer) -> None:
    # GeoNames lists "Acropolis" among the alternate names of Little Rock; a primary
    # name always beats an alternate one ("Bethlehem" is not Belém, Brazil).
    assert gazetteer.resolve("Acropolis") is None
    assert resolved(gazetteer, "Bethlehem").name == "Bethlehem"
    assert resolved(gazetteer, "Cologne").name == "Köln"


def test_normalise_place_name() -> None:
    assert normalise_place_name("the U.S.") == normalise_place_name("US") == "us"
    assert normalise_place_name("Côte d’Ivoire") == normalise_place_name("Cote d'Ivoire")
    assert normalise_place_name("Washington, D.C.") == "washington dc"
    assert normalise_place_name("Guinea-Bissau") == "guinea bissau"


def test_population_centre_is_safe_across_the_antimeridian() -> None:
    west = Place("W", "city", "FJ", -17.0, 179.0, 100)
    east = Place("E", "city", "FJ", -17.0, -179.0, 100)
    lat, lon = _population_centre([west, east])
    assert lat is not None and lon is not None
    assert abs(abs(lon) - 180.0) < 1e-6 and abs(lat + 17.0) < 0.01
    assert _population_centre([]) == (None, None)


def test_article_places_of_the_putin_story(gazetteer: Gazetteer) -> None:
    locations = ["North Korea", "Russia", "Ukraine", "United States", "Pyongyang", "Moscow",
                 "Vietnam", "Washington", "Narnia"]
    geo = resolve_article_places(gazetteer, locations, ["Russia", "North Korea",
                                                        "United States", "Soviet Union"])
    assert geo.places["Pyongyang"].country_code == "KP"
    assert "Narnia" not in geo.places
    assert geo.country_codes == ["KP", "RU", "UA", "US", "VN"]  # unique, first seen first
    assert len(geo.points) == len(locations) - 1
    assert geo.points[0] == geo.places["North Korea"].point
    data = geo.to_dict()
    assert data["places"]["Pyongyang"]["country_code"] == "KP"
    assert data["location_points"] == geo.points


def test_demonym_countries_add_codes_but_no_points(gazetteer: Gazetteer) -> None:
    geo = resolve_article_places(gazetteer, [], ["Japan", "Scotland", "Soviet Union"])
    assert geo.country_codes == ["JP", "GB"]
    assert geo.points == [] and geo.places == {}


def test_article_context_decides_between_namesakes(gazetteer: Gazetteer) -> None:
    us_story = resolve_article_places(gazetteer, ["Cambridge", "Massachusetts"])
    assert us_story.places["Cambridge"].country_code == "US"
    uk_story = resolve_article_places(gazetteer, ["Cambridge"], ["United Kingdom"])
    assert uk_story.places["Cambridge"].country_code == "GB"
