"""deploy/grafana/prefloss-dashboard.json: Grafana JSON whose every panel queries Prometheus, and whose
every metric is one the staged server really exports (read from its /metrics, not from a list here)."""

import json
import re

import pytest
import requests

from conftest import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "prefloss-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: The series a family of each type exposes.
SERIES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset"}
#: The per-run families labelled by phase.
PHASED = {"prefloss_run_loss", "prefloss_run_rewards_margins", "prefloss_run_rewards_accuracies", "prefloss_run_logps_chosen",
          "prefloss_run_logps_rejected", "prefloss_run_step", "prefloss_run_steps_total", "prefloss_run_parts_ignored_total"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(dashboard: dict) -> list:
    """Every panel, rows and the panels inside collapsed rows included."""
    return [p for panel in dashboard["panels"] for p in [panel, *panel.get("panels", [])]]


def query_panels(dashboard: dict) -> list:
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def variable(dashboard: dict, name: str) -> dict:
    (found,) = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    return found


def metric_names(expr: str) -> set:
    """The metric names a PromQL expression reads: its identifiers, less strings, label matchers,
    ranges, Grafana variables, grouping clauses, functions and keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\$\{\w+\}|\$\w+", "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    identifiers = re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", expr)
    return {m.group(1) for m in identifiers if not m.group(2) and m.group(1) not in PROMQL_KEYWORDS}


def test_metric_names_are_read_from_promql():
    expr = 'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{run=~"$run", x="y"}[$__rate_interval]))) / on(run) b > bool 1e-9'
    assert metric_names(expr) == {"a_bucket", "b"}


def test_the_dashboard_is_grafana_json_on_a_prometheus_variable(dashboard):
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"] and dashboard["title"]
    assert variable(dashboard, "datasource")["type"] == "datasource"
    assert variable(dashboard, "datasource")["query"] == "prometheus"
    run = variable(dashboard, "run")
    assert run["datasource"] == DATASOURCE and run["definition"] == "label_values(prefloss_run_loss, run)"
    ids = [panel["id"] for panel in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_panel_queries_prometheus(dashboard):
    panels = query_panels(dashboard)
    assert {"Requests by route and status", "Reward margin", "Warnings/s by run and code"} <= {p["title"] for p in panels}
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["expr"].strip(), panel["title"]
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            if any(name.startswith("prefloss_run_") for name in names):
                assert 'run=~"$run"' in target["expr"], (panel["title"], "a run's panel follows $run")
            if names & PHASED:
                assert 'phase=~"$phase"' in target["expr"], (panel["title"], "a step's panel follows $phase")


def test_the_phase_variable_picks_train_or_eval(dashboard):
    phase = variable(dashboard, "phase")
    assert phase["type"] == "custom" and phase["query"] == "train,eval" and phase["allValue"] == "train|eval"
    assert phase["current"]["value"] == ["train"], "the trend's phase by default"


def scrape(url: str, token: str) -> str:
    """/metrics after what makes every family appear: a run's batches (8 alike, a low margin: warnings
    of the batch and, once the run has history, of its trend), an eval step of two parts whose first
    is sent twice (a part ignored), and one refused request."""
    auth = {"Authorization": f"Bearer {token}"}
    low_margin = {"chosen": {"logps": [-1.0, -1.2]}, "rejected": {"logps": [-1.1, -1.3]}}
    run = {**auth, "X-Run-Id": "dashboard-test"}
    for _ in range(8):
        answer = requests.post(f"{url}/v1/loss", json=low_margin, headers=run, timeout=5)
        assert answer.status_code == 200 and answer.json()["warnings"], answer.text
    for part in ("0/2 0/1", "0/2 0/1", "1/2 0/1"):
        step = {**run, "X-Run-Step": "8", "X-Run-Part": part, "X-Run-Phase": "eval"}
        answer = requests.post(f"{url}/v1/loss", json=low_margin, headers=step, timeout=5)
        assert answer.status_code == 200, answer.text
    refused = requests.post(f"{url}/v1/loss", json={"config": {"betta": 1}, **low_margin}, headers=auth, timeout=5)
    assert refused.status_code == 422
    metrics = requests.get(f"{url}/metrics", headers=auth, timeout=5)
    assert metrics.status_code == 200
    return metrics.text


def exported_series(text: str) -> set:
    """Every series name the exposition declares (by its families' types) or holds samples of."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            names.update(family + suffix for suffix in SERIES.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][\w:]*", line).group())
    return names


def test_every_metric_queried_is_exported_by_the_server(dashboard, pod):
    text = scrape(f"http://127.0.0.1:{pod['port']}", pod["token"])
    exported = exported_series(text)
    queried = {name for panel in query_panels(dashboard) for target in panel["targets"] for name in metric_names(target["expr"])}
    missing = sorted(queried - exported)
    assert not missing, f"queried but not exported: {missing}; the server exports {sorted(exported)}"
    assert re.search(r'^prefloss_run_loss\{[^}]*run="dashboard-test"', text, re.M), "the run variable's label_values source"
    for phase in ("train", "eval"):
        assert re.search(rf'^prefloss_run_loss\{{[^}}]*phase="{phase}"', text, re.M), f"the phase variable's {phase}"
