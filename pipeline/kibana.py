"""The Kibana pack as code: load it, validate it statically, import it.

``deploy/kibana/newspipe.ndjson`` holds Kibana saved objects (data views, saved searches,
Lens visualizations, dashboards) in the NDJSON format of the saved objects export/import
API. Kibana itself only reports a broken field or reference when someone opens the panel,
so :func:`validate_pack` checks the pack against the Elasticsearch index templates in
``deploy/elasticsearch/`` without a running Kibana: every reference resolves, every nested
JSON string parses, every field a data view, saved search, filter, query or Lens column
uses exists in the mapping behind the data view, aggregations only use aggregatable fields
and date histograms only date fields.

:func:`import_pack` uploads the file to ``POST /api/saved_objects/_import``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import ssl
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pipeline.settings import DEPLOY_DIR

PACK_PATH = DEPLOY_DIR / "kibana" / "newspipe.ndjson"
TEMPLATES_DIR = DEPLOY_DIR / "elasticsearch"

#: Saved object types the pack may contain.
KNOWN_TYPES = frozenset({"index-pattern", "search", "lens", "dashboard", "visualization", "tag",
                         "map"})

#: Objects that may be referenced without being in the pack, as ``(type, id)``. Kibana has
#: no saved object that exists in every installation, so this is empty; callers can pass
#: their own (e.g. a shared tag) to :func:`validate_pack`.
BUILTIN_REFERENCES: frozenset[tuple[str, str]] = frozenset()

#: Lens' pseudo field for "count of records".
RECORDS_FIELD = "___records___"

NUMERIC_TYPES = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float",
                           "scaled_float", "unsigned_long"})
DATE_TYPES = frozenset({"date", "date_nanos"})
GEO_TYPES = frozenset({"geo_point", "geo_shape"})
AGGREGATABLE_TYPES = NUMERIC_TYPES | DATE_TYPES | frozenset(
    {"keyword", "constant_keyword", "wildcard", "boolean", "ip", "geo_point", "version"})

# Attributes holding JSON in a string, besides every attribute whose name ends in "JSON".
_JSON_STRING_ATTRIBUTES = frozenset({"visState", "fields", "fieldFormatMap", "fieldAttrs",
                                     "runtimeFieldMap", "sourceFilters", "typeMeta"})
_META_FIELDS = {"_id": "keyword", "_index": "keyword", "_score": "float"}
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")

# Lens operations and what they need from their source field.
_DATE_OPERATIONS = frozenset({"date_histogram"})
_NUMERIC_OPERATIONS = frozenset({"average", "sum", "median", "percentile", "percentile_rank",
                                 "standard_deviation", "range"})
_NUMERIC_OR_DATE_OPERATIONS = frozenset({"min", "max"})
_AGGREGATING_OPERATIONS = frozenset({"terms", "unique_count", "last_value", "count"}) | (
    _DATE_OPERATIONS | _NUMERIC_OPERATIONS | _NUMERIC_OR_DATE_OPERATIONS)

# Legacy (aggregation-based) visualizations: agg type -> requirement.
_VIS_AGG_REQUIREMENT = {
    "date_histogram": "date", "terms": "aggregatable", "significant_terms": "aggregatable",
    "cardinality": "aggregatable", "top_hits": "aggregatable", "histogram": "numeric",
    "range": "numeric", "avg": "numeric", "sum": "numeric", "median": "numeric",
    "percentiles": "numeric", "std_dev": "numeric", "min": "numeric_or_date",
    "max": "numeric_or_date", "geohash_grid": "aggregatable", "geotile_grid": "aggregatable",
}

# Keys in Lens visualization state that name a datasource column.
_ACCESSOR_KEYS = ("xAccessor", "splitAccessor", "accessor", "metricAccessor", "maxAccessor",
                  "secondaryMetricAccessor", "breakdownByAccessor", "regionAccessor",
                  "valueAccessor", "tagAccessor", "sizeByAccessor", "metric")
_ACCESSOR_LIST_KEYS = ("accessors", "splitAccessors", "primaryGroups", "secondaryGroups",
                       "metrics", "groups")


class PackError(ValueError):
    """The pack file cannot be read (bad JSON, not an object per line)."""


class KibanaImportError(RuntimeError):
    """Kibana refused the import, or some objects in it."""

    def __init__(self, message: str, response: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.response = response


# --- loading -------------------------------------------------------------------------

def load_pack(path: Path | str) -> list[dict[str, Any]]:
    """Parse an NDJSON saved-objects file: one JSON object per non-empty line."""
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PackError(f"{path}: line {number}: invalid JSON: {exc.msg} "
                            f"(column {exc.colno})") from exc
        if not isinstance(value, dict):
            raise PackError(f"{path}: line {number}: expected a JSON object, "
                            f"got {type(value).__name__}")
        objects.append(value)
    return objects


def load_templates(directory: Path | str = TEMPLATES_DIR) -> dict[str, dict[str, Any]]:
    """The composable index templates in ``directory`` (``*-index-template.json``), by stem."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(Path(directory).glob("*-index-template.json"))}


# --- mappings ------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldInfo:
    """One field of a data view, as Kibana would see it from the mapping."""

    name: str
    type: str  # Elasticsearch type; "object"/"nested" for containers, "conflict" if mixed
    searchable: bool
    aggregatable: bool


def mapping_fields(mappings: Mapping[str, Any]) -> dict[str, FieldInfo]:
    """Flatten ``mappings.properties`` into dotted field names (object sub-fields such as
    ``entities.name`` and multi-fields such as ``title.keyword`` included)."""
    fields: dict[str, FieldInfo] = {}
    _flatten(mappings.get("properties", {}), "", False, fields)
    return fields


