"""Monitoring as a real deploy sees it: alerts reach someone, chart values land on keys the charts have,
queries read only this stack's series, and the dashboard exists where someone can open it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cluster.alertmanager import DROP, NOTIFY, PAGE, alertmanager_config, validate_alertmanager_config
from infra.config import parse_stack_config
from infra.guards.alerting import alerts_reach_someone
from infra.guards.base import StackPlan
from infra.helm import NODE_SELECTOR_PATHS, placement_values
from infra.plan import run_plan
from infra.workloads.observability import GATEWAY_PANELS, PANELS
from tests.conftest import assert_one_config_error, stack_config, with_mode

CHARTS = Path(__file__).parent / "data" / "charts"
SYSTEM = {"llm-fleet.dev/pool": "system"}
RELEASE = "kubernetes:helm.sh/v3:Release"
# kube-prometheus-stack 79.4.1's Chart.yaml dependencies: their values live in their own charts.
KPS_SUBCHARTS = {"kube-state-metrics": "6.4.1", "prometheus-node-exporter": "4.49.1", "grafana": "10.1.4"}
# Keys a chart's template reads that its values.yaml documents only as a comment (`# configSecret:`).
COMMENTED = {("kube-prometheus-stack", ("alertmanager", "alertmanagerSpec", "configSecret")),
             # kuberay-operator 1.7.0: templates/deployment.yaml, configmap.yaml, multiple_namespaces_role.yaml
             ("kuberay-operator", ("watchNamespace",))}
# Maps whose keys are the user's (command-line flags), not the chart's.
FREE_FORM = {("cluster-autoscaler", ("extraArgs",))}


def chart_values(chart: str, version: str) -> tuple[dict[str, Any], str]:
    path = CHARTS / f"{chart}-{version}-values.yaml"
    assert path.is_file(), f"vendor {chart} {version}'s values.yaml as {path.name} (source URL in a header comment)"
    text = path.read_text()
    assert text.startswith("# Source: https://github.com/"), path.name
    return yaml.safe_load(text), text


def unknown_keys(chart: str, version: str, values: dict[str, Any]) -> list[str]:
    """Paths in `values` that `chart` at `version` does not have (Helm would silently ignore them)."""
    defaults, text = chart_values(chart, version)
    out: list[str] = []

    def walk(ours: dict[str, Any], theirs: dict[str, Any], path: tuple[str, ...]) -> None:
        for key, value in ours.items():
            here = (*path, key)
            if chart == "kube-prometheus-stack" and not path and key in KPS_SUBCHARTS:
                out.extend(f"{key}.{p}" for p in unknown_keys(key, KPS_SUBCHARTS[key], value))
                continue
            if key not in theirs:
                if (chart, here) not in COMMENTED or f"# {key}:" not in text:
                    out.append(".".join(here))
                continue
            default = theirs[key]
            # Descend into the chart's own structure; an empty default map ({}) is the user's to fill.
            if isinstance(value, dict) and isinstance(default, dict) and default and (chart, here) not in FREE_FORM:
                walk(value, default, here)

    walk(values, defaults, ())
    return out


def releases(plan) -> dict[str, dict[str, Any]]:
    return {r.inputs["chart"]: r.inputs for r in plan.of_type(RELEASE)}


@pytest.fixture(scope="module")
def self_hosted_gke(tmp_path_factory):
    root = tmp_path_factory.mktemp("self-hosted")
    cfg = stack_config("prod")
    cfg.setdefault("serving", {})["monitoring"] = "self-hosted"
    (root / "Pulumi.selfhosted.yaml").write_text(yaml.safe_dump(
        {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}, sort_keys=False))
    return run_plan("selfhosted", root)


@pytest.fixture(scope="module")
def kuberay_prod(tmp_path_factory):
    root = tmp_path_factory.mktemp("kuberay")
    cfg = stack_config("prod")
    with_mode(cfg, "kuberay")
    (root / "Pulumi.kuberay.yaml").write_text(yaml.safe_dump(
        {"config": {f"llm-fleet:{k}": v for k, v in cfg.items()}}, sort_keys=False))
    return run_plan("kuberay", root)


def manifests(plan, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in plan.manifests() if o["kind"] == kind}


# --- 17: every value we hand a chart is a key that chart has -------------------------------------------------------

def test_every_chart_value_we_set_exists_in_that_charts_values(plan_of, self_hosted_gke, kuberay_prod):
    seen = set()
    for plan in (plan_of("eks-prod"), plan_of("coreweave-prod"), self_hosted_gke, kuberay_prod, plan_of("prod")):
        for chart, inputs in releases(plan).items():
            seen.add(chart)
            assert unknown_keys(chart, inputs["version"], inputs["values"]) == [], f"{plan.stack}: {chart}"
    assert seen == set(NODE_SELECTOR_PATHS), "every chart we install has its placement keys checked"


def test_placement_keys_exist_in_each_charts_values():
    versions = {"keda": "2.20.2", "kuberay-operator": "1.7.0", "kube-prometheus-stack": "79.4.1",
                "cluster-autoscaler": "9.50.1", "nvidia-device-plugin": "0.17.4", "dcgm-exporter": "4.6.0"}
    for chart, version in versions.items():
        assert unknown_keys(chart, version, placement_values(chart, SYSTEM)) == [], chart


def test_kube_prometheus_stack_runs_on_the_system_pool_and_node_exporter_everywhere(self_hosted_gke):
    values = releases(self_hosted_gke)["kube-prometheus-stack"]["values"]
    assert "nodeSelector" not in values  # not a key of this chart: it pinned nothing
    operator = values["prometheusOperator"]
    for where in (operator, operator["admissionWebhooks"]["deployment"], operator["admissionWebhooks"]["patch"],
                  values["prometheus"]["prometheusSpec"], values["alertmanager"]["alertmanagerSpec"],
                  values["kube-state-metrics"], values["grafana"]):
        assert where["nodeSelector"] == SYSTEM
    exporter = values["prometheus-node-exporter"]
    assert "nodeSelector" not in exporter  # a DaemonSet: every node, GPU nodes included, whatever their taints
    assert exporter["tolerations"] == [{"operator": "Exists"}]


def test_a_chart_with_unknown_placement_keys_is_refused():
    with pytest.raises(ValueError, match="NODE_SELECTOR_PATHS"):
        placement_values("some-chart", SYSTEM)


# --- 11: alerts reach the stack's notification targets --------------------------------------------------------------

def test_gke_managed_alertmanager_gets_the_config_routed_to_the_alert_emails(plan_of):
    plan = plan_of("prod")
    secret = next(o for o in plan.manifests() if o["kind"] == "Secret" and o["metadata"]["name"] == "alertmanager"
                  and o["metadata"]["namespace"] == "gmp-public")
    assert "alertmanager.yaml" in secret["stringData"]  # a Secret's data is hidden in the plan: its config is
    assert secret["metadata"]["annotations"]["llm-fleet.dev/alert-targets"] == "email"
    config = alertmanager_config(plan.cfg)  # … the one rendering, for both dialects
    assert validate_alertmanager_config(config) == []
    notify = next(r for r in config["receivers"] if r["name"] == config["route"]["receiver"])
    (email,) = notify["email_configs"]
    assert email["to"] == "ml-platform@acme.example, finops@acme.example"  # budget.emails by default
    assert email["smarthost"] == "smtp-relay.acme.example:587"


def test_self_hosted_alertmanager_reads_our_secret_not_the_charts_null_route(self_hosted_gke):
    spec = releases(self_hosted_gke)["kube-prometheus-stack"]["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    secret = manifests(self_hosted_gke, "Secret")[spec["configSecret"]]
    assert secret["metadata"]["namespace"] == "monitoring" and "alertmanager.yaml" in secret["stringData"]
    assert secret["metadata"]["annotations"]["llm-fleet.dev/alert-targets"] == "email"
    config = alertmanager_config(self_hosted_gke.cfg)
    assert config["route"]["receiver"] == NOTIFY and "email_configs" in config["receivers"][0]


def test_receiver_credentials_stay_secret(make_stack):
    # As `pulumi up` hands it over: decrypted. (The plan refuses plaintext in a prod stack file, so dev carries it.)
    root, name = make_stack("dev", lambda c: c["alerts"].update(slackWebhookUrl="https://hooks.slack.example/T0/B0"))
    plan = run_plan(name, root)
    secret = manifests(plan, "Secret")["alertmanager"]
    assert secret["stringData"]["alertmanager.yaml"] == "[secret]"
    assert "hooks.slack.example" not in json.dumps([r.inputs for r in plan.resources])


def test_critical_alerts_page_and_still_notify():
    raw = stack_config("prod")
    raw["alerts"] = {"pagerdutyRoutingKey": "R0UT1NG", "webhookUrl": "https://chat.example/hook"}
    config = alertmanager_config(parse_stack_config(raw))
    assert validate_alertmanager_config(config) == []
    page = next(r for r in config["route"]["routes"] if r["receiver"] == PAGE)
    assert page["matchers"] == ['severity="critical"'] and page["continue"] is True
    # kube-prometheus-stack's always-firing Watchdog never notifies anyone.
    assert {"receiver": DROP, "matchers": ['alertname="Watchdog"']} in config["route"]["routes"]


def test_validator_refuses_a_route_to_a_missing_receiver_and_an_email_without_smarthost():
    config = {"route": {"receiver": "a", "routes": [{"receiver": "ghost"}]},
              "receivers": [{"name": "a", "email_configs": [{"to": "x@example.com", "from": "y@example.com"}]}]}
    problems = validate_alertmanager_config(config)
    assert any("ghost" in p and "no such receiver" in p for p in problems)
    assert any("smarthost" in p for p in problems)


def test_alert_email_needs_its_relay():
    raw = stack_config("prod")
    raw["alerts"] = {"email": {"from": "a@acme.example"}}
    assert_one_config_error(raw, ["alerts.email.smarthost", "missing"])


def test_guard_warns_when_alerts_reach_no_one(make_stack):
    root, name = make_stack("dev", lambda c: c.pop("alerts"))
    verdict = alerts_reach_someone(_stack_plan(run_plan(name, root)))
    assert verdict.status == "warn"
    assert "reach no one" in verdict.message and "alerts.email.smarthost" in verdict.message


def test_guard_passes_on_every_shipped_stack(shipped_plan, example_plan):
    for plan in (shipped_plan, example_plan):
        assert alerts_reach_someone(_stack_plan(plan)).status != "fail", plan.stack


def test_guard_fails_without_the_managed_alertmanager_secret(plan_of):
    plan = plan_of("prod")
    broken = [r for r in plan.resources if not (r.inputs.get("kind") == "Secret"
                                                and r.inputs["metadata"].get("namespace") == "gmp-public")]
    verdict = alerts_reach_someone(_stack_plan(plan, broken))
    assert verdict.status == "fail" and "gmp-public/alertmanager" in verdict.message


def test_guard_fails_when_the_chart_keeps_its_null_route(self_hosted_gke):
    from dataclasses import replace

    resources = []
    for r in self_hosted_gke.resources:
        if r.type == RELEASE and r.inputs["chart"] == "kube-prometheus-stack":
            values = json.loads(json.dumps(r.inputs["values"]))
            del values["alertmanager"]
            r = replace(r, inputs={**r.inputs, "values": values})
        resources.append(r)
    verdict = alerts_reach_someone(_stack_plan(self_hosted_gke, resources))
    assert verdict.status == "fail" and "'null' receiver" in verdict.message


def _stack_plan(plan, resources=None) -> StackPlan:
    return StackPlan(plan.cfg, {}, plan.cost, tuple(plan.resources if resources is None else resources))


def test_gke_nodes_use_gkes_minimal_node_role(plan_of):
    plan = plan_of("prod")
    roles = {r.inputs["role"] for r in plan.of_type("gcp:projects/iAMMember:IAMMember")
             if "nodes-sa" in str(r.inputs["member"]) or r.name.startswith("gke-nodes-")}
    assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}


# --- 14: queries read only this stack's series ------------------------------------------------------------------------

def test_keda_queries_filter_on_this_clusters_serving_namespace(plan_of):
    plan = plan_of("prod")
    cluster = plan.of_type("gcp:container/cluster:Cluster")[0].inputs["name"]
    for trigger in manifests(plan, "ScaledObject")["vllm-qwen-7b"]["spec"]["triggers"]:
        if trigger["type"] == "prometheus":
            query = trigger["metadata"]["query"]
            assert f'cluster="{cluster}"' in query and 'namespace="llm-serving"' in query, query


def test_self_hosted_queries_filter_on_namespace_only(self_hosted_gke):
    query = manifests(self_hosted_gke, "ScaledObject")["vllm-qwen-7b"]["spec"]["triggers"][0]["metadata"]["query"]
    assert 'namespace="llm-serving"' in query and "cluster=" not in query  # one Prometheus per cluster
    rules = manifests(self_hosted_gke, "PrometheusRule")["llm-fleet-serving-alerts"]["spec"]["groups"][0]["rules"]
    # A PrometheusRule is evaluated over the whole cluster: each alert keeps to the serving namespace itself.
    assert all('namespace="llm-serving"' in r["expr"] for r in rules)


# --- 15: a dashboard someone can open ---------------------------------------------------------------------------------

def test_gke_managed_monitoring_gets_a_cloud_monitoring_dashboard(plan_of):
    plan = plan_of("prod")
    assert "llm-fleet-vllm-dashboard" not in manifests(plan, "ConfigMap")  # no Grafana on GKE managed to load it
    (dashboard,) = plan.of_type("gcp:monitoring/dashboard:Dashboard")
    body = json.loads(dashboard.inputs["dashboardJson"])
    widgets = body["gridLayout"]["widgets"]
    # prod has a gateway (serving.gateway): its per-backend panels follow the engine's.
    assert [w["title"] for w in widgets] == [*PANELS, *GATEWAY_PANELS]
    cluster = plan.of_type("gcp:container/cluster:Cluster")[0].inputs["name"]
    for w in widgets:
        query = w["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"]
        assert f'cluster="{cluster}"' in query


def test_self_hosted_dashboard_is_a_configmap_grafana_loads(self_hosted_gke):
    assert not self_hosted_gke.of_type("gcp:monitoring/dashboard:Dashboard")
    cm = manifests(self_hosted_gke, "ConfigMap")["llm-fleet-vllm-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"


# --- 8 (this part): scrape and rule objects wait for the chart that defines their kinds ------------------------------

def test_pod_monitors_and_rules_depend_on_the_kube_prometheus_stack_release(tmp_path):
    from infra import program, sdk
    from infra.plan import mock_engine

    cfg_raw = stack_config("prod")
    cfg_raw.setdefault("serving", {})["monitoring"] = "self-hosted"
    (tmp_path / "Pulumi.order.yaml").write_text(yaml.safe_dump(
        {"config": {f"llm-fleet:{k}": v for k, v in cfg_raw.items()}}, sort_keys=False))
    deps: dict[str, tuple[str, list[str]]] = {}
    with mock_engine("order", tmp_path) as (cfg, monitor):
        register = monitor.RegisterResource

        def recording(request):
            response = register(request)
            deps[request.name] = (request.type, list(request.dependencies))
            return response

        monitor.RegisterResource = recording
        sdk.run_program(lambda: program.run(cfg, enforce_guards=False))
    release = next(urn for urn in (r.urn for r in monitor.planned) if "kube-prometheus-stack" in urn
                   and "helm.sh" in urn)
    kinds = {"kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:monitoring.coreos.com/v1:PrometheusRule"}
    custom = {name: d for name, (type_, d) in deps.items() if type_ in kinds}
    # prod serves one model (qwen-7b): one PodMonitor for it, one for its gateway, and the serving alerts' rules.
    assert {name: deps[name][0].rsplit(":", 1)[1] for name in custom} == {
        "vllm-qwen-7b-metrics": "PodMonitor", "gateway-metrics": "PodMonitor",
        "llm-fleet-serving-alerts": "PrometheusRule"}
    for name, dependencies in custom.items():
        assert release in dependencies, name
