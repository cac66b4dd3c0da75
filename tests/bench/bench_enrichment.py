"""Enrichment throughput vs the raw NER model on the same texts, in one run.

    .venv/bin/python -m tests.bench.bench_enrichment [--articles 400] [--batch 64]

Baseline: spaCy ``nlp.pipe`` with the same NER-only pipeline the enricher loads, over each
article's title and body as the job's NER reads them (the floor cost). Measured:
``Enricher.enrich_many`` (cleaning, language id, NER, name resolution, topics, keywords).
Prints articles/s and words/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from pipeline.enrichment.enricher import TITLE_BREAK
from pipeline.settings import SEEDS_DIR


def ner_only(nlp):  # type: ignore[no-untyped-def]
    """The job's pipeline reduced to the NER model (and its tok2vec, if separate)."""
    extra = [name for name in nlp.pipe_names if name not in ("tok2vec", "ner")]
    if extra:
        nlp.select_pipes(disable=extra)
    return nlp


def corpus(n: int) -> list[tuple[str, str]]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((SEEDS_DIR / "articles").glob("*.txt"))
             if not p.name.endswith("-fr.txt")]
    # Vary each copy a little so no cache can short-circuit repeated texts.
    return [(f"Story {i}", f"{texts[i % len(texts)]}\n\nUpdate {i}.") for i in range(n)]


def rates(items: Sequence[tuple[str, str]], batch_size: int) -> tuple[float, float]:
    """Articles/s of raw ``nlp.pipe`` (the NER-only pipeline, over title and body as the
    job's NER reads them) and of ``Enricher.enrich_many`` over the same (title, body)
    items, in this process. Interleaved and best of two, so neither side gets the warmer
    caches or a quieter CPU."""
    from pipeline.enrichment import Enricher
    from pipeline.enrichment.entities import load_ner_model

    enricher = Enricher.load(batch_size=batch_size)
    nlp = ner_only(load_ner_model())  # the NER model alone, even if the enricher adds rules
    texts = [f"{title}{TITLE_BREAK}{body}" for title, body in items]
    enricher.enrich_many(list(items[:8]))  # warm-up: lazy lingua models, spaCy caches
    list(nlp.pipe(texts[:8], batch_size=batch_size))
    raw, full = [], []
    for _ in range(2):
        started = time.perf_counter()
        for _doc in nlp.pipe(texts, batch_size=batch_size):
            pass
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        # One enrich_many call per job batch, as in the job (EnrichArticles).
        for batch in range(0, len(items), batch_size):
            enricher.enrich_many(list(items[batch:batch + batch_size]))
        full.append(time.perf_counter() - started)
    return len(items) / min(raw), len(items) / min(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()

    items = corpus(args.articles)
    words = sum(len(f"{title} {body}".split()) for title, body in items)
    raw, full = rates(items, args.batch)
    print(f"articles: {len(items)}, words (title and body): {words}")
    print(f"raw NER (nlp.pipe)   : {raw:8.1f} articles/s {words * raw / len(items):9.0f} words/s")
    print(f"enrich_many          : {full:8.1f} articles/s {words * full / len(items):9.0f} words/s")
    print(f"ratio enrich/raw NER : {full / raw:.2f}x")


if __name__ == "__main__":
    main()