def _flatten(properties: Mapping[str, Any], prefix: str, in_nested: bool,
             out: dict[str, FieldInfo]) -> None:
    for name, spec in properties.items():
        full = f"{prefix}{name}"
        if not isinstance(spec, Mapping):
            continue
        es_type = spec.get("type", "object")
        if es_type in ("object", "nested") or "properties" in spec:
            out[full] = FieldInfo(full, es_type, searchable=False, aggregatable=False)
            _flatten(spec.get("properties", {}), f"{full}.",
                     in_nested or es_type == "nested", out)
            continue
        out[full] = _leaf(full, es_type, spec, in_nested)
        for sub_name, sub_spec in spec.get("fields", {}).items():
            if isinstance(sub_spec, Mapping):
                sub = f"{full}.{sub_name}"
                out[sub] = _leaf(sub, sub_spec.get("type", "object"), sub_spec, in_nested)


def _leaf(name: str, es_type: str, spec: Mapping[str, Any], in_nested: bool) -> FieldInfo:
    doc_values = spec.get("doc_values", True) is not False
    indexed = spec.get("index", True) is not False
    if es_type == "text":
        aggregatable = spec.get("fielddata", False) is True
    else:
        aggregatable = es_type in AGGREGATABLE_TYPES and doc_values
    # Fields under a nested mapping need nested queries/aggregations, which data views and
    # Lens do not build: treat them as not aggregatable.
    searchable = indexed or (doc_values and es_type in AGGREGATABLE_TYPES)
    return FieldInfo(name, es_type, searchable=searchable,
                     aggregatable=aggregatable and not in_nested)


def _patterns_overlap(left: str, right: str) -> bool:
    return fnmatch.fnmatchcase(left, right) or fnmatch.fnmatchcase(right, left)


def _title_matches(title_pattern: str, template_pattern: str) -> bool:
    """A data view title matches a template when their patterns overlap, or when the title
    is a write alias (no wildcard) whose rolled generations ``<alias>-000001``... the
    template covers: data views on the articles alias read every generation."""
    if _patterns_overlap(title_pattern, template_pattern):
        return True
    return "*" not in title_pattern and fnmatch.fnmatchcase(f"{title_pattern}-000001",
                                                             template_pattern)


def data_view_fields(title: str, templates: Mapping[str, Mapping[str, Any]]
                     ) -> tuple[dict[str, FieldInfo], list[str]]:
    """The fields a data view titled ``title`` (comma-separated index patterns) would see,
    merged from every template whose ``index_patterns`` overlap, and the names of those
    templates. A field mapped with different types in two templates becomes "conflict"."""
    merged: dict[str, FieldInfo] = {}
    matched: list[str] = []
    patterns = [p.strip() for p in title.split(",") if p.strip() and not p.startswith("-")]
    for name, template in templates.items():
        index_patterns = template.get("index_patterns", [])
        if isinstance(index_patterns, str):
            index_patterns = [index_patterns]
        if not any(_title_matches(p, t) for p in patterns for t in index_patterns):
            continue
        matched.append(name)
        mappings = template.get("template", {}).get("mappings", {})
        for field_name, info in mapping_fields(mappings).items():
            known = merged.get(field_name)
            if known is not None and known.type != info.type:
                info = FieldInfo(field_name, "conflict", searchable=False, aggregatable=False)
            merged[field_name] = info
    if matched:
        for meta, es_type in _META_FIELDS.items():
            merged.setdefault(meta, FieldInfo(meta, es_type, searchable=True,
                                              aggregatable=meta == "_index"))
    return merged, matched


# --- validation ----------------------------------------------------------------------

@dataclass
class _DataView:
    id: str
    title: str
    fields: dict[str, FieldInfo] | None  # None: unresolvable (already reported)


