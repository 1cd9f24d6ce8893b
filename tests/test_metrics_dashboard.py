"""docs/grafana/minerfleet.json cannot drift from /metrics: every metric and label it queries is exported.

The exported names come from a real scrape of the fake runtime (``# TYPE`` lines: a counter's
samples end in _total, a histogram's in _bucket/_sum/_count); the labels from the catalogue.
docs/metrics.md must list every metric too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.metrics import POLL_HISTOGRAM, SPECS

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "docs/grafana/minerfleet.json"
DOC = ROOT / "docs/metrics.md"
NAME = re.compile(r"\bminerfleet_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b(minerfleet_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def panels(dashboard: dict) -> list[dict]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(dashboard: dict) -> list[str]:
    """Every PromQL expression: panel targets and the template variables' queries."""
    exprs = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"] if isinstance(var["query"], dict) else var["query"])
    return exprs


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def exported(client) -> dict[str, tuple[str, ...]]:
    """Sample names /metrics exports -> the labels they carry (from a real scrape's TYPE lines)."""
    text = client.get("/metrics").get_data(as_text=True)
    names: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ")
            base = family[:-len("_total")] if kind == "counter" else family
            labels = SPECS[base].labels if base in SPECS else ("site", "le")  # the histogram: site, le
            for suffix in SUFFIXES.get(kind, ("",)):
                names[base + suffix] = labels
    return names


def test_every_metric_in_the_dashboard_is_exported_with_the_labels_it_selects(dashboard, client, runtime):
    runtime.fleet.add("127.85.2.40", "fake")
    runtime.fleet.poll_round()
    names = exported(client)
    exprs = expressions(dashboard)
    used = {name for expr in exprs for name in NAME.findall(expr)}
    assert len(used) >= 30  # the dashboard shows most of what is exported
    missing = sorted(used - set(names))
    assert not missing, f"the dashboard queries metrics /metrics does not export: {missing}"
    for expr in exprs:
        for name, matchers in SELECTOR.findall(expr):
            for label in MATCHER.findall(matchers):
                assert label in names[name], f"{name} has no label {label!r} ({expr})"
    for contract in ("minerfleet_miner_hashrate_hs", "minerfleet_miner_power_w", "minerfleet_miner_online",
                     "minerfleet_fleet_power_w"):
        assert contract in used


def test_dashboard_is_importable_and_uses_only_its_variables(dashboard):
    assert dashboard["schemaVersion"] >= 36 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["site"]["type"] == "query" and variables["site"]["multi"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    builtin = {"__rate_interval", "__interval", "__range"}
    for panel in panels(dashboard):
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            for var in re.findall(r"\$(\w+)", target["expr"]):
                assert var in variables or var in builtin, (panel["title"], var)
            # Every metric is selected by the site variable (several controllers in one Prometheus).
            selectors = SELECTOR.findall(target["expr"])
            assert len(selectors) == len(NAME.findall(target["expr"])), target["expr"]
            assert all('site=~"$site"' in matchers for _, matchers in selectors), target["expr"]


def test_docs_list_every_metric():
    text = DOC.read_text()
    missing = [spec.sample_name for spec in SPECS.values() if f"`{spec.sample_name}`" not in text]
    assert not missing, f"docs/metrics.md does not describe {missing}"
    assert f"`{POLL_HISTOGRAM}`" in text
