"""The Kibana pack is valid against the index templates, the validator catches broken packs,
and the import client speaks Kibana's saved objects import API."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.kafka.dead_letter import DeadLetter
from pipeline.kibana import (
    PACK_PATH,
    TEMPLATES_DIR,
    KibanaImportError,
    PackError,
    data_view_fields,
    import_pack,
    load_pack,
    load_templates,
    query_fields,
    validate_pack,
)

Pack = list[dict[str, Any]]


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return load_templates(TEMPLATES_DIR)


@pytest.fixture()
def pack() -> Pack:
    return load_pack(PACK_PATH)


def find(pack: Pack, type_: str, id_: str) -> dict[str, Any]:
    return next(o for o in pack if o["type"] == type_ and o["id"] == id_)


def lens_columns(obj: dict[str, Any]) -> dict[str, Any]:
    layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
    (layer,) = layers.values()
    columns: dict[str, Any] = layer["columns"]
    return columns


def column(obj: dict[str, Any], operation: str) -> dict[str, Any]:
    return next(c for c in lens_columns(obj).values() if c["operationType"] == operation)


def problems_mentioning(problems: list[str], *needles: str) -> list[str]:
    return [p for p in problems if all(n in p for n in needles)]


# --- the shipped pack ----------------------------------------------------------------

def test_shipped_pack_is_valid(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    assert set(templates) >= {"articles-index-template", "dead-letters-index-template",
                              "feed-health-index-template"}
    assert validate_pack(pack, templates) == []


def test_pack_contents(pack: Pack) -> None:
    articles = find(pack, "index-pattern", "newspipe-articles")["attributes"]
    # the alias: every generation in it, none of the old ones a reindex left outside
    assert (articles["title"], articles["timeFieldName"]) == ("news-articles", "published_at")
    health = find(pack, "index-pattern", "newspipe-feed-health")["attributes"]
    assert (health["title"], health["timeFieldName"]) == ("news-feed-health", "updated_at")
    dead = find(pack, "index-pattern", "newspipe-dead-letters")["attributes"]
    assert (dead["title"], dead["timeFieldName"]) == ("news-dead-letters*", "failed_at")

    # a saved search filtered on a person, and one editable query per facet
    person = find(pack, "search", "newspipe-search-person-vladimir-putin")
    source = json.loads(person["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["filter"][0]["meta"]["key"] == "persons"
    queried = {query_fields(json.loads(o["attributes"]["kibanaSavedObjectMeta"]
                                       ["searchSourceJSON"])["query"]["query"])[0]
               for o in pack if o["type"] == "search" and o["id"].startswith(
                   "newspipe-search-by-")}
    assert queried == {"persons", "organizations", "locations", "topic_labels"}

    def panel_fields(dashboard_id: str) -> set[str]:
        dashboard = find(pack, "dashboard", dashboard_id)
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        refs = {r["name"]: r for r in dashboard["references"]}
        used: set[str] = set()
        for panel in panels:
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            if ref["type"] == "lens":
                used |= {c.get("sourceField") for c in
                         lens_columns(find(pack, "lens", ref["id"])).values()}
            if ref["type"] == "map":
                layers = json.loads(find(pack, "map", ref["id"])["attributes"][
                    "layerListJSON"])
                used |= {layer["sourceDescriptor"].get("geoField") for layer in layers}
        return used

    assert {"published_at", "source", "persons", "organizations", "locations",
            "topic_labels", "language"} <= panel_fields("newspipe-dashboard-news-overview")
    assert "location_points" in panel_fields("newspipe-dashboard-news-overview")  # the map
    assert {"failed_at", "stage", "reason.keyword", "error_type", "status",
            "consecutive_failures", "last_error_class", "feed_url", "items_per_day"} <= (
        panel_fields("newspipe-dashboard-pipeline-health"))
    news_map = find(pack, "map", "newspipe-map-article-locations")
    sources = [layer["sourceDescriptor"] for layer in
               json.loads(news_map["attributes"]["layerListJSON"])]
    assert [s["type"] for s in sources] == ["EMS_TMS", "ES_GEO_GRID", "ES_SEARCH"]
    assert {r["id"] for r in news_map["references"]} == {"newspipe-articles"}


def test_dead_letter_template_maps_exactly_the_dead_letter_fields(
        templates: dict[str, dict[str, Any]]) -> None:
    template = templates["dead-letters-index-template"]
    assert template["index_patterns"] == ["news-dead-letters*"]
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] == "strict"
    assert set(mappings["properties"]) == {f.name for f in dataclass_fields(DeadLetter)}
    assert mappings["properties"]["payload"] == {"type": "keyword", "index": False,
                                                 "doc_values": False}


def test_field_resolution_understands_multi_fields_and_objects(
        templates: dict[str, dict[str, Any]]) -> None:
    fields, matched = data_view_fields("news-articles*", templates)
    assert matched == ["articles-index-template"]
    assert fields["title"].type == "text" and not fields["title"].aggregatable
    assert fields["title.keyword"].aggregatable
    assert fields["persons.text"].type == "text"
    assert fields["entities.name"].aggregatable and fields["topics.label"].aggregatable
    assert fields["entities"].type == "object" and not fields["entities"].aggregatable
    dead, _ = data_view_fields("news-dead-letters*", templates)
    assert not dead["payload"].aggregatable and not dead["payload"].searchable
    _, both = data_view_fields("news-*", templates)
    assert both == ["articles-index-template", "dead-letters-index-template",
                    "feed-health-index-template"]


def test_a_data_view_on_the_write_alias_reads_its_generations() -> None:
    generations = {"articles": {"index_patterns": ["news-articles-*"], "template": {
        "mappings": {"properties": {"persons": {"type": "keyword"}}}}}}
    fields, matched = data_view_fields("news-articles", generations)
    assert matched == ["articles"] and fields["persons"].aggregatable
    assert data_view_fields("news", generations)[1] == []
    assert data_view_fields("news-articles-eu", generations)[1] == ["articles"]


# --- the validator catches broken packs ----------------------------------------------

def test_field_missing_from_template(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    column(find(pack, "lens", "newspipe-lens-top-persons"), "terms")["sourceField"] = "people"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "lens/newspipe-lens-top-persons", "'people'",
                               "not in the mapping")


def test_text_field_used_for_terms(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    column(find(pack, "lens", "newspipe-lens-top-persons"), "terms")["sourceField"] = "title"
    reasons = find(pack, "lens", "newspipe-lens-dead-letter-reasons")
    column(reasons, "terms")["sourceField"] = "reason"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "newspipe-lens-top-persons", "'title' (text)",
                               "not aggregatable", "'title.keyword'")
    assert problems_mentioning(problems, "newspipe-lens-dead-letter-reasons",
                               "'reason' (text)", "'reason.keyword'")
    assert len(problems) == 2


def test_object_sub_fields_and_multi_fields_are_accepted(
        pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    column(find(pack, "lens", "newspipe-lens-top-persons"), "terms")["sourceField"] = \
        "entities.name"
    column(find(pack, "lens", "newspipe-lens-topics"), "terms")["sourceField"] = "topics.label"
    column(find(pack, "lens", "newspipe-lens-top-locations"), "terms")["sourceField"] = \
        "title.keyword"
    assert validate_pack(pack, templates) == []
    column(find(pack, "lens", "newspipe-lens-top-persons"), "terms")["sourceField"] = "entities"
    assert problems_mentioning(validate_pack(pack, templates), "'entities' is an object")


def test_dangling_reference(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    dashboard = find(pack, "dashboard", "newspipe-dashboard-news-overview")
    dashboard["references"][1]["id"] = "no-such-lens"
    find(pack, "lens", "newspipe-lens-languages")["references"][0]["id"] = "newspipe-articlez"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "dashboard/newspipe-dashboard-news-overview",
                               "lens/no-such-lens", "dangling reference")
    assert problems_mentioning(problems, "lens/newspipe-lens-languages",
                               "index-pattern/newspipe-articlez", "dangling reference")


def test_reference_type_must_match(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    dashboard = find(pack, "dashboard", "newspipe-dashboard-news-overview")
    dashboard["references"][0]["type"] = "search"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "points to search/newspipe-lens-volume-by-source",
                               "the pack has 'newspipe-lens-volume-by-source' as lens")
    assert problems_mentioning(problems, "panel type 'lens' but its reference points to "
                                         "a 'search'")


def test_duplicate_id(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    pack.append(copy.deepcopy(find(pack, "lens", "newspipe-lens-languages")))
    problems = validate_pack(pack, templates)
    assert problems == ["lens/newspipe-lens-languages: duplicate id 'newspipe-lens-languages' "
                        "for type 'lens'"]
    # the same id under another type is fine
    other = copy.deepcopy(find(pack, "search", "newspipe-search-latest"))
    other["id"] = "newspipe-lens-languages"
    assert validate_pack([*pack[:-1], other], templates) == []


def test_malformed_panels_json(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    dashboard = find(pack, "dashboard", "newspipe-dashboard-pipeline-health")
    dashboard["attributes"]["panelsJSON"] = dashboard["attributes"]["panelsJSON"][:-5]
    search = find(pack, "search", "newspipe-search-latest")
    search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"] = "{'query': 1}"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "dashboard/newspipe-dashboard-pipeline-health",
                               "attributes.panelsJSON is not valid JSON")
    assert problems_mentioning(problems, "search/newspipe-search-latest",
                               "searchSourceJSON is not valid JSON")


def test_date_histogram_on_non_date_field(pack: Pack,
                                          templates: dict[str, dict[str, Any]]) -> None:
    lens = find(pack, "lens", "newspipe-lens-dead-letters-by-stage")
    column(lens, "date_histogram")["sourceField"] = "source_offset"
    find(pack, "index-pattern", "newspipe-articles")["attributes"]["timeFieldName"] = "source"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "newspipe-lens-dead-letters-by-stage",
                               "'source_offset' is long, a date field is needed")
    assert problems_mentioning(problems, "index-pattern/newspipe-articles", "timeFieldName",
                               "'source' is keyword, a date field is needed")


def test_panel_refs_and_lens_columns(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    dashboard = find(pack, "dashboard", "newspipe-dashboard-news-overview")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    panels[2]["panelRefName"] = "panel_p99"
    panels[3]["gridData"]["w"] = 40
    dashboard["attributes"]["panelsJSON"] = json.dumps(panels)
    lens = find(pack, "lens", "newspipe-lens-volume-by-source")
    lens["attributes"]["state"]["visualization"]["layers"][0]["splitAccessor"] = "col-gone"
    languages = find(pack, "lens", "newspipe-lens-languages")
    languages["attributes"]["state"]["visualization"]["layers"][0]["layerId"] = "layer-9"
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "panel 'p2'", "'panel_p99' has no reference")
    assert problems_mentioning(problems, "panel 'p3'", "does not fit the 48-column grid")
    assert problems_mentioning(problems, "newspipe-lens-volume-by-source",
                               "uses column 'col-gone'")
    assert problems_mentioning(problems, "newspipe-lens-languages",
                               "layer 'layer-9' has no datasource layer")
    assert len(problems) == 4


def test_saved_search_fields(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    person = find(pack, "search", "newspipe-search-person-vladimir-putin")
    source = json.loads(person["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    source["filter"][0]["meta"]["key"] = "person"
    source["query"]["query"] = 'body : "sanctions" and persona : "Kim Jong-un"'
    person["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"] = json.dumps(source)
    person["attributes"]["columns"].append("headline")
    person["attributes"]["sort"] = [["summary", "desc"]]
    problems = validate_pack(pack, templates)
    where = "search/newspipe-search-person-vladimir-putin"
    assert problems_mentioning(problems, where, "filter[0]", "'person' is not in the mapping")
    assert problems_mentioning(problems, where, "query", "'persona' is not in the mapping")
    assert problems_mentioning(problems, where, "column", "'headline'")
    assert problems_mentioning(problems, where, "sort", "'summary' (text)", "sorting")
    assert len(problems) == 4


def test_envelope_and_data_view_problems(pack: Pack,
                                         templates: dict[str, dict[str, Any]]) -> None:
    find(pack, "index-pattern", "newspipe-dead-letters")["attributes"]["title"] = "logs-*"
    del find(pack, "lens", "newspipe-lens-top-locations")["typeMigrationVersion"]
    pack.append({"type": "canvas-workpad", "id": "x", "attributes": {"title": "x"},
                 "references": [], "coreMigrationVersion": "8.8.0",
                 "typeMigrationVersion": "8.0.0"})
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "index-pattern/newspipe-dead-letters",
                               "'logs-*' matches no index template")
    assert problems_mentioning(problems, "newspipe-lens-top-locations", "typeMigrationVersion")
    assert problems_mentioning(problems, "canvas-workpad/x", "unknown type")


def test_load_pack_reports_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"type": "lens", "id": "a"}\n\n{"type": "lens", "id": \n')
    with pytest.raises(PackError, match=r"line 3: invalid JSON"):
        load_pack(path)
    path.write_text('[1, 2]\n')
    with pytest.raises(PackError, match=r"line 1: expected a JSON object"):
        load_pack(path)


def test_query_fields() -> None:
    assert query_fields('persons : "A: B" and not locations:"X" or language >= en') == [
        "persons", "locations", "language"]
    assert query_fields("") == []


# --- import --------------------------------------------------------------------------

class Recorder:
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)


def test_import_pack_posts_multipart_ndjson() -> None:
    recorder = Recorder(200, {"success": True, "successCount": 21, "successResults": []})
    result = import_pack("http://kibana:5601/", PACK_PATH, api_key="ZW5jb2RlZA==",
                         transport=httpx.MockTransport(recorder))
    assert result["successCount"] == 21
    (request,) = recorder.requests
    assert request.method == "POST"
    assert request.url.host == "kibana" and request.url.port == 5601
    assert request.url.path == "/api/saved_objects/_import"
    assert dict(request.url.params) == {"overwrite": "true"}
    assert request.headers["kbn-xsrf"] == "true"
    assert request.headers["authorization"] == "ApiKey ZW5jb2RlZA=="
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = request.content
    assert b'name="file"; filename="newspipe.ndjson"' in body
    assert PACK_PATH.read_bytes() in body


def test_import_pack_basic_auth_space_and_no_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "pack.json"
    path.write_text('{"type":"tag","id":"t","attributes":{},"references":[]}\n')
    recorder = Recorder(200, {"success": True, "successCount": 1})
    import_pack("https://kb.example:5601", path, username="elastic", password="s3cret",
                space="analysts", overwrite=False, transport=httpx.MockTransport(recorder))
    (request,) = recorder.requests
    assert request.url.path == "/s/analysts/api/saved_objects/_import"
    assert dict(request.url.params) == {"overwrite": "false"}
    expected = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    assert request.headers["authorization"] == expected
    assert b'filename="pack.ndjson"' in request.content  # Kibana wants a .ndjson name


def test_import_pack_raises_listing_errors() -> None:
    recorder = Recorder(200, {
        "success": False, "successCount": 19,
        "errors": [
            {"id": "newspipe-dashboard-news-overview", "type": "dashboard",
             "meta": {"title": "News overview"},
             "error": {"type": "missing_references",
                       "references": [{"type": "lens", "id": "newspipe-lens-x"}]}},
            {"id": "newspipe-articles", "type": "index-pattern", "title": "news-articles*",
             "error": {"type": "unknown", "message": "boom"}},
        ]})
    with pytest.raises(KibanaImportError) as info:
        import_pack("http://kibana:5601", PACK_PATH, transport=httpx.MockTransport(recorder))
    message = str(info.value)
    assert "19 objects; 2 failed" in message
    assert ("dashboard/newspipe-dashboard-news-overview (News overview): missing_references "
            "lens/newspipe-lens-x") in message
    assert "index-pattern/newspipe-articles (news-articles*): unknown - boom" in message
    assert info.value.response is not None and info.value.response["successCount"] == 19


def test_import_pack_http_error() -> None:
    recorder = Recorder(401, {"statusCode": 401, "error": "Unauthorized",
                              "message": "[security_exception]: unable to authenticate"})
    with pytest.raises(KibanaImportError, match=r"HTTP 401 \[security_exception\]"):
        import_pack("http://kibana:5601", PACK_PATH, transport=httpx.MockTransport(recorder))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(KibanaImportError, match="cannot reach Kibana"):
        import_pack("http://kibana:5601", PACK_PATH, transport=httpx.MockTransport(refuse))


def test_discover_session_tabs_are_checked(pack: Pack,
                                           templates: dict[str, dict[str, Any]]) -> None:
    """Kibana >= 9.3 exports saved searches as Discover sessions with tabs."""
    search = find(pack, "search", "newspipe-search-latest")
    legacy = search["attributes"]
    tab_attributes = {k: legacy.pop(k) for k in ("columns", "sort", "grid", "hideChart",
                                                 "isTextBasedQuery", "kibanaSavedObjectMeta")}
    legacy["tabs"] = [{"id": "t1", "label": "Untitled", "attributes": tab_attributes}]
    assert validate_pack(pack, templates) == []
    tab_attributes["columns"].append("nope")
    assert problems_mentioning(validate_pack(pack, templates),
                               "search/newspipe-search-latest tabs[0]", "'nope'")


# --- maps ------------------------------------------------------------------------------

def _map_layers(pack: Pack) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    news_map = find(pack, "map", "newspipe-map-article-locations")
    return news_map, json.loads(news_map["attributes"]["layerListJSON"])


def _set_layers(news_map: dict[str, Any], layers: list[dict[str, Any]]) -> None:
    news_map["attributes"]["layerListJSON"] = json.dumps(layers)


@pytest.mark.parametrize(("layer", "key", "value", "expected"), [
    (1, "geoField", "geo", "'geo' is not in the mapping"),
    (1, "geoField", "source", "a geo_point or geo_shape field is needed"),
    (2, "geoField", "entities.point", None),  # a geo_point under an object: fine
    (2, "tooltipProperties", ["title", "headline"], "tooltip: field 'headline' is not"),
    (2, "sortField", "body", "'body' (text) is not aggregatable, cannot be used for sorting"),
    (1, "metrics", [{"type": "avg", "field": "language"}], "a numeric field is needed"),
])
def test_map_layer_fields_are_checked(pack: Pack, templates: dict[str, dict[str, Any]],
                                      layer: int, key: str, value: Any,
                                      expected: str | None) -> None:
    templates = copy.deepcopy(templates)
    templates["articles-index-template"]["template"]["mappings"]["properties"]["entities"][
        "properties"].setdefault("point", {"type": "geo_point"})
    news_map, layers = _map_layers(pack)
    layers[layer]["sourceDescriptor"][key] = value
    _set_layers(news_map, layers)
    problems = validate_pack(pack, templates)
    if expected is None:
        assert problems == []
    else:
        assert problems_mentioning(problems, "map/newspipe-map-article-locations", expected)


def test_map_grid_needs_an_aggregatable_geo_point(pack: Pack,
                                                  templates: dict[str, dict[str, Any]]) -> None:
    templates = copy.deepcopy(templates)
    templates["articles-index-template"]["template"]["mappings"]["properties"][
        "location_points"] = {"type": "geo_point", "doc_values": False}
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "layer 'article-density' geoField",
                               "not aggregatable")
    assert not problems_mentioning(problems, "layer 'article-points'")


def test_map_references(pack: Pack, templates: dict[str, dict[str, Any]]) -> None:
    news_map, layers = _map_layers(pack)
    del layers[1]["sourceDescriptor"]["indexPatternRefName"]
    layers[2]["sourceDescriptor"]["indexPatternRefName"] = "layer_9_source_index_pattern"
    layers.append(copy.deepcopy(layers[0]))  # duplicate layer id
    _set_layers(news_map, layers)
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "'article-density'", "needs indexPatternRefName")
    assert problems_mentioning(problems, "no reference named 'layer_9_source_index_pattern'")
    assert problems_mentioning(problems, "needs a unique id")


def test_dashboard_map_panel_must_point_to_a_map(pack: Pack,
                                                 templates: dict[str, dict[str, Any]]) -> None:
    dashboard = find(pack, "dashboard", "newspipe-dashboard-news-overview")
    [ref] = [r for r in dashboard["references"] if r["type"] == "map"]
    ref.update(type="lens", id="newspipe-lens-top-persons")
    problems = validate_pack(pack, templates)
    assert problems_mentioning(problems, "panel type 'map' but its reference points to a "
                                         "'lens'")


def test_map_without_layers_and_broken_layer_json(pack: Pack,
                                                  templates: dict[str, dict[str, Any]]) -> None:
    news_map = find(pack, "map", "newspipe-map-article-locations")
    news_map["attributes"]["layerListJSON"] = "[]"
    assert problems_mentioning(validate_pack(pack, templates), "non-empty JSON array")
    news_map["attributes"]["layerListJSON"] = "[{"
    assert problems_mentioning(validate_pack(pack, templates), "layerListJSON is not valid")


def test_feed_health_template_has_the_contract_fields(
        templates: dict[str, dict[str, Any]]) -> None:
    properties = templates["feed-health-index-template"]["template"]["mappings"]["properties"]
    assert {"feed_url", "feed_name", "status", "last_polled_at", "last_success_at",
            "last_error", "last_error_class", "consecutive_failures", "items_per_day",
            "items_produced", "next_poll_at", "retired", "retired_reason", "poller_id",
            "updated_at"} <= set(properties)
