"""Deploy contract, capacity and cluster features: GPU zones that sell the machine, NetworkPolicies a dataplane
enforces, a metrics API under the CPU autoscaler, one Ray resource per GPU kind, warm replicas in the minimum cost."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from infra.catalog import GPUS, GpuKind, zones_selling
from infra.config import parse_stack_config
from infra.guards.base import StackPlan
from infra.guards.capacity import warm_replicas_fit_pool_minimum
from infra.guards.cluster_features import network_policies_are_enforced, resource_metrics_have_a_provider
from infra.guards.ray import serve_replicas_fit_worker_groups
from infra.plan import run_plan
from infra.platforms import platform_notes
from infra.program import stack_plan
from tests.conftest import EXAMPLES, STACKS, assert_one_config_error, stack_config, with_mode

ALL_SHIPPED = (*STACKS, *EXAMPLES)


def resource_plan(plan) -> StackPlan:
    """What a resource guard sees of a planned stack (the same inputs `plan` and the policy pack use)."""
    return StackPlan(plan.cfg, stack_plan(plan.cfg).pools, plan.cost, tuple(plan.resources))


def with_inputs(plan: StackPlan, name: str, edit) -> StackPlan:
    """The same plan with one resource's inputs edited (a deliberately broken stack, stated directly)."""
    resources = []
    for r in plan.resources:
        if r.name == name:
            inputs = json.loads(json.dumps(r.inputs))
            edit(inputs)
            r = replace(r, inputs=inputs)
        resources.append(r)
    return replace(plan, resources=tuple(resources))


def without(plan: StackPlan, name: str) -> StackPlan:
    return replace(plan, resources=tuple(r for r in plan.resources if r.name != name))


# --- 18. GPU pools only in zones that sell their machine ---------------------------------------------------------

