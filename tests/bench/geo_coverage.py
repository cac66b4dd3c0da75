"""How many location names of the labelled articles the gazetteer resolves, and to what.

    .venv/bin/python tests/bench/geo_coverage.py

The labelled set has no gold country codes: the listing is for a human to read (every
resolution with the place it became), the counts for the README.
"""

from __future__ import annotations

import json

from pipeline.enrichment.geo import Gazetteer, resolve_article_places
from pipeline.settings import REPO_ROOT


def main() -> None:
    gazetteer = Gazetteer.load()
    path = REPO_ROOT / "tests" / "data" / "eval" / "articles.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    mentions = hits = 0
    resolved: set[str] = set()
    unresolved: set[str] = set()
    for row in rows:
        geo = resolve_article_places(gazetteer, row["locations"])
        for name in row["locations"]:
            mentions += 1
            place = geo.places.get(name)
            if place is None:
                unresolved.add(name)
                continue
            hits += 1
            resolved.add(f"{name} -> {place.country_code} {place.kind} {place.name}")
    print("\n".join(sorted(resolved)))
    print(f"\nunresolved: {', '.join(sorted(unresolved))}")
    print(f"\n{mentions} location names in {len(rows)} articles, {hits} resolved")


if __name__ == "__main__":
    main()
