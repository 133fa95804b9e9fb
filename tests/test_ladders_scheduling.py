"""A model on a capacity ladder schedules onto any rung, preferring the first: one shared placement for the vLLM
Deployment and the KubeRay GPU worker group, and the guard that every required term selects a tolerated GPU pool."""

from __future__ import annotations

import copy
import functools
import tempfile
from pathlib import Path
from typing import Any

import yaml

from infra.catalog import GpuKind
from infra.config import parse_stack_config
from infra.fleet import resolve_fleet
from infra.guards.base import StackPlan
from infra.guards.scheduling import autoscaling_fits_pool, gpu_pods_select_and_tolerate_their_pool
from infra.plan import Plan, run_plan
from infra.platforms.existing import existing_notes
from infra.seam import NodeTaint, PoolFacts
from infra.workloads.scheduling import ladder_pod_resources, ladder_scheduling
from infra.workloads.vllm import rolling_update
from tests.conftest import assert_one_config_error, prod_on_one_pool, stack_config, with_mode, with_object_edited
from tests.k8s_schema import validate
from tests.test_ladders_config import prod_with_ladder

GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
CLASS_TAINT = {"key": "cloud.google.com/compute-class", "operator": "Equal", "value": "ladder-a100-serving",
               "effect": "NoSchedule"}
RUNGS = ["a100-serving", "a100-spot", "a100-ondemand"]


