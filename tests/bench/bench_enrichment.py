"""Enrichment throughput vs the raw NER model on the same texts, in one run.

    .venv/bin/python -m tests.bench.bench_enrichment [--articles 400] [--batch 64]

Baseline: spaCy ``nlp.pipe`` with the same NER-only pipeline the enricher loads (the
floor cost). Measured: ``Enricher.enrich_many`` (cleaning, language id, NER, name
resolution, topics, keywords). Prints articles/s and words/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import time

from pipeline.enrichment import Enricher
from pipeline.enrichment.entities import load_ner_model
from pipeline.settings import SEEDS_DIR
from tests.bench.bench_job import ner_only


def corpus(n: int) -> list[tuple[str, str]]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((SEEDS_DIR / "articles").glob("*.txt"))
             if not p.name.endswith("-fr.txt")]
    # Vary each copy a little so no cache can short-circuit repeated texts.
    return [(f"Story {i}", f"{texts[i % len(texts)]}\n\nUpdate {i}.") for i in range(n)]


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    # One text per article (title and body): one enrich_many batch is one nlp.pipe batch,
    # as in the job (EnrichArticles).
    enricher, load_s = timed(lambda: Enricher.load(batch_size=args.batch))
    items = corpus(args.articles)
    words = sum(len(body.split()) for _, body in items)
    enricher.enrich_many(items[:8])  # warm-up: lazy lingua models, spaCy caches

    nlp = ner_only(load_ner_model())  # the NER model alone, even if the enricher adds rules

    def raw() -> None:
        list(nlp.pipe([b for _, b in items], batch_size=args.batch))

    def full() -> None:
        for i in range(0, len(items), args.batch):
            enricher.enrich_many(items[i:i + args.batch])

    # Interleaved and best-of-2, so neither side gets the warmer caches or a quieter CPU.
    raw_runs, full_runs = [], []
    for _ in range(2):
        raw_runs.append(timed(raw)[1])
        full_runs.append(timed(full)[1])
    raw_s, full_s = min(raw_runs), min(full_runs)

    print(f"articles: {len(items)}, words: {words}, model load: {load_s:.1f}s")
    print(f"raw NER (nlp.pipe)   : {len(items) / raw_s:8.1f} articles/s "
          f"{words / raw_s:9.0f} words/s")
    print(f"enrich_many          : {len(items) / full_s:8.1f} articles/s "
          f"{words / full_s:9.0f} words/s")
    print(f"ratio enrich/raw NER : {raw_s / full_s:.2f}x")


if __name__ == "__main__":
    main()