@dataclass
class _Context:
    templates: Mapping[str, Mapping[str, Any]]
    objects: dict[tuple[str, str], dict[str, Any]]
    external: frozenset[tuple[str, str]]
    problems: list[str] = field(default_factory=list)
    data_views: dict[str, _DataView] = field(default_factory=dict)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def validate_pack(objects: list[dict[str, Any]],
                  templates: Mapping[str, Mapping[str, Any]],
                  *, external: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Every problem found in ``objects`` (empty list: valid). ``templates`` maps a name to
    a composable index template body (``index_patterns`` + ``template.mappings``);
    ``external`` lists ``(type, id)`` objects that exist outside the pack."""
    ctx = _Context(templates=templates, objects={},
                   external=BUILTIN_REFERENCES | frozenset(external))
    labelled: list[tuple[str, dict[str, Any]]] = []
    for position, obj in enumerate(objects, 1):
        where = _check_envelope(ctx, position, obj)
        if where is None:
            continue
        key = (obj["type"], obj["id"])
        if key in ctx.objects:
            ctx.problem(where, f"duplicate id {obj['id']!r} for type {obj['type']!r}")
            continue
        ctx.objects[key] = obj
        labelled.append((where, obj))

    for where, obj in labelled:
        _check_json_strings(ctx, where, obj["attributes"])
        _check_references(ctx, where, obj)
    for where, obj in labelled:
        if obj["type"] == "index-pattern":
            _check_data_view(ctx, where, obj)
    checks = {"search": _check_search, "lens": _check_lens, "dashboard": _check_dashboard,
              "visualization": _check_visualization, "map": _check_map}
    for where, obj in labelled:
        check = checks.get(obj["type"])
        if check is not None:
            check(ctx, where, obj)
    return ctx.problems


def _check_envelope(ctx: _Context, position: int, obj: Any) -> str | None:
    """Check the saved-object envelope; return a label for messages, None to skip it."""
    if not isinstance(obj, dict):
        ctx.problem(f"object #{position}", "not a JSON object")
        return None
    if "exportedCount" in obj and "type" not in obj:
        return None  # the summary line of a Kibana export
    obj_type, obj_id = obj.get("type"), obj.get("id")
    where = (f"{obj_type}/{obj_id}" if isinstance(obj_type, str) and isinstance(obj_id, str)
             else f"object #{position}")
    ok = True
    if not isinstance(obj_type, str) or not obj_type:
        ctx.problem(where, "missing 'type'")
        ok = False
    elif obj_type not in KNOWN_TYPES:
        ctx.problem(where, f"unknown type {obj_type!r} (known: {', '.join(sorted(KNOWN_TYPES))})")
        ok = False
    if not isinstance(obj_id, str) or not obj_id:
        ctx.problem(where, "missing 'id'")
        ok = False
    if not isinstance(obj.get("attributes"), dict):
        ctx.problem(where, "missing 'attributes' object")
        ok = False
    references = obj.get("references")
    if not isinstance(references, list):
        ctx.problem(where, "missing 'references' list")
        ok = False
    else:
        for ref in references:
            if not (isinstance(ref, dict)
                    and all(isinstance(ref.get(k), str) and ref.get(k) for k in
                            ("name", "type", "id"))):
                ctx.problem(where, f"reference {ref!r} needs string 'name', 'type' and 'id'")
                ok = False
    for version_key in ("coreMigrationVersion", "typeMigrationVersion"):
        value = obj.get(version_key)
        if not (isinstance(value, str) and _VERSION.match(value)):
            ctx.problem(where, f"{version_key} must be a version such as '8.8.0', got {value!r}")
    if ok and obj_type != "tag" and not _non_empty_str(obj["attributes"].get("title")):
        ctx.problem(where, "attributes.title is missing or empty")
    return where if ok else None


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_json_strings(ctx: _Context, where: str, value: Any, path: str = "attributes") -> None:
    if isinstance(value, list):
        for number, item in enumerate(value):
            _check_json_strings(ctx, where, item, f"{path}[{number}]")
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        item_path = f"{path}.{key}"
        if isinstance(item, str) and (key.endswith("JSON") or key in _JSON_STRING_ATTRIBUTES):
            try:
                json.loads(item)
            except json.JSONDecodeError as exc:
                ctx.problem(where, f"{item_path} is not valid JSON: {exc.msg} "
                                   f"(char {exc.pos})")
        elif isinstance(item, dict | list):
            _check_json_strings(ctx, where, item, item_path)


def _parsed(value: Any) -> Any:
    """A nested JSON string parsed (None when absent or broken: reported elsewhere)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


def _check_references(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    seen: set[str] = set()
    for ref in obj["references"]:
        name, ref_type, ref_id = ref["name"], ref["type"], ref["id"]
        if name in seen:
            ctx.problem(where, f"duplicate reference name {name!r}")
        seen.add(name)
        _check_target(ctx, where, f"reference {name!r}", ref_type, ref_id)


def _check_target(ctx: _Context, where: str, what: str, ref_type: str, ref_id: str) -> None:
    if (ref_type, ref_id) in ctx.objects or (ref_type, ref_id) in ctx.external:
        return
    same_id = sorted(t for (t, i) in ctx.objects if i == ref_id)
    if same_id:
        ctx.problem(where, f"{what} points to {ref_type}/{ref_id}, but the pack has "
                           f"{ref_id!r} as {', '.join(same_id)}")
    else:
        ctx.problem(where, f"{what} points to {ref_type}/{ref_id}, which is not in the pack "
                           "(dangling reference)")


def _refs_by_name(references: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    refs: dict[str, Mapping[str, Any]] = {}
    for ref in references:
        if isinstance(ref, Mapping) and isinstance(ref.get("name"), str):
            refs.setdefault(ref["name"], ref)
    return refs


# data views

def _check_data_view(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    attributes = obj["attributes"]
    title = attributes.get("title", "")
    fields, matched = data_view_fields(title, ctx.templates)
    if not matched:
        patterns = sorted({p for t in ctx.templates.values()
                           for p in _as_list(t.get("index_patterns"))})
        ctx.problem(where, f"title {title!r} matches no index template "
                           f"(template patterns: {', '.join(patterns) or 'none'})")
        ctx.data_views[obj["id"]] = _DataView(obj["id"], title, None)
        return
    runtime = _parsed(attributes.get("runtimeFieldMap")) or {}
    if isinstance(runtime, dict):
        for name, spec in runtime.items():
            es_type = spec.get("type", "keyword") if isinstance(spec, dict) else "keyword"
            fields[name] = FieldInfo(name, es_type, searchable=True,
                                     aggregatable=es_type in AGGREGATABLE_TYPES)
    view = _DataView(obj["id"], title, fields)
    ctx.data_views[obj["id"]] = view
    time_field = attributes.get("timeFieldName")
    if time_field:
        _check_field(ctx, where, view, time_field, "date", "timeFieldName")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _data_view(ctx: _Context, where: str, what: str, data_view_id: str | None
               ) -> _DataView | None:
    """The data view with this id (a problem is recorded when it is not in the pack)."""
    if data_view_id is None:
        return None
    view = ctx.data_views.get(data_view_id)
    if view is None and ("index-pattern", data_view_id) not in ctx.objects:
        if ("index-pattern", data_view_id) not in ctx.external:
            ctx.problem(where, f"{what}: data view {data_view_id!r} is not in the pack")
        return None
    return view


def _view_from_ref(ctx: _Context, where: str, refs: Mapping[str, Mapping[str, Any]],
                   ref_name: str, what: str) -> _DataView | None:
    ref = refs.get(ref_name)
    if ref is None:
        ctx.problem(where, f"{what}: no reference named {ref_name!r}")
        return None
    if ref.get("type") != "index-pattern":
        ctx.problem(where, f"{what}: reference {ref_name!r} has type {ref.get('type')!r}, "
                           "expected 'index-pattern'")
        return None
    return ctx.data_views.get(str(ref.get("id")))


def _check_field(ctx: _Context, where: str, view: _DataView | None, name: Any, need: str,
                 usage: str) -> None:
    """``need``: exists | searchable | aggregatable | sortable | date | numeric |
    numeric_or_date | geo | geo_aggregatable."""
    if view is None or view.fields is None:
        return
    if not isinstance(name, str) or not name:
        ctx.problem(where, f"{usage}: field name missing")
        return
    info = view.fields.get(name)
    if info is None:
        ctx.problem(where, f"{usage}: field {name!r} is not in the mapping behind data view "
                           f"{view.title!r}")
        return
    if info.type == "conflict":
        ctx.problem(where, f"{usage}: field {name!r} has conflicting types across the "
                           f"indices of {view.title!r}")
        return
    if need == "exists":
        return
    if need in ("geo", "geo_aggregatable"):
        if info.type not in GEO_TYPES:
            ctx.problem(where, f"{usage}: field {name!r} is {info.type}, a geo_point or "
                               "geo_shape field is needed")
        elif need == "geo_aggregatable" and not info.aggregatable:
            ctx.problem(where, f"{usage}: field {name!r} is not aggregatable (doc_values "
                               "off, or under a nested mapping): no grid aggregation")
        return
    if info.type in ("object", "nested"):
        ctx.problem(where, f"{usage}: {name!r} is an object, not a field")
        return
    if need == "searchable":
        if not info.searchable:
            ctx.problem(where, f"{usage}: field {name!r} is not searchable "
                               "(index and doc_values are off)")
        return
    if not info.aggregatable:
        hint = ""
        keyword_sub = next((f for f, i in view.fields.items()
                            if f.startswith(f"{name}.") and i.aggregatable), None)
        if keyword_sub:
            hint = f"; use its sub-field {keyword_sub!r}"
        kind = "sorting" if need == "sortable" else "aggregation"
        ctx.problem(where, f"{usage}: field {name!r} ({info.type}) is not aggregatable, "
                           f"cannot be used for {kind}{hint}")
        return
    if need == "date" and info.type not in DATE_TYPES:
        ctx.problem(where, f"{usage}: field {name!r} is {info.type}, a date field is needed")
    elif need == "numeric" and info.type not in NUMERIC_TYPES:
        ctx.problem(where, f"{usage}: field {name!r} is {info.type}, a numeric field is needed")
    elif need == "numeric_or_date" and info.type not in NUMERIC_TYPES | DATE_TYPES:
        ctx.problem(where, f"{usage}: field {name!r} is {info.type}, "
                           "a numeric or date field is needed")


# queries and filters

_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')
_QUERY_FIELD = re.compile(r'(?<![\w.*:/\\-])([A-Za-z_@][\w.@-]*)\s*(?::|<=|>=|<|>)')


def query_fields(query: str) -> list[str]:
    """Field names a KQL/Lucene query string names explicitly (``field: value``,
    ``field >= x``); quoted values are ignored."""
    return _QUERY_FIELD.findall(_QUOTED.sub('""', query))


def _check_query(ctx: _Context, where: str, view: _DataView | None, query: Any,
                 usage: str) -> None:
    if not isinstance(query, dict):
        return
    language, text = query.get("language", "kuery"), query.get("query")
    if language not in ("kuery", "lucene") or not isinstance(text, str):
        return
    for name in query_fields(text):
        _check_field(ctx, where, view, name, "searchable", f"{usage} {text!r}")


def _filter_fields(flt: Mapping[str, Any]) -> list[str]:
    meta = flt.get("meta") if isinstance(flt.get("meta"), Mapping) else {}
    assert isinstance(meta, Mapping)
    if isinstance(meta.get("key"), str):
        return [meta["key"]]
    names: list[str] = []
    query = flt.get("query") if isinstance(flt.get("query"), Mapping) else flt
    assert isinstance(query, Mapping)
    for clause in ("match_phrase", "match", "term", "terms", "range", "prefix", "wildcard"):
        body = query.get(clause)
        if isinstance(body, Mapping):
            names.extend(k for k in body if k != "boost")
    exists = query.get("exists")
    if isinstance(exists, Mapping) and isinstance(exists.get("field"), str):
        names.append(exists["field"])
    return names


def _check_filters(ctx: _Context, where: str, filters: Any,
                   refs: Mapping[str, Mapping[str, Any]], default_view: _DataView | None,
                   usage: str) -> None:
    if filters is None:
        return
    if not isinstance(filters, list):
        ctx.problem(where, f"{usage}: filters must be a list")
        return
    for number, flt in enumerate(filters):
        label = f"{usage} filter[{number}]"
        if not isinstance(flt, Mapping):
            ctx.problem(where, f"{label}: not an object")
            continue
        meta = flt.get("meta") if isinstance(flt.get("meta"), Mapping) else {}
        assert isinstance(meta, Mapping)
        view = default_view
        if isinstance(meta.get("indexRefName"), str):
            view = _view_from_ref(ctx, where, refs, meta["indexRefName"], label)
        elif isinstance(meta.get("index"), str):
            view = _data_view(ctx, where, label, meta["index"])
        for name in _filter_fields(flt):
            _check_field(ctx, where, view, name, "searchable", label)


# saved searches

def _search_source(ctx: _Context, where: str, attributes: Mapping[str, Any]
                   ) -> dict[str, Any] | None:
    meta = attributes.get("kibanaSavedObjectMeta")
    raw = meta.get("searchSourceJSON") if isinstance(meta, Mapping) else None
    if raw is None:
        return None
    source = _parsed(raw)
    if source is not None and not isinstance(source, dict):
        ctx.problem(where, "kibanaSavedObjectMeta.searchSourceJSON must be a JSON object")
        return None
    return source


def _check_search(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    refs = _refs_by_name(obj["references"])
    tabs = obj["attributes"].get("tabs")
    if isinstance(tabs, list):  # Discover sessions as Kibana >= 9.3 stores them
        for number, tab in enumerate(tabs):
            tab_attributes = tab.get("attributes") if isinstance(tab, Mapping) else None
            if not isinstance(tab_attributes, Mapping):
                ctx.problem(where, f"tabs[{number}] has no attributes")
                continue
            _check_search_attributes(ctx, f"{where} tabs[{number}]", tab_attributes, refs)
    else:
        _check_search_attributes(ctx, where, obj["attributes"], refs)


def _check_search_attributes(ctx: _Context, where: str, attributes: Mapping[str, Any],
                             refs: Mapping[str, Mapping[str, Any]]) -> None:
    source = _search_source(ctx, where, attributes)
    if source is None:
        ctx.problem(where, "kibanaSavedObjectMeta.searchSourceJSON is missing or invalid")
        return
    view: _DataView | None = None
    if isinstance(source.get("indexRefName"), str):
        view = _view_from_ref(ctx, where, refs, source["indexRefName"], "searchSourceJSON")
    elif isinstance(source.get("index"), str):
        view = _data_view(ctx, where, "searchSourceJSON.index", source["index"])
    elif not attributes.get("isTextBasedQuery"):
        ctx.problem(where, "searchSourceJSON names no data view (indexRefName)")
    _check_query(ctx, where, view, source.get("query"), "query")
    _check_filters(ctx, where, source.get("filter"), refs, view, "searchSourceJSON")
    for column in _as_list(attributes.get("columns")):
        if column != "_source":
            _check_field(ctx, where, view, column, "exists", "column")
    for entry in _as_list(attributes.get("sort")):
        if (not isinstance(entry, list) or len(entry) != 2
                or entry[1] not in ("asc", "desc")):
            ctx.problem(where, f"sort entry {entry!r} must be [field, 'asc'|'desc']")
            continue
        if entry[0] != "_score":
            _check_field(ctx, where, view, entry[0], "sortable", "sort")


# Lens

def _check_lens(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    _check_lens_attributes(ctx, where, obj["attributes"], obj["references"])


def _check_lens_attributes(ctx: _Context, where: str, attributes: Mapping[str, Any],
                           references: list[Any]) -> None:
    state = attributes.get("state")
    if not isinstance(state, Mapping):
        ctx.problem(where, "Lens attributes.state is missing")
        return
    if not _non_empty_str(attributes.get("visualizationType")):
        ctx.problem(where, "Lens visualizationType is missing")
    refs = _refs_by_name(references)
    internal = _refs_by_name(_as_list(state.get("internalReferences")))
    ad_hoc = state.get("adHocDataViews") if isinstance(state.get("adHocDataViews"), Mapping) \
        else {}
    assert isinstance(ad_hoc, Mapping)
    datasources = state.get("datasourceStates")
    if not isinstance(datasources, Mapping):
        ctx.problem(where, "Lens state.datasourceStates is missing")
        return

    layers: dict[str, Mapping[str, Any]] = {}
    layer_views: dict[str, _DataView | None] = {}
    for datasource in ("formBased", "indexpattern"):
        ds_state = datasources.get(datasource)
        if not isinstance(ds_state, Mapping):
            continue
        for layer_id, layer in (ds_state.get("layers") or {}).items():
            if not isinstance(layer, Mapping):
                ctx.problem(where, f"layer {layer_id!r} is not an object")
                continue
            layers[layer_id] = layer
            layer_views[layer_id] = _lens_layer_view(ctx, where, layer_id, refs, internal,
                                                     ad_hoc)
    if not layers and not _has_text_based_layers(datasources):
        ctx.problem(where, "Lens state has no formBased layers")

    default_view = next((v for v in layer_views.values() if v is not None), None)
    for layer_id, layer in layers.items():
        _check_lens_layer(ctx, where, layer_id, layer, layer_views[layer_id])
    _check_lens_visualization(ctx, where, state.get("visualization"), layers,
                              _has_text_based_layers(datasources))
    _check_query(ctx, where, default_view, state.get("query"), "Lens query")
    _check_filters(ctx, where, state.get("filters"), refs, default_view, "Lens")


def _has_text_based_layers(datasources: Mapping[str, Any]) -> bool:
    text_based = datasources.get("textBased")
    return isinstance(text_based, Mapping) and bool(text_based.get("layers"))


def _lens_layer_view(ctx: _Context, where: str, layer_id: str,
                     refs: Mapping[str, Mapping[str, Any]],
                     internal: Mapping[str, Mapping[str, Any]],
                     ad_hoc: Mapping[str, Any]) -> _DataView | None:
    name = f"indexpattern-datasource-layer-{layer_id}"
    if name in internal:  # an ad hoc data view stored inside the visualization
        spec = ad_hoc.get(str(internal[name].get("id")))
        if not isinstance(spec, Mapping) or not _non_empty_str(spec.get("title")):
            ctx.problem(where, f"layer {layer_id!r}: ad hoc data view "
                               f"{internal[name].get('id')!r} is not defined")
            return None
        fields, matched = data_view_fields(spec["title"], ctx.templates)
        if not matched:
            ctx.problem(where, f"layer {layer_id!r}: ad hoc data view title {spec['title']!r} "
                               "matches no index template")
            return None
        return _DataView(str(spec.get("id")), spec["title"], fields)
    if name not in refs and "indexpattern-datasource-current-indexpattern" in refs:
        name = "indexpattern-datasource-current-indexpattern"
    return _view_from_ref(ctx, where, refs, name, f"layer {layer_id!r}")


def _check_lens_layer(ctx: _Context, where: str, layer_id: str, layer: Mapping[str, Any],
                      view: _DataView | None) -> None:
    columns = layer.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        ctx.problem(where, f"layer {layer_id!r} has no columns")
        return
    for column_id in _as_list(layer.get("columnOrder")):
        if column_id not in columns:
            ctx.problem(where, f"layer {layer_id!r}: columnOrder names unknown column "
                               f"{column_id!r}")
    for column_id, column in columns.items():
        label = f"layer {layer_id!r} column {column_id!r}"
        if not isinstance(column, Mapping):
            ctx.problem(where, f"{label} is not an object")
            continue
        operation = column.get("operationType")
        if not _non_empty_str(operation):
            ctx.problem(where, f"{label} has no operationType")
            continue
        label = f"{label} ({operation})"
        source = column.get("sourceField")
        if operation == "count" and source in (RECORDS_FIELD, "Records", None):
            pass
        elif source is not None:
            need = ("date" if operation in _DATE_OPERATIONS else
                    "numeric" if operation in _NUMERIC_OPERATIONS else
                    "numeric_or_date" if operation in _NUMERIC_OR_DATE_OPERATIONS else
                    "aggregatable" if operation in _AGGREGATING_OPERATIONS else "exists")
            _check_field(ctx, where, view, source, need, label)
        elif operation in _AGGREGATING_OPERATIONS and operation != "count":
            ctx.problem(where, f"{label} has no sourceField")
        params = column.get("params") if isinstance(column.get("params"), Mapping) else {}
        assert isinstance(params, Mapping)
        for secondary in _as_list(params.get("secondaryFields")):
            _check_field(ctx, where, view, secondary, "aggregatable", f"{label} secondaryFields")
        order_by = params.get("orderBy")
        if isinstance(order_by, Mapping) and order_by.get("type") == "column" \
                and order_by.get("columnId") not in columns:
            ctx.problem(where, f"{label}: orderBy names unknown column "
                               f"{order_by.get('columnId')!r}")
        for referenced in _as_list(column.get("references")):
            if referenced not in columns:
                ctx.problem(where, f"{label}: references unknown column {referenced!r}")
        _check_query(ctx, where, view, column.get("filter"), f"{label} filter")
        for entry in _as_list(params.get("filters")):
            if isinstance(entry, Mapping):
                _check_query(ctx, where, view, entry.get("input"), f"{label} filters")


def _visualization_layers(visualization: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    layers = visualization.get("layers")
    if isinstance(layers, list):
        yield from (layer for layer in layers if isinstance(layer, Mapping))
    elif "layerId" in visualization:
        yield visualization


def _layer_accessors(layer: Mapping[str, Any]) -> list[str]:
    accessors: list[str] = []
    for key in _ACCESSOR_KEYS:
        if isinstance(layer.get(key), str):
            accessors.append(layer[key])
    for key in _ACCESSOR_LIST_KEYS:
        accessors.extend(a for a in _as_list(layer.get(key)) if isinstance(a, str))
    for entry in _as_list(layer.get("yConfig")):
        if isinstance(entry, Mapping) and isinstance(entry.get("forAccessor"), str):
            accessors.append(entry["forAccessor"])
    for entry in _as_list(layer.get("columns")):  # datatable
        if isinstance(entry, Mapping) and isinstance(entry.get("columnId"), str):
            accessors.append(entry["columnId"])
    return accessors


def _check_lens_visualization(ctx: _Context, where: str, visualization: Any,
                              layers: Mapping[str, Mapping[str, Any]],
                              has_text_based: bool) -> None:
    if not isinstance(visualization, Mapping):
        ctx.problem(where, "Lens state.visualization is missing")
        return
    for vis_layer in _visualization_layers(visualization):
        if vis_layer.get("layerType", "data") == "annotations":
            continue
        layer_id = vis_layer.get("layerId")
        layer = layers.get(layer_id) if isinstance(layer_id, str) else None
        if layer is None:
            if not has_text_based:
                ctx.problem(where, f"visualization layer {layer_id!r} has no datasource layer")
            continue
        columns = layer.get("columns") if isinstance(layer.get("columns"), Mapping) else {}
        assert isinstance(columns, Mapping)
        for accessor in _layer_accessors(vis_layer):
            if accessor not in columns:
                ctx.problem(where, f"visualization layer {layer_id!r} uses column "
                                   f"{accessor!r}, which layer {layer_id!r} does not define")


# dashboards

def _check_dashboard(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    attributes = obj["attributes"]
    refs = _refs_by_name(obj["references"])
    panels = _parsed(attributes.get("panelsJSON"))
    if "panelsJSON" not in attributes:
        ctx.problem(where, "attributes.panelsJSON is missing")
    elif panels is not None and not isinstance(panels, list):
        ctx.problem(where, "panelsJSON must be a JSON array of panels")
    elif panels is not None:
        _check_panels(ctx, where, panels, refs)
    source = _search_source(ctx, where, attributes)
    if source is not None:
        _check_filters(ctx, where, source.get("filter"), refs, None, "dashboard")


def _check_panels(ctx: _Context, where: str, panels: list[Any],
                  refs: Mapping[str, Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for number, panel in enumerate(panels):
        label = f"panel[{number}]"
        if not isinstance(panel, Mapping):
            ctx.problem(where, f"{label} is not an object")
            continue
        panel_index = panel.get("panelIndex")
        if not isinstance(panel_index, str) or not panel_index:
            ctx.problem(where, f"{label} has no panelIndex")
        elif panel_index in seen:
            ctx.problem(where, f"{label}: duplicate panelIndex {panel_index!r}")
        else:
            seen.add(panel_index)
            label = f"panel {panel_index!r}"
        panel_type = panel.get("type")
        if not _non_empty_str(panel_type):
            ctx.problem(where, f"{label} has no type")
        _check_grid(ctx, where, label, panel.get("gridData"))
        ref_name = panel.get("panelRefName")
        if ref_name is not None:
            ref = refs.get(f"{panel_index}:{ref_name}") or refs.get(str(ref_name))
            if ref is None:
                ctx.problem(where, f"{label}: panelRefName {ref_name!r} has no reference "
                                   f"(expected one named '{panel_index}:{ref_name}')")
            elif _non_empty_str(panel_type) and ref.get("type") != panel_type:
                ctx.problem(where, f"{label}: panel type {panel_type!r} but its reference "
                                   f"points to a {ref.get('type')!r}")
        config = panel.get("embeddableConfig")
        by_value = config.get("attributes") if isinstance(config, Mapping) else None
        if panel_type == "lens" and isinstance(by_value, Mapping):
            _check_lens_attributes(ctx, f"{where} {label}", by_value,
                                   _as_list(by_value.get("references")))
            for ref in _as_list(by_value.get("references")):
                if isinstance(ref, Mapping):
                    _check_target(ctx, where, f"{label} reference {ref.get('name')!r}",
                                  str(ref.get("type")), str(ref.get("id")))
        elif ref_name is None and panel_type in ("lens", "search", "visualization") \
                and not isinstance(by_value, Mapping) \
                and not (isinstance(config, Mapping) and config.get("savedObjectId")):
            ctx.problem(where, f"{label}: {panel_type} panel neither references a saved "
                               "object (panelRefName) nor embeds attributes")


def _check_grid(ctx: _Context, where: str, label: str, grid: Any) -> None:
    if not isinstance(grid, Mapping):
        ctx.problem(where, f"{label} has no gridData")
        return
    values = {k: grid.get(k) for k in ("x", "y", "w", "h")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
               for v in values.values()):
        ctx.problem(where, f"{label}: gridData needs non-negative integers x, y, w, h")
        return
    x, w, h = values["x"], values["w"], values["h"]
    assert isinstance(x, int) and isinstance(w, int) and isinstance(h, int)
    if w == 0 or h == 0 or x + w > 48:
        ctx.problem(where, f"{label}: gridData {values} does not fit the 48-column grid")


# legacy visualizations

def _check_visualization(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    attributes = obj["attributes"]
    refs = _refs_by_name(obj["references"])
    vis_state = _parsed(attributes.get("visState"))
    source = _search_source(ctx, where, attributes) or {}
    view: _DataView | None = None
    if isinstance(source.get("indexRefName"), str):
        view = _view_from_ref(ctx, where, refs, source["indexRefName"], "searchSourceJSON")
    elif isinstance(attributes.get("savedSearchRefName"), str):
        ref = refs.get(attributes["savedSearchRefName"])
        if ref is None:
            ctx.problem(where, f"savedSearchRefName {attributes['savedSearchRefName']!r} "
                               "has no reference")
        else:
            search = ctx.objects.get(("search", str(ref.get("id"))))
            if search is not None:
                search_source = _search_source(ctx, where, search["attributes"]) or {}
                index_ref = search_source.get("indexRefName")
                if isinstance(index_ref, str):
                    view = _view_from_ref(ctx, where, _refs_by_name(search["references"]),
                                          index_ref, "saved search")
    _check_query(ctx, where, view, source.get("query"), "query")
    _check_filters(ctx, where, source.get("filter"), refs, view, "searchSourceJSON")
    if not isinstance(vis_state, Mapping):
        return
    for agg in _as_list(vis_state.get("aggs")):
        if not isinstance(agg, Mapping):
            continue
        params = agg.get("params") if isinstance(agg.get("params"), Mapping) else {}
        assert isinstance(params, Mapping)
        agg_type = agg.get("type")
        if "field" in params:
            need = _VIS_AGG_REQUIREMENT.get(str(agg_type), "exists")
            _check_field(ctx, where, view, params["field"], need,
                         f"visState agg {agg.get('id')!r} ({agg_type})")


# maps (the Maps app's saved objects, type "map")

# Elasticsearch-backed map sources and whether their geo field feeds an aggregation.
_MAP_ES_SOURCES = {"ES_SEARCH": "geo", "ES_GEO_GRID": "geo_aggregatable",
                   "ES_GEO_LINE": "geo", "ES_PEW_PEW": "geo_aggregatable"}
# Map metric aggregation -> requirement on its field ("count" has none).
_MAP_METRIC_REQUIREMENT = {"avg": "numeric", "sum": "numeric", "min": "numeric",
                           "max": "numeric", "cardinality": "aggregatable",
                           "terms": "aggregatable", "percentile": "numeric"}


def _check_map(ctx: _Context, where: str, obj: dict[str, Any]) -> None:
    attributes = obj["attributes"]
    refs = _refs_by_name(obj["references"])
    layers = _parsed(attributes.get("layerListJSON"))
    if "layerListJSON" not in attributes:
        ctx.problem(where, "attributes.layerListJSON is missing")
        return
    if layers is None:
        return  # broken JSON: reported already
    if not isinstance(layers, list) or not layers:
        ctx.problem(where, "layerListJSON must be a non-empty JSON array of layers")
        return
    seen: set[str] = set()
    views: list[_DataView | None] = []
    for number, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            ctx.problem(where, f"layer[{number}] is not an object")
            continue
        label = f"layer {layer.get('id', number)!r}"
        if not _non_empty_str(layer.get("id")) or layer["id"] in seen:
            ctx.problem(where, f"layer[{number}] needs a unique id")
        else:
            seen.add(layer["id"])
        if not _non_empty_str(layer.get("type")):
            ctx.problem(where, f"{label} has no type")
        source = layer.get("sourceDescriptor")
        view = _check_map_source(ctx, where, label, source, refs)
        views.append(view)
        if isinstance(source, Mapping) and source.get("type") == "ES_SEARCH":
            _check_map_style(ctx, where, label, layer.get("style"), view)
    map_state = _parsed(attributes.get("mapStateJSON"))
    if isinstance(map_state, Mapping):
        view = next((v for v in views if v is not None), None)
        _check_query(ctx, where, view, map_state.get("query"), "mapStateJSON query")
        _check_filters(ctx, where, map_state.get("filters"), refs, view, "mapStateJSON")


def _check_map_style(ctx: _Context, where: str, label: str, style: Any,
                     view: _DataView | None) -> None:
    """Dynamic styles of a document layer (colour by a field, ...) name document fields."""
    properties = style.get("properties") if isinstance(style, Mapping) else None
    if not isinstance(properties, Mapping):
        return
    for name, prop in properties.items():
        options = prop.get("options") if isinstance(prop, Mapping) else None
        styled = options.get("field") if isinstance(options, Mapping) else None
        if isinstance(styled, Mapping) and styled.get("origin") == "source":
            _check_field(ctx, where, view, styled.get("name"), "aggregatable",
                         f"{label} style {name}")


def _check_map_source(ctx: _Context, where: str, label: str, source: Any,
                      refs: Mapping[str, Mapping[str, Any]]) -> _DataView | None:
    if not isinstance(source, Mapping) or not _non_empty_str(source.get("type")):
        ctx.problem(where, f"{label} has no sourceDescriptor type")
        return None
    need = _MAP_ES_SOURCES.get(str(source["type"]))
    if need is None:
        return None  # a base map (EMS tiles, XYZ), a GeoJSON file: no index behind it
    ref_name = source.get("indexPatternRefName")
    if not isinstance(ref_name, str):
        ctx.problem(where, f"{label}: an {source['type']} source needs indexPatternRefName "
                           "(its data view reference)")
        return None
    view = _view_from_ref(ctx, where, refs, ref_name, label)
    geo_keys = ("sourceGeoField", "destGeoField") if source["type"] == "ES_PEW_PEW" \
        else ("geoField",)
    for key in geo_keys:
        _check_field(ctx, where, view, source.get(key), need, f"{label} {key}")
    for metric in _as_list(source.get("metrics")):
        if isinstance(metric, Mapping) and metric.get("type") != "count":
            requirement = _MAP_METRIC_REQUIREMENT.get(str(metric.get("type")), "aggregatable")
            _check_field(ctx, where, view, metric.get("field"), requirement,
                         f"{label} metric {metric.get('type')!r}")
    for name in _as_list(source.get("tooltipProperties")):
        _check_field(ctx, where, view, name, "exists", f"{label} tooltip")
    if _non_empty_str(source.get("sortField")):
        _check_field(ctx, where, view, source["sortField"], "sortable", f"{label} sortField")
    if _non_empty_str(source.get("splitField")):
        _check_field(ctx, where, view, source["splitField"], "aggregatable",
                     f"{label} splitField")
    return view


# --- import --------------------------------------------------------------------------

def import_pack(url: str, objects_ndjson_path: Path | str, *, api_key: str | None = None,
                username: str | None = None, password: str | None = None,
                space: str | None = None, overwrite: bool = True,
                verify: bool | str | Path = True, timeout_s: float = 60.0,
                transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """Upload the NDJSON file to ``POST {url}[/s/{space}]/api/saved_objects/_import``.

    ``api_key`` is the encoded key Kibana shows when it is created (sent as
    ``Authorization: ApiKey …``); otherwise ``username``/``password`` use basic auth.
    ``verify`` is True/False or the path of a CA bundle. Returns Kibana's response;
    raises :class:`KibanaImportError` on an HTTP error or when ``success`` is false.
    """
    path = Path(objects_ndjson_path)
    content = path.read_bytes()
    headers = {"kbn-xsrf": "true"}
    auth: httpx.BasicAuth | None = None
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif username:
        auth = httpx.BasicAuth(username, password or "")
    base = url.rstrip("/")
    prefix = f"/s/{space}" if space and space != "default" else ""
    endpoint = f"{base}{prefix}/api/saved_objects/_import"
    # Kibana only accepts files whose name ends in .ndjson.
    filename = path.name if path.suffix == ".ndjson" else f"{path.stem}.ndjson"
    with httpx.Client(verify=_ssl_verify(verify), timeout=timeout_s, transport=transport,
                      auth=auth) as client:
        try:
            response = client.post(
                endpoint, params={"overwrite": "true" if overwrite else "false"},
                headers=headers,
                files={"file": (filename, content, "application/ndjson")})
        except httpx.HTTPError as exc:
            raise KibanaImportError(f"cannot reach Kibana at {endpoint}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        detail = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
        raise KibanaImportError(
            f"Kibana import failed: HTTP {response.status_code} "
            f"{detail or response.text[:500]}", body if isinstance(body, dict) else None)
    if not isinstance(body, dict):
        raise KibanaImportError(f"Kibana import: unexpected response {response.text[:500]!r}")
    if not body.get("success", False):
        errors = body.get("errors") or []
        lines = [_describe_import_error(e) for e in errors] or ["(no errors listed)"]
        raise KibanaImportError(
            f"Kibana imported {body.get('successCount', 0)} objects; "
            f"{len(errors)} failed:\n  " + "\n  ".join(lines), body)
    return body


def _ssl_verify(verify: bool | str | Path) -> bool | ssl.SSLContext:
    if isinstance(verify, bool):
        return verify
    return ssl.create_default_context(cafile=str(verify))


def _describe_import_error(error: Any) -> str:
    if not isinstance(error, Mapping):
        return repr(error)
    detail = error.get("error") if isinstance(error.get("error"), Mapping) else {}
    assert isinstance(detail, Mapping)
    kind = detail.get("type", "unknown")
    title = error.get("title") or (error.get("meta") or {}).get("title")
    text = f"{error.get('type')}/{error.get('id')}"
    if title:
        text += f" ({title})"
    text += f": {kind}"
    missing = detail.get("references")
    if kind == "missing_references" and isinstance(missing, list):
        text += " " + ", ".join(f"{r.get('type')}/{r.get('id')}" for r in missing
                                if isinstance(r, Mapping))
    for key in ("message", "reason"):
        if detail.get(key):
            text += f" - {detail[key]}"
    return text