@functools.cache
def ladder_plan(mode: str = "vllm") -> Plan:
    """prod with qwen-7b on the ladder a100-serving -> a100-spot -> a100-ondemand (tests/test_ladders_config.py),
    planned under the stack name prod so names match the shipped plan."""
    raw = prod_with_ladder()
    with_mode(raw, mode)
    folder = Path(tempfile.mkdtemp(prefix=f"ladder-{mode}-"))
    doc = {"config": {f"llm-fleet:{k}": v for k, v in raw.items()}}
    (folder / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return run_plan("prod", folder)


def manifest(plan: Plan, kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in plan.manifests() if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def pool_term(pool: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": "llm-fleet.dev/pool", "operator": "In", "values": [pool]}]}


def facts(name: str, cpu: float, memory: float, selector: dict[str, str], taints=()) -> PoolFacts:
    return PoolFacts(name=name, purpose="serving", machine_type="m", gpu=GpuKind("A100-40GB"), gpus_per_node=1,
                     min_nodes=0, max_nodes=4, capacity="on-demand", node_selector=selector, taints=tuple(taints),
                     allocatable_cpu=cpu, allocatable_memory_gib=memory, local_ssd_gib=0, ephemeral_storage_gib=100)


def test_the_vllm_deployment_selects_the_shared_labels_requires_a_rung_and_prefers_the_first():
    spec = manifest(ladder_plan(), "Deployment", "vllm-qwen-7b")["spec"]["template"]["spec"]
    # Every rung is an A100-40GB pool of the ladder's ComputeClass: those labels are common; the pool label is not.
    assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
                                    "cloud.google.com/compute-class": "ladder-a100-serving"}
    node = spec["affinity"]["nodeAffinity"]
    assert node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [pool_term(p) for p in RUNGS]
    # First rung heaviest: 100, then 90, then 80.
    assert [(p["weight"], p["preference"]) for p in node["preferredDuringSchedulingIgnoredDuringExecution"]] == [
        (100, pool_term("a100-serving")), (90, pool_term("a100-spot")), (80, pool_term("a100-ondemand"))]
    # The union of the rungs' taints, each once: the GPU taint and the class taint (all three rungs share both).
    assert spec["tolerations"] == [GPU_TAINT, CLASS_TAINT]


def test_the_ladder_deployment_is_a_valid_kubernetes_object():
    validate(manifest(ladder_plan(), "Deployment", "vllm-qwen-7b"))


def test_requests_fit_a_node_of_the_smallest_rung():
    big = facts("big", 11.0, 80.0, {"pool": "big"})
    small = facts("small", 8.0, 40.0, {"pool": "small"})
    # big: floor((11 - 1) * 2) / 2 = 10.0 CPU, floor(80 - 3) = 77 GiB; small: 7.0 CPU, 37 GiB -> the small one's.
    assert ladder_pod_resources([big, small], 1) == (7.0, 37)
    assert ladder_pod_resources([big], 1) == (10.0, 77)


def test_one_pool_renders_its_node_selector_and_taints_alone():
    pool = facts("a", 11.0, 80.0, {"gpu": "a100", "pool": "a"}, [NodeTaint("nvidia.com/gpu", "present", "NoSchedule")])
    where = ladder_scheduling([pool])
    assert (where.node_selector, where.affinity, where.tolerations) == (
        {"gpu": "a100", "pool": "a"}, None, [GPU_TAINT])


def test_tolerations_are_the_union_of_the_rungs_taints():
    spot = NodeTaint("cloud.google.com/gke-spot", "true", "NoSchedule")
    gpu = NodeTaint("nvidia.com/gpu", "present", "NoSchedule")
    a = facts("a", 11.0, 80.0, {"pool": "a"}, [gpu])
    b = facts("b", 11.0, 80.0, {"pool": "b"}, [gpu, spot])
    assert ladder_scheduling([a, b]).tolerations == [
        GPU_TAINT, {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]


def test_the_kuberay_gpu_group_spans_the_ladder():
    service = manifest(ladder_plan("kuberay"), "RayService", "llm")
    (group,) = [g for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"] if g["groupName"] == "a100-serving"]
    spec = group["template"]["spec"]
    assert spec["nodeSelector"]["cloud.google.com/compute-class"] == "ladder-a100-serving"
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"] == [pool_term(p) for p in RUNGS]
    assert spec["tolerations"] == [GPU_TAINT, CLASS_TAINT]
    # One worker per 1-GPU node, on any rung: 12 + 8 + 4 = 24 at most; no worker group per later rung.
    assert group["maxReplicas"] == 24
    groups = {g["groupName"] for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    assert not groups & {"a100-spot", "a100-ondemand"}


def edited(kind: str, name: str, edit) -> StackPlan:
    """The ladder stack's plan with one rendered object changed by `edit`."""
    return with_object_edited(ladder_plan(), kind, name, edit)


def test_the_guard_accepts_ladder_pods():
    as_rendered = edited("Deployment", "vllm-qwen-7b", lambda o: None)
    verdict = gpu_pods_select_and_tolerate_their_pool(as_rendered)
    assert verdict.status == "pass", verdict.message
    assert autoscaling_fits_pool(as_rendered).status == "pass"


def test_the_guard_names_the_rung_a_pod_does_not_tolerate():
    def drop_class_toleration(o: dict) -> None:
        spec = o["spec"]["template"]["spec"]
        spec["tolerations"] = [t for t in spec["tolerations"] if t["key"] != "cloud.google.com/compute-class"]

    verdict = gpu_pods_select_and_tolerate_their_pool(edited( "Deployment", "vllm-qwen-7b",
                                                            drop_class_toleration))
    assert verdict.status == "fail"
    for pool in RUNGS:
        assert f"does not tolerate cloud.google.com/compute-class=ladder-a100-serving:NoSchedule of pool {pool}" \
            in verdict.message


def test_the_guard_refuses_a_term_that_selects_no_gpu_pool():
    def add_rollout_term(o: dict) -> None:
        terms = o["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        terms.append(pool_term("rollout"))

    verdict = gpu_pods_select_and_tolerate_their_pool(edited( "Deployment", "vllm-qwen-7b",
                                                            add_rollout_term))
    assert verdict.status == "fail"
    assert "with required node-affinity term 3 matches no GPU pool" in verdict.message


def test_the_autoscaling_guard_counts_the_whole_ladder():
    # 12 + 8 + 4 = 24 GPUs on the ladder: 25 replicas of one GPU do not fit, 24 would.
    verdict = autoscaling_fits_pool(edited( "ScaledObject", "vllm-qwen-7b",
                                          lambda o: o["spec"].update(maxReplicaCount=25)))
    assert verdict.status == "fail"
    assert ("ladder a100-serving > a100-spot > a100-ondemand: replicas at maximum need 25 GPUs, its rungs have at "
            "most 24 (a100-serving 12 x 1 + a100-spot 8 x 1 + a100-ondemand 4 x 1)") in verdict.message


def coreweave_with_ladder(burst_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """examples/seed-coreweave: its A100 nodes in two rungs the cluster admin labelled, reserved then on-demand
    (`burst_labels`: the on-demand rung's labels instead)."""
    raw = copy.deepcopy(stack_config("seed-coreweave"))
    assert raw["models"][0]["pools"] == ["a100-serving", "a100-burst"]
    if burst_labels is not None:
        raw["nodePools"][1]["labels"] = burst_labels
    return raw


def test_an_existing_cluster_expresses_the_order_by_preferred_affinity_alone():
    cfg = parse_stack_config(coreweave_with_ladder())
    (placement,) = [p for p in resolve_fleet(cfg).models if p.name == "qwen-7b"]
    where = ladder_scheduling(placement.rungs)
    # CoreWeave's A100 class label is common; the admin's pool labels tell the rungs apart, reserved first.
    assert where.node_selector == {"gpu.nvidia.com/class": "A100_NVLINK"}
    assert [(p["weight"], p["preference"]) for p in
            where.affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]] == [
        (100, pool_term("a100-serving")), (90, pool_term("a100-burst"))]
    notes = existing_notes(cfg)
    assert ("existing cluster: capacity ladder a100-serving -> a100-burst: replicas prefer the rungs in that order "
            "(preferred node affinity) and land on the first with a free node; nothing here adds nodes, so the "
            "cluster's own autoscaler (if any) decides which rung grows") in notes


def test_an_existing_cluster_refuses_rungs_its_pods_cannot_tell_apart():
    assert_one_config_error(coreweave_with_ladder(burst_labels={}), [
        "nodePools[1].labels = {}", "pool 'a100-burst' is a rung of models[0].pools = ['a100-serving', 'a100-burst']",
        "set a label its nodes alone carry"])


def test_a_rollout_at_peak_surges_into_the_ladders_later_rungs():
    # Alone, a100-serving's 12 GPUs are all taken by 12 replicas at peak: prod would take one pod away (9 %).
    # On the ladder the rungs hold 12 + 8 + 4 = 24 GPUs, and the serving quota counts them too, so a surge pod has
    # room: maxSurge 1, maxUnavailable 0.
    shipped = parse_stack_config(prod_on_one_pool())
    assert rolling_update("prod", resolve_fleet(shipped).models[0], resolve_fleet(shipped)) == (1, "9%")
    cfg = parse_stack_config(prod_with_ladder())
    fleet = resolve_fleet(cfg)
    assert rolling_update("prod", fleet.models[0], fleet) == (1, 0)
