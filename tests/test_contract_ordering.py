"""Ordering: custom resources wait for their CRDs, the provider for nodes; `plan --json` shows what waits for what."""

from __future__ import annotations

import dataclasses
import json

import pytest

from infra.guards import resource_guards
from infra.guards.base import StackPlan
from infra.guards.ordering import Graph, custom_resources_wait_for_their_definitions
from infra.plan import run_plan
from infra.planned import PlannedResource
from infra.program import stack_plan
from infra.report import plan_json
from tests.conftest import ROOT, run_cli, with_mode

GUARD = custom_resources_wait_for_their_definitions
KPS_RELEASE = "monitoring-kube-prometheus-stack"


def verdict(plan, resources=None):
    base = stack_plan(plan.cfg)
    return GUARD(StackPlan(plan.cfg, base.pools, base.cost, tuple(plan.resources if resources is None else resources)))


def named(plan, name: str) -> PlannedResource:
    return next(r for r in plan.resources if r.name == name)


def test_the_guard_runs_in_plan_and_the_policy_pack():
    assert GUARD in resource_guards()


def test_shipped_stacks_pass(shipped_plan):
    v = verdict(shipped_plan)
    assert v.status == "pass", v.message


def test_shipped_examples_pass(example_plan):
    v = verdict(example_plan)
    assert v.status == "pass", v.message


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_gke_provider_waits_for_the_untainted_system_pool(plan_of, stack):
    """Finding 9: without it, Helm releases that wait for pods start while the cluster has no node."""
    plan = plan_of(stack)
    provider = named(plan, "gke-k8s")
    system = named(plan, "gke-pool-system")
    assert system.urn in Graph(tuple(plan.resources)).waits_for(provider.urn)
    assert system.inputs["autoscaling"]["totalMinNodeCount"] >= 1 and not system.inputs["nodeConfig"].get("taints")
    # ... and so does every Kubernetes object and release of the stack, through its provider.
    graph = Graph(tuple(plan.resources))
    waiting = [r for r in plan.resources if r.provider == provider.urn]
    # Among them the KEDA release and the model's Deployment (each shipped stack serves one model).
    model = "vllm-qwen-1b5" if stack == "dev" else "vllm-qwen-7b"
    assert {"keda", model} <= {r.inputs.get("name") or (r.inputs.get("metadata") or {}).get("name") for r in waiting}
    assert all(system.urn in graph.waits_for(r.urn) for r in waiting)


@pytest.mark.parametrize("stack", ["eks-prod", "coreweave-prod"])
def test_prometheus_operator_objects_wait_for_kube_prometheus_stack(plan_of, stack):
    """Finding 8: a PodMonitor/PrometheusRule created before the chart's CRDs fails with "no matches for kind"."""
    plan = plan_of(stack)
    graph = Graph(tuple(plan.resources))
    release = named(plan, KPS_RELEASE)
    objects = [r for r in plan.resources if r.type.startswith("kubernetes:monitoring.coreos.com/")]
    assert {r.type.rsplit(":", 1)[1] for r in objects} >= {"PodMonitor", "PrometheusRule"}
    assert all(release.urn in graph.waits_for(r.urn) for r in objects), [r.name for r in objects]


def test_ray_objects_wait_for_the_kuberay_operator(make_stack):
    def kuberay(c):
        with_mode(c, "kuberay")

    root, name = make_stack("prod", kuberay)
    plan = run_plan(name, root)
    graph = Graph(tuple(plan.resources))
    operator = next(r for r in plan.resources if r.inputs.get("chart") == "kuberay-operator")
    ray = [r for r in plan.resources if r.type.startswith("kubernetes:ray.io/")]
    assert {r.type.rsplit(":", 1)[1] for r in ray} == {"RayService", "RayJob"}
    assert all(operator.urn in graph.waits_for(r.urn) for r in ray)
    assert verdict(plan).status == "pass"


def _without_dependency(plan, name: str, dropped: str) -> list[PlannedResource]:
    gone = named(plan, dropped).urn
    return [dataclasses.replace(r, dependencies=tuple(u for u in r.dependencies if u != gone)) if r.name == name else r
            for r in plan.resources]


def test_a_pod_monitor_that_does_not_wait_for_its_crd_fails(plan_of):
    plan = plan_of("eks-prod")
    v = verdict(plan, _without_dependency(plan, "vllm-qwen-7b-metrics", KPS_RELEASE))
    assert v.status == "fail"
    assert v.message == ("PodMonitor llm-serving/vllm-qwen-7b-metrics does not wait for the kube-prometheus-stack "
                         f"Helm release ({KPS_RELEASE}) which installs its CRD; add depends_on=[{KPS_RELEASE}]")


