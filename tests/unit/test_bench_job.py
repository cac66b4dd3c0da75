"""The job benchmark's arithmetic: each burst against the raw runs around it."""

from __future__ import annotations

import pytest

from tests.bench.bench_job import Burst, JobFigures, percentile
from tests.bench.machine_cpu import JOB_PYTHON


def figures(rates: list[float], raw: list[float], python_cores: float = 2.0) -> JobFigures:
    return JobFigures(startup_s=40.0,
                      bursts=[Burst(articles=int(100 * r), seconds=100.0,
                                    cores={JOB_PYTHON: python_cores}, load_before=1.0)
                              for r in rates],
                      raw_rates=raw, searchable_latencies=[1.0], indexed_latencies=[1.0],
                      es_work={})


def test_each_burst_is_compared_with_the_raw_runs_just_before_and_after_it() -> None:
    # raw 20, burst 16, raw 24, burst 22, raw 20: means 22 and 22 around the two bursts.
    assert figures([16.0, 22.0], [20.0, 24.0, 20.0]).ratios() == pytest.approx([16 / 22, 1.0])


def test_a_drifting_baseline_only_affects_its_own_rounds() -> None:
    ratios = figures([15.0, 15.0, 30.0], [20.0, 20.0, 20.0, 40.0]).ratios()
    assert ratios == pytest.approx([0.75, 0.75, 1.0])


def test_per_python_core_the_ratio_discounts_the_cores_the_stack_took() -> None:
    # 0.75x of raw NER that had 2 cores, on the 1.5 cores the job's Python got: 1.0x per core.
    job = figures([15.0], [20.0, 20.0], python_cores=1.5)
    assert job.ratios_per_python_core(raw_cores=2) == pytest.approx([1.0])


def test_a_burst_gives_each_role_its_milliseconds_per_article() -> None:
    burst = Burst(articles=200, seconds=10.0, cores={"Elasticsearch": 0.1}, load_before=0.0)
    assert burst.ms_per_article("Elasticsearch") == pytest.approx(5.0)
    assert burst.ms_per_article("Kafka") == 0.0


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([3.5], 95) == 3.5
    assert percentile([float(v) for v in range(1, 101)], 50) == pytest.approx(50.5)
