"""The operators' Grafana dashboard only charts metrics the code exports."""

import json
import re

from prometheus_client import REGISTRY

import pipeline.observability  # noqa: F401  (registers the metrics)
from pipeline.settings import DEPLOY_DIR

DASHBOARD = DEPLOY_DIR / "grafana" / "newspipe-dashboard.json"


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_sample_names() -> set[str]:
    """Series names each metric family exposes, whether or not a label set exists yet."""
    return {family.name + suffix for family in REGISTRY.collect()
            for suffix in SUFFIXES.get(family.type, ("",))}


def test_dashboard_queries_use_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = exported_sample_names()
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= set(re.findall(r"\bnewspipe_[a-z_]+", target["expr"]))
    missing = used - exported
    assert used and not missing, missing
    # Every exported newspipe metric family is charted somewhere.
    families = {f.name for f in REGISTRY.collect() if f.name.startswith("newspipe_")}
    charted = {name.removesuffix("_total").removesuffix("_bucket") for name in used}
    assert families <= charted, families - charted
