"""Capacity ladders on GKE: a ComputeClass per ladder over the rungs' node pools, the rung pools' class label and
taint, and the CRD being GKE's own (the ordering guard knows it)."""

from __future__ import annotations

import copy
import re

import jsonschema

from infra.config import parse_stack_config
from infra.fleet import resolve_fleet
from infra.guards.base import StackPlan
from infra.guards.ordering import custom_resources_wait_for_their_definitions
from infra.platforms.gke.compute_classes import class_name, compute_class_spec
from infra.program import stack_plan
from infra.workloads.scheduling import ladder_scheduling
from tests.k8s_schema import crd_schema, validate
from tests.test_ladders_config import prod_with_ladder
from tests.test_ladders_scheduling import RUNGS, ladder_plan, manifest

NODE_POOL = "gcp:container/nodePool:NodePool"
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_the_class_lists_the_rung_pools_in_order_and_migrates_back():
    # GKE's names of the pools (Pulumi adds a suffix): the class names them exactly, preferred first.
    assert compute_class_spec(["gke-pool-a100-serving-1a2b3c4", "gke-pool-a100-spot-5d6e7f8", "od-9"]) == {
        "priorities": [{"nodepools": ["gke-pool-a100-serving-1a2b3c4"]}, {"nodepools": ["gke-pool-a100-spot-5d6e7f8"]},
                       {"nodepools": ["od-9"]}],
        "activeMigration": {"optimizeRulePriority": True},
        "nodePoolAutoCreation": {"enabled": False},
        "whenUnsatisfiable": "DoNotScaleUp",
    }


def test_the_planned_class_is_valid_against_gkes_schema_and_names_each_rung_pool():
    plan = ladder_plan()
    obj = manifest(plan, "ComputeClass", "ladder-a100-serving")
    assert obj["apiVersion"] == "cloud.google.com/v1"
    validate(obj)
    assert crd_schema("cloud.google.com", "ComputeClass", "v1") is not None  # validate() really checked it
    # GKE's CEL rule "Nodepool field cannot be set along with other fields" (not run by jsonschema).
    assert [list(p) for p in obj["spec"]["priorities"]] == [["nodepools"]] * 3
    (resource,) = [r for r in plan.resources if r.inputs.get("kind") == "ComputeClass"]
    pools = {r.name.removeprefix("gke-pool-"): r.urn for r in plan.resources if r.type == NODE_POOL}
    assert all(pools[rung] in resource.dependencies for rung in RUNGS)
    assert pools["h100-training"] not in resource.dependencies


def test_the_schema_refuses_an_unknown_field():
    obj = {"apiVersion": "cloud.google.com/v1", "kind": "ComputeClass", "metadata": {"name": "x"},
           "spec": {**compute_class_spec(["a"]), "whenUnsatisfiable": "ScaleUpSomewhere"}}
    try:
        validate(obj)
    except jsonschema.ValidationError as e:
        assert "ScaleUpSomewhere" in str(e)
    else:
        raise AssertionError("an unknown whenUnsatisfiable passed the ComputeClass schema")


def test_rung_pools_carry_the_class_label_and_taint_other_pools_do_not():
    plan = ladder_plan()
    pools = {r.name.removeprefix("gke-pool-"): r.inputs["nodeConfig"] for r in plan.resources if r.type == NODE_POOL}
    for rung in RUNGS:
        assert pools[rung]["labels"]["cloud.google.com/compute-class"] == "ladder-a100-serving"
        assert {"key": "cloud.google.com/compute-class", "value": "ladder-a100-serving",
                "effect": "NO_SCHEDULE"} in pools[rung]["taints"]
    assert "cloud.google.com/compute-class" not in pools["h100-training"]["labels"]
    assert [t["key"] for t in pools["h100-training"]["taints"]] == ["nvidia.com/gpu"]


def test_a_single_pool_model_on_a_rung_pool_selects_and_tolerates_the_class():
    raw = prod_with_ladder()
    second = {**copy.deepcopy(raw["models"][0]), "name": "qwen-7b-b", "pool": "a100-spot",
              "replicas": {"min": 1, "max": 1}}
    second.pop("pools")
    raw["models"].append(second)
    raw["artifacts"]["modelRevisions"]["qwen-7b-b"] = raw["artifacts"]["modelRevisions"]["qwen-7b"]
    (_, single) = resolve_fleet(parse_stack_config(raw)).models
    where = ladder_scheduling(single.rungs)
    assert where.node_selector["cloud.google.com/compute-class"] == "ladder-a100-serving"
    assert where.node_selector["llm-fleet.dev/pool"] == "a100-spot"
    assert {"key": "cloud.google.com/compute-class", "operator": "Equal", "value": "ladder-a100-serving",
            "effect": "NoSchedule"} in where.tolerations


def test_the_class_name_is_a_stable_dns_label_for_the_longest_pool_name():
    longest = "a" + "b" * 30 + "c"  # a pool name is at most 32 characters (infra/config Name)
    assert class_name([longest, "spot"]) == f"ladder-{longest}"
    assert len(class_name([longest])) == 39 and DNS_1123_LABEL.fullmatch(class_name([longest]))
    # Later rungs do not rename the class (its pools' label and the pods' selector stay put).
    assert class_name(["a100-serving", "a100-spot"]) == class_name(["a100-serving", "a100-ondemand"])


def test_the_ordering_guard_knows_gke_installs_the_computeclass_crd():
    plan = ladder_plan()
    base = stack_plan(plan.cfg)
    verdict = custom_resources_wait_for_their_definitions(StackPlan(plan.cfg, base.pools, base.cost,
                                                                    tuple(plan.resources)))
    assert verdict.status == "pass", verdict.message
    without_cluster = tuple(r for r in plan.resources if r.type != "gcp:container/cluster:Cluster")
    verdict = custom_resources_wait_for_their_definitions(StackPlan(plan.cfg, base.pools, base.cost, without_cluster))
    assert "ComputeClass ladder-a100-serving: nothing in this stack installs the CRDs of cloud.google.com" \
        in verdict.message


def test_a_stack_without_a_ladder_has_no_compute_class(plan_of):
    plan = plan_of("prod")
    assert not [o for o in plan.manifests() if o["kind"] == "ComputeClass"]