def test_prod_h100_node_pool_asks_only_for_zones_that_sell_a3(plan_of):
    plan = plan_of("prod")
    (pool,) = [r for r in plan.of_type("gcp:container/nodePool:NodePool") if r.name == "gke-pool-h100-training"]
    # Pulumi.prod.yaml names [us-central1-a, us-central1-c] for this pool: the stack's zones (a, c, f) less f,
    # which sells no a3 machine (GCP's GPU regions and zones page: a3-highgpu in us-central1-a, -b, -c).
    assert sorted(pool.inputs["nodeLocations"]) == ["us-central1-a", "us-central1-c"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_gpu_node_pool_spans_only_selling_zones(plan_of, stack):
    plan = plan_of(stack)
    cfg = plan.cfg
    for r in plan.of_type("gcp:container/nodePool:NodePool"):
        machine = r.inputs["nodeConfig"]["machineType"]
        selling = zones_selling("gke", machine, cfg.gcp.region)
        if r.inputs["nodeConfig"].get("guestAccelerators"):
            assert selling is not None, machine
            assert set(r.inputs["nodeLocations"]) <= set(selling), (r.name, r.inputs["nodeLocations"])


def test_gpu_pool_in_a_zone_that_does_not_sell_its_machine_is_one_line():
    raw = stack_config("prod")
    raw["nodePools"][1]["zones"] = ["us-central1-a", "us-central1-f"]
    assert_one_config_error(raw, ["nodePools[1].zones", "'h100-training'", "a3-highgpu-1g", "us-central1-f",
                                 "us-central1-a, us-central1-b, us-central1-c",
                                 "set nodePools[1].zones: [us-central1-a, us-central1-c]"])


def test_gpu_pool_inheriting_cluster_zones_is_checked_too():
    raw = stack_config("prod")
    del raw["nodePools"][1]["zones"]  # as shipped before: spans gcp.zones a, c, f
    assert_one_config_error(raw, ["nodePools[1].zones: missing", "gcp.zones", "a3-highgpu-1g", "us-central1-f",
                                  "us-central1-a, us-central1-b, us-central1-c"])


def test_no_cluster_zone_sells_the_machine_says_add_one():
    raw = stack_config("dev")
    raw["gcp"]["zones"] = ["us-central1-f"]
    with pytest.raises(Exception) as err:
        parse_stack_config(raw)
    assert "add one of them to gcp.zones" in str(err.value)


def test_a_region_the_catalog_does_not_know_is_a_plan_note_not_an_error():
    raw = stack_config("dev")
    raw["gcp"].update(region="asia-east1", zones=["asia-east1-a", "asia-east1-b"])
    cfg = parse_stack_config(raw)
    notes = [n for n in platform_notes(cfg) if n.startswith("GPU zones unchecked")]
    assert len(notes) == 1 and "asia-east1" in notes[0] and "l4-serving (g2-standard-8)" in notes[0]
    assert not [n for n in platform_notes(parse_stack_config(stack_config("dev"))) if "unchecked" in n]


def test_eks_zones_are_always_unchecked_with_the_command_that_checks_them(plan_of):
    (note,) = [n for n in plan_of("eks-prod").notes if n.startswith("GPU zones unchecked")]
    assert "p4d.24xlarge" in note and "p5.4xlarge" in note
    assert "describe-instance-type-offerings --region us-east-1 --location-type availability-zone" in note


# --- 6. NetworkPolicies need an enforcing dataplane ------------------------------------------------------------

def test_eks_vpc_cni_enforces_network_policies(plan_of):
    (cni,) = [r for r in plan_of("eks-prod").of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni"]
    # The EKS user guide's value is the JSON string "true".
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}


@pytest.mark.parametrize("stack", ALL_SHIPPED)
def test_network_policy_guard_passes_on_shipped_stacks(plan_of, stack):
    verdict = network_policies_are_enforced(resource_plan(plan_of(stack)))
    assert verdict.status == "pass", verdict.message
    assert "NetworkPolicies" in verdict.message  # every shipped stack renders some


def test_network_policy_guard_fails_without_enforcement_on_eks(plan_of):
    plan = resource_plan(plan_of("eks-prod"))
    broken = with_inputs(plan, "eks-addon-vpc-cni", lambda i: i.pop("configurationValues"))
    verdict = network_policies_are_enforced(broken)
    assert verdict.status == "fail"
    assert "eks-addon-vpc-cni" in verdict.message and "enableNetworkPolicy" in verdict.message
    assert "\n" not in verdict.message
    boolean = with_inputs(plan, "eks-addon-vpc-cni",
                          lambda i: i.update(configurationValues=json.dumps({"enableNetworkPolicy": False})))
    assert network_policies_are_enforced(boolean).status == "fail"


def test_network_policy_guard_fails_on_gke_without_dataplane_v2(plan_of):
    plan = resource_plan(plan_of("staging"))
    broken = with_inputs(plan, "gke-cluster", lambda i: i.pop("datapathProvider"))
    verdict = network_policies_are_enforced(broken)
    assert verdict.status == "fail" and "gke-cluster" in verdict.message and "ADVANCED_DATAPATH" in verdict.message


def test_existing_cluster_says_enforcement_depends_on_its_cni(plan_of):
    plan = plan_of("coreweave-prod")
    assert any("NetworkPolicies are enforced only if the cluster's CNI" in n for n in plan.notes)


# --- 7. The CPU autoscaler needs a metrics API ------------------------------------------------------------------

def test_eks_installs_the_pinned_metrics_server_on_the_system_pool(plan_of):
    plan = plan_of("eks-prod")
    (release,) = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "metrics-server"]
    assert release.inputs["version"] == plan.cfg.artifacts.charts.metrics_server == "3.13.0"
    assert release.inputs["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/metrics-server/"
    assert release.inputs["values"]["nodeSelector"] == {"llm-fleet.dev/pool": "system"}


def test_eks_without_a_metrics_server_pin_is_one_line():
    raw = stack_config("eks-prod")
    del raw["artifacts"]["charts"]["metricsServer"]
    assert_one_config_error(raw, ["artifacts.charts.metricsServer: missing", "e.g. metricsServer: 3.13.0"])


@pytest.mark.parametrize("stack", ALL_SHIPPED)
def test_metrics_api_guard_passes_on_shipped_stacks(plan_of, stack):
    verdict = resource_metrics_have_a_provider(resource_plan(plan_of(stack)))
    assert verdict.status == "pass", verdict.message
    assert "HorizontalPodAutoscaler" not in verdict.message  # pass messages name the provider, not a problem


def test_metrics_api_guard_fails_on_eks_without_metrics_server(plan_of):
    verdict = resource_metrics_have_a_provider(without(resource_plan(plan_of("eks-prod")), "eks-metrics-server"))
    assert verdict.status == "fail"
    assert "HorizontalPodAutoscaler llm-rollout/rollout-worker" in verdict.message
    assert "metrics-server" in verdict.message


def test_existing_cluster_notes_the_metrics_api_it_must_serve(plan_of):
    assert any("v1beta1.metrics.k8s.io" in n for n in plan_of("coreweave-prod").notes)


# --- 20. One Ray resource per GPU kind ---------------------------------------------------------------------------

def _two_a100_kinds(c):
    with_mode(c, "kuberay")
    c["nodePools"].append({"name": "a100-80-serving", "gpu": "A100-80GB", "gpusPerNode": 1, "minNodes": 1,
                           "maxNodes": 4, "capacity": "on-demand", "zones": ["us-central1-a", "us-central1-c"]})
    c["models"].append({**c["models"][0], "name": "qwen-14b", "parameters": "14B", "gpu": "A100-80GB",
                        "replicas": {"min": 1, "max": 4}})
    c["artifacts"]["modelRevisions"]["qwen-14b"] = "c" * 40


@pytest.fixture(scope="module")
def two_kinds_plan(tmp_path_factory):
    from tests.conftest import stack_config as cfg_of

    root = tmp_path_factory.mktemp("two-a100")
    c = cfg_of("prod")
    _two_a100_kinds(c)
    doc = {"config": {f"llm-fleet:{k}": v for k, v in c.items()}}
    (root / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return run_plan("prod", root)


def _ray_service(plan) -> dict:
    (service,) = [o for o in plan.manifests() if o["kind"] == "RayService"]
    return service


def test_a_stack_with_both_a100_kinds_keeps_them_apart(two_kinds_plan):
    from ray.autoscaler._private.kuberay.autoscaling_config import _get_ray_resources_from_group_spec
    from ray.llm._internal.serve.core.configs.accelerators import format_ray_accelerator_resource

    service = _ray_service(two_kinds_plan)
    groups = {g["groupName"]: g for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]}
    llms = {c["model_loading_config"]["model_id"]: c
            for app in yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
            for c in app["args"]["llm_configs"]}
    asks = {m: format_ray_accelerator_resource(c["accelerator_type"]) for m, c in llms.items()}
    assert asks == {"qwen-7b": "accelerator_type:A100-40G", "qwen-14b": "accelerator_type:A100-80G"}
    # What Ray's own KubeRay autoscaler reads from each group (also when it is scaled to zero).
    offered = {name: _get_ray_resources_from_group_spec(g, is_head=False) for name, g in groups.items()}
    assert offered["a100-serving"].get(asks["qwen-7b"]) == 1 and asks["qwen-14b"] not in offered["a100-serving"]
    assert offered["a100-80-serving"].get(asks["qwen-14b"]) == 1 and asks["qwen-7b"] not in offered["a100-80-serving"]
    assert asks["qwen-7b"] not in offered["rollout"] and asks["qwen-14b"] not in offered["rollout"]
    verdicts = {v.guard: v for v in two_kinds_plan.verdicts}
    assert verdicts["ray-serve-config-is-valid"].status == "pass", verdicts["ray-serve-config-is-valid"].message
    assert verdicts["ray-replicas-fit-worker-groups"].status == "pass"


def test_fit_guard_counts_each_a100_kind_on_its_own(two_kinds_plan):
    """14 A100-40GB replicas: more than the 40 GB group's 12, fewer than both A100 groups' 16 together."""
    plan = resource_plan(two_kinds_plan)
    service = _ray_service(two_kinds_plan)

    def more_40gb(inputs):
        config = yaml.safe_load(inputs["spec"]["serveConfigV2"])
        for llm in config["applications"][0]["args"]["llm_configs"]:
            if llm["model_loading_config"]["model_id"] == "qwen-7b":
                llm["deployment_config"]["autoscaling_config"]["max_replicas"] = 14
        inputs["spec"]["serveConfigV2"] = yaml.safe_dump(config)

    name = next(r.name for r in plan.resources if r.inputs.get("kind") == "RayService")
    assert service["metadata"]["name"] == "llm"
    verdict = serve_replicas_fit_worker_groups(with_inputs(plan, name, more_40gb))
    assert verdict.status == "fail"
    assert "need 14 A100-40G GPUs, the worker groups advertising it offer at most 12" in verdict.message


def test_every_gpu_kind_has_its_own_ray_accelerator():
    from ray.util.accelerators import accelerators  # the module of constants (the package re-exports a few)

    kinds = {spec.ray_accelerator for spec in GPUS.values()}
    assert len(kinds) == len(GPUS)
    known = {v for k, v in vars(accelerators).items() if k.startswith("NVIDIA_")}
    assert kinds <= known, kinds - known
    assert GPUS[GpuKind.A100_40GB].ray_accelerator == accelerators.NVIDIA_A100_40G


# --- 21. Warm replicas force nodes up ----------------------------------------------------------------------------

def one_pool_stack(min_nodes: int, replicas_min: int) -> dict:
    """A prod stack of one on-demand 1-GPU A100-40GB pool serving one 7B model: nothing else to count."""
    prod = stack_config("prod")
    artifacts = {k: v for k, v in prod["artifacts"].items() if k not in ("trainingImage", "rolloutImage")}
    return {
        "tier": "prod", "cloud": "gke", "controlPlane": prod["controlPlane"], "budget": prod["budget"],
        "alerts": prod["alerts"], "artifacts": {**artifacts, "modelRevisions": {"m": "0" * 40}},
        "gcp": {"project": "acme-llm-prod", "region": "us-central1", "zones": ["us-central1-a"],
                "billingAccount": "01A2B3-C4D5E6-F7A8B9", "privateNodes": True},
        "nodePools": [{"name": "a100", "gpu": "A100-40GB", "gpusPerNode": 1, "minNodes": min_nodes, "maxNodes": 4,
                       "capacity": "on-demand"}],
        "models": [{"name": "m", "source": "hf://Qwen/Qwen2.5-7B-Instruct", "parameters": "7.6B",
                    "gpu": "A100-40GB", "replicas": {"min": replicas_min, "max": 4}}],
    }


def test_min_cost_counts_the_nodes_warm_replicas_hold():
    # m keeps 4 warm replicas of 1 A100 each on 1-GPU nodes, though the pool's minimum is 1 node.
    cost = stack_plan(parse_stack_config(one_pool_stack(min_nodes=1, replicas_min=4))).cost
    (pool,) = [p for p in cost.pools if p.pool == "a100"]
    # 4 warm replicas x 1 GPU on 1-GPU a2-highgpu-1g nodes = 4 nodes at $3.67/h on demand (us-central1) = $14.68/h.
    assert pool.hourly_min == pytest.approx(14.68)
    assert pool.gpus_paid_min == 4
    assert ("pool a100: the models' minimum replicas hold 4 node(s), above minNodes 1; the minimum cost counts 4"
            in cost.notes)


def test_warm_nodes_count_whole_replicas_per_node():
    """3 replicas of tensorParallelSize 4 on 8-GPU nodes: 2 nodes, not 1.5."""
    raw = stack_config("eks-prod")
    raw["models"][0].update(tensorParallelSize=4, replicas={"min": 3, "max": 4})
    cost = stack_plan(parse_stack_config(raw)).cost
    pool = next(p for p in cost.pools if p.pool == "a100-serving")
    assert (pool.min_nodes, pool.warm_nodes, pool.running_min_nodes) == (1, 2, 2)


@pytest.mark.parametrize("stack", ALL_SHIPPED)
def test_warm_replica_guard_passes_on_shipped_stacks(stack):
    verdict = warm_replicas_fit_pool_minimum(stack_plan(parse_stack_config(stack_config(stack))))
    assert verdict.status == "pass", verdict.message


def test_warm_replica_guard_warns_with_the_fix():
    verdict = warm_replicas_fit_pool_minimum(stack_plan(parse_stack_config(one_pool_stack(min_nodes=1,
                                                                                          replicas_min=4))))
    assert verdict.status == "warn"
    assert verdict.message == ("pool a100: m (replicas.min 4 x 1 GPU) hold 4 node(s) of 1 GPU(s) but "
                               "nodePools[0].minNodes = 1; set minNodes: 4 or lower the models' replicas.min")


def test_warm_replica_guard_passes_when_the_minimum_holds_them():
    # 4 warm 1-GPU replicas on 4 nodes of 1 GPU: the pool's minimum already holds them.
    verdict = warm_replicas_fit_pool_minimum(stack_plan(parse_stack_config(one_pool_stack(min_nodes=4,
                                                                                          replicas_min=4))))
    assert verdict.status == "pass", verdict.message