def test_a_provider_that_waits_for_no_pool_fails(plan_of):
    plan = plan_of("prod")
    v = verdict(plan, _without_dependency(plan, "gke-k8s", "gke-pool-system"))
    assert v.status == "fail"
    assert ("Kubernetes provider gke-k8s does not wait for a schedulable node pool (min >= 1 node, no taint)"
            in v.message)
    assert "add depends_on=[gke-pool-system]" in v.message
    # The release on the system pool now waits for no node either, and is named too.
    assert "Helm release keda waits for its pods but not for nodes labelled {'llm-fleet.dev/pool': 'system'}" \
        in v.message


def test_a_provider_waiting_only_for_a_tainted_gpu_pool_still_fails(plan_of):
    plan = plan_of("prod")
    gpu_pool = named(plan, "gke-pool-a100-serving").urn
    system = named(plan, "gke-pool-system").urn
    resources = [dataclasses.replace(r, dependencies=tuple(gpu_pool if u == system else u for u in r.dependencies))
                 if r.name == "gke-k8s" else r for r in plan.resources]
    assert verdict(plan, resources).status == "fail"


def _hand_made(ns_dep: tuple[str, ...]) -> tuple[PlannedResource, ...]:
    """A KEDA release inside a component, and a ScaledObject that depends on `ns_dep`."""
    stack = "urn:pulumi:t::p::"
    comp = PlannedResource(f"{stack}llmfleet:cluster:Keda::keda", "llmfleet:cluster:Keda", "keda", "", False, False, {})
    release = PlannedResource(f"{stack}kubernetes:helm.sh/v3:Release::keda-release", "kubernetes:helm.sh/v3:Release",
                              "keda-release", comp.urn, True, False, {"chart": "keda", "name": "keda"})
    scaled = PlannedResource(
        f"{stack}kubernetes:keda.sh/v1alpha1:ScaledObject::scaler", "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "scaler", "", True, False, {"metadata": {"name": "vllm-a", "namespace": "llm-serving"}},
        dependencies=ns_dep)
    return comp, release, scaled


def test_a_dependency_on_the_component_counts_as_one_on_its_children(plan_of):
    plan = plan_of("prod")
    comp, release, scaled = _hand_made(())
    assert verdict(plan, (comp, release, scaled)).message.startswith(
        "ScaledObject llm-serving/vllm-a does not wait for the KEDA Helm release (keda-release)")
    for deps in ((comp.urn,), (release.urn,)):
        comp, release, scaled = _hand_made(deps)
        assert verdict(plan, (comp, release, scaled)).status == "pass"


def test_a_custom_kind_nothing_installs_fails(plan_of):
    plan = plan_of("prod")
    odd = PlannedResource("urn:pulumi:t::p::kubernetes:example.com/v1:Widget::w", "kubernetes:example.com/v1:Widget",
                          "w", "", True, False, {"metadata": {"name": "w", "namespace": "x"}})
    v = verdict(plan, (*plan.resources, odd))
    assert v.status == "fail" and "Widget x/w: nothing in this stack installs the CRDs of example.com" in v.message


def test_plan_json_shows_each_resources_inputs_and_what_it_waits_for(plan_of):
    plan = plan_of("prod")
    resources = {r["name"]: r for r in json.loads(json.dumps(plan_json(plan)))["resources"]}
    provider, deployment = resources["gke-k8s"], resources["model-qwen-7b-deployment"]
    system = named(plan, "gke-pool-system").urn
    assert system in provider["dependencies"] and system in provider["dependsOn"]
    assert provider["inputs"]["kubeconfig"] == "[secret]"  # the credential never reaches the report
    assert provider["propertyDependencies"]["kubeconfig"] == [named(plan, "gke-cluster").urn]
    assert deployment["provider"] == provider["urn"]
    assert deployment["parent"] == named(plan, "model-qwen-7b").urn
    assert deployment["inputs"]["kind"] == "Deployment"
    for r in resources.values():
        assert {"urn", "type", "name", "parent", "protect", "inputs", "dependencies", "dependsOn",
                "propertyDependencies", "provider", "customTimeouts"} <= set(r)


def test_plan_json_from_the_cli_carries_dependencies():
    out = run_cli("plan", "--stack", "prod", "--json", cwd=ROOT)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    provider = next(r for r in doc["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert any(u.endswith("::gke-pool-system") for u in provider["dependsOn"])
