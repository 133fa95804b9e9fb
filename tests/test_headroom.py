"""Warm headroom (issue 12, item 5): placeholder pods keep spare GPU nodes; rendered, costed and checked."""

from __future__ import annotations

import functools
import io
import json

import pytest
import yaml
from rich.console import Console

from infra.config import parse_stack_config
from infra.config.headroom import PAUSE_IMAGE_EXAMPLE, nodes_held
from infra.cost import fleet_cost, warm_nodes
from infra.fleet import resolve_fleet
from infra.guards.base import StackPlan
from infra.guards.waits import waits_cover_startup_and_rollouts_progress
from infra.plan import run_plan
from infra.platforms import pool_facts
from infra.program import stack_plan
from infra.report import cost_table, plan_json
from tests.conftest import assert_one_config_error, run_cli, stack_config, with_mode
from tests.k8s_schema import validate

PAUSE = PAUSE_IMAGE_EXAMPLE
PLACEHOLDER = "headroom-a100-serving"  # the placeholder Deployment's resource name


def with_headroom(stack: str, n: int = 1, **edits) -> dict:
    """A shipped stack (or example) with `warmHeadroom: n` on its A100 serving pool and the pause image pinned."""
    raw = stack_config(stack)
    raw["nodePools"][0]["warmHeadroom"] = n
    raw["artifacts"]["pauseImage"] = PAUSE
    for key, value in edits.items():
        raw[key] = value
    return raw


@pytest.fixture(scope="module")
def plan_with_headroom(tmp_path_factory):
    root = tmp_path_factory.mktemp("headroom")

    @functools.cache
    def plan(stack: str, mode: str = "vllm"):
        raw = with_headroom(stack)
        with_mode(raw, mode)
        folder = root / f"{stack}-{mode}"
        folder.mkdir()
        doc = {"config": {f"llm-fleet:{k}": v for k, v in raw.items()}}
        (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return run_plan(stack, folder)

    return plan


def manifests(plan, namespace: str = "llm-headroom") -> list[dict]:
    return [o for o in plan.manifests() if (o.get("metadata") or {}).get("namespace") == namespace
            or (o["kind"] in {"Namespace", "PriorityClass"} and o["metadata"]["name"] == "llm-headroom")]


def placeholder(plan) -> dict:
    (obj,) = [o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["namespace"] == "llm-headroom"]
    return obj


def _cost(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def _a100(cost):
    return next(p for p in cost.pools if p.pool == "a100-serving")


# --- rendered objects --------------------------------------------------------------------------------------------

def test_headroom_objects_are_valid_kubernetes(plan_with_headroom):
    objects = manifests(plan_with_headroom("prod"))
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Namespace", "NetworkPolicy", "PriorityClass",
                                                  "ResourceQuota", "ServiceAccount"]
    for obj in objects:
        validate(obj)


def test_a_placeholder_holds_one_whole_node_of_its_pool_and_gives_it_up_at_once(plan_with_headroom):
    plan = plan_with_headroom("prod")
    dep = placeholder(plan)
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert dep["spec"]["replicas"] == 1  # warmHeadroom: 1 spare node
    assert container["image"] == PAUSE
    # prod's a100-serving is a2-highgpu-1g, 1 GPU per node: the placeholder takes that GPU, so one per node.
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    # ... and the CPU and memory a one-GPU replica of the same pool asks for (the node's share after GKE's
    # DaemonSets), more than half of what a node offers, so two placeholders could never share a node either.
    model = next(o for o in plan.manifests() if o["kind"] == "Deployment" and o["metadata"]["name"] == "vllm-qwen-7b")
    vllm = model["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert (container["resources"]["requests"]["cpu"], container["resources"]["requests"]["memory"]) == (
        vllm["cpu"], vllm["memory"])
    pool = pool_facts(plan.cfg)["a100-serving"]
    assert float(container["resources"]["requests"]["cpu"]) > pool.allocatable_cpu / 2
    # It lands on the pool's nodes exactly as the model does: the pool's selector and taints, never hard-coded.
    assert pod["nodeSelector"] == model["spec"]["template"]["spec"]["nodeSelector"] == pool.node_selector
    assert {(t["key"], t["value"], t["effect"]) for t in pod["tolerations"]} == {
        (t.key, t.value, t.effect) for t in pool.taints}
    assert pod["priorityClassName"] == "llm-headroom"
    assert pod["terminationGracePeriodSeconds"] == 0  # a preempted placeholder frees the node at once
    assert pod["serviceAccountName"] == "warm-headroom" and pod["automountServiceAccountToken"] is False
    assert dep["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}  # `pulumi up` never waits for a node
    # No surge: an update must not ask the autoscaler for a node beyond the spare ones.
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_the_placeholders_priority_is_below_every_other_priority_class(plan_with_headroom):
    classes = {o["metadata"]["name"]: o for o in plan_with_headroom("prod").manifests() if o["kind"] == "PriorityClass"}
    headroom = classes.pop("llm-headroom")
    # The stack's own: serving and the gateway 100000 > rollouts 50000 > training 10000; pods with no class get 0.
    assert sorted(c["value"] for c in classes.values()) == [10_000, 50_000, 100_000, 100_000]
    # -10: the cluster autoscaler's overprovisioning value, below 0 and every class above, and not below the CA's
    # default --expendable-pods-priority-cutoff (-10), under which a pod would hold no node at all.
    assert headroom["value"] == -10
    assert headroom["preemptionPolicy"] == "Never" and headroom["globalDefault"] is False


def test_placeholders_wait_for_their_namespace_and_priority_class(plan_with_headroom):
    plan = plan_with_headroom("prod")
    urns = {r.name: r.urn for r in plan.resources}
    dep = next(r for r in plan.resources if r.name == PLACEHOLDER)
    waited = set(dep.dependencies) | {u for deps in dep.property_dependencies.values() for u in deps}
    assert {urns["headroom-namespace"], urns["headroom-priority"]} <= waited


def test_placeholders_keep_out_of_the_serving_quota(plan_with_headroom):
    # A Pending placeholder counts against a ResourceQuota; in llm-serving it would take the GPU the 12th replica
    # needs (quota 12 = the pool's maximum). Its own namespace's quota is exactly the spare node: 1 GPU, 1 pod.
    objects = manifests(plan_with_headroom("prod"))
    (quota,) = [o for o in objects if o["kind"] == "ResourceQuota"]
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "1" and quota["spec"]["hard"]["pods"] == "1"
    serving = next(o for o in plan_with_headroom("prod").manifests()
                   if o["kind"] == "ResourceQuota" and o["metadata"]["namespace"] == "llm-serving")
    assert serving["spec"]["hard"]["requests.nvidia.com/gpu"] == "12"  # unchanged by headroom


def test_placeholders_get_no_network(plan_with_headroom):
    (policy,) = [o for o in manifests(plan_with_headroom("prod")) if o["kind"] == "NetworkPolicy"]
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}  # no rule: nothing in or out


@pytest.mark.parametrize("stack", ["prod", "eks-prod", "coreweave-prod"])
def test_every_guard_passes_with_headroom(plan_with_headroom, stack):
    plan = plan_with_headroom(stack)
    assert plan.ok, [v for v in plan.verdicts if v.status != "pass"]
    selector = placeholder(plan)["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == pool_facts(plan.cfg)["a100-serving"].node_selector


def test_kuberay_mode_gets_the_same_placeholders(plan_with_headroom):
    plain, ray = plan_with_headroom("prod"), plan_with_headroom("prod", "kuberay")
    assert ray.ok, [v for v in ray.verdicts if v.status != "pass"]
    assert placeholder(ray) == placeholder(plain)


def test_eks_placeholder_takes_all_eight_gpus_of_a_p4d(plan_with_headroom):
    container = placeholder(plan_with_headroom("eks-prod"))["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8"}


def test_a_placeholder_counts_no_gpu_against_a_rollout_at_peak(plan_with_headroom):
    # eks-prod: 2 p4d nodes = 16 GPUs for 12 replicas, so a surge pod has room at peak (12 + 1 <= 16). Were the
    # placeholder's 8 GPUs counted too (12 + 8 + 1 = 21 > 16), the waits guard would call the rollout stuck; but
    # at peak the placeholder has been preempted.
    plan = plan_with_headroom("eks-prod")
    rolling = next(r for r in plan.resources if r.name == "model-qwen-7b-deployment").inputs["spec"]["strategy"]
    assert rolling["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    base = stack_plan(plan.cfg)
    v = waits_cover_startup_and_rollouts_progress(StackPlan(plan.cfg, base.pools, base.cost, tuple(plan.resources)))
    assert v.status == "pass", v.message


# --- cost --------------------------------------------------------------------------------------------------------

def test_one_spare_a100_costs_88_a_day_at_the_minimum_and_nothing_at_the_maximum():
    # prod a100-serving: a2-highgpu-1g at $3.67/node-h (infra/catalog.py, GKE on-demand A100-40GB), 4 warm replicas
    # on 4 nodes (minNodes 4), maxNodes 12. One spare node: 5 nodes at the minimum, 5 x 3.67 x 24 = $440.40/day,
    # i.e. 1 x 3.67 x 24 = $88.08 more than 4 x 3.67 x 24 = $352.32. At the maximum the placeholder is preempted:
    # still 12 x 3.67 x 24 = $1,056.96.
    before, after = _a100(_cost(stack_config("prod"))), _a100(_cost(with_headroom("prod")))
    assert before.hourly_min * 24 == pytest.approx(352.32)
    assert after.hourly_min * 24 == pytest.approx(440.40)
    assert after.spare_nodes == 1 and after.spare_hourly * 24 == pytest.approx(88.08)
    assert after.hourly_max * 24 == before.hourly_max * 24 == pytest.approx(1056.96)
    assert after.note is None  # a chosen spare node is not whole-node rounding


def test_spare_nodes_are_labelled_in_the_cost_table_and_the_json(plan_with_headroom):
    plan = plan_with_headroom("prod")
    out = io.StringIO()
    Console(file=out, width=300).print(cost_table(plan.cost))
    (row,) = [line for line in out.getvalue().splitlines() if "warm spare" in line]
    assert "incl. 1 warm spare node" in row and "$88.08" in row
    (a100,) = [p for p in plan_json(plan)["cost"]["pools"] if p["pool"] == "a100-serving"]
    assert a100["warmHeadroom"] == {"nodes": 1, "spareNodesAtMin": 1, "dailyMin": 88.08}
    assert a100["dailyMin"] == 440.40 and a100["dailyMax"] == 1056.96
    assert all("warmHeadroom" not in p for p in plan_json(plan)["cost"]["pools"] if p["pool"] != "a100-serving")


def test_idle_minimum_nodes_already_hold_the_spares():
    # minNodes 6 with 4 warm replicas: two nodes idle anyway, and the one placeholder sits on one of them:
    # 6 x 3.67 x 24 = $528.48/day, as without headroom.
    raw = with_headroom("prod")
    raw["nodePools"][0]["minNodes"] = 6
    a100 = _a100(_cost(raw))
    assert a100.spare_nodes == 0 and a100.hourly_min * 24 == pytest.approx(528.48)


def test_an_eks_spare_node_is_a_whole_p4d():
    # eks-prod: p4d.24xlarge, 8 x $2.75 = $22/node-h (infra/catalog.py); 4 warm replicas fit 1 node, maxNodes 2.
    # One spare: 2 nodes at the minimum, 2 x 22 x 24 = $1,056/day ($528 more); the maximum 2 nodes as before.
    a100 = _a100(_cost(with_headroom("eks-prod")))
    assert a100.running_min_nodes == 2 and a100.spare_hourly * 24 == pytest.approx(528.00)
    assert a100.hourly_min * 24 == a100.hourly_max * 24 == pytest.approx(1056.00)


def test_expected_cost_counts_the_spare_node_off_peak_and_caps_it_at_peak():
    # prod's profile: 08:00-20:00 on weekdays at 12 replicas, else 4: 60 peak hours and 108 off-peak a week.
    # Peak: 12 replicas + 1 spare = 13, capped at maxNodes 12. Off-peak: 4 + 1 = 5 nodes.
    # a100-serving a week: 3.67 x (60 x 12 + 108 x 5) = 3.67 x 1260 = $4,624.20 (without headroom 3.67 x
    # (720 + 432) = $4,227.84).
    before = _cost(stack_config("prod")).expected
    after = _cost(with_headroom("prod")).expected
    assert before is not None and after is not None
    assert before.pools_per_week["a100-serving"] == pytest.approx(4227.84)
    assert after.pools_per_week["a100-serving"] == pytest.approx(4624.20)


# --- config errors -----------------------------------------------------------------------------------------------

def test_headroom_on_a_cpu_pool_is_refused():
    raw = with_headroom("prod", 0)
    raw["nodePools"][2]["warmHeadroom"] = 1  # rollout: n2-standard-32
    assert_one_config_error(raw, ["nodePools[2].warmHeadroom = 1", "'rollout' is a CPU pool",
                                  "only on a GPU pool that serves a model"])


def test_headroom_on_a_pool_without_a_model_is_refused():
    raw = with_headroom("prod", 0)
    raw["nodePools"][1]["warmHeadroom"] = 1  # h100-training: the training job only
    assert_one_config_error(raw, ["nodePools[1].warmHeadroom = 1", "no model is served on pool 'h100-training'",
                                  "remove it or place a model there"])


def test_headroom_beyond_max_nodes_is_refused_with_the_numbers():
    # 4 warm replicas hold 4 of a100-serving's 12 nodes: 8 spares fit, 9 make 13.
    assert parse_stack_config(with_headroom("prod", 8)).pool("a100-serving").warm_headroom == 8
    assert_one_config_error(with_headroom("prod", 9), [
        "nodePools[0].warmHeadroom = 9", "hold 4 node(s) of pool 'a100-serving'", "9 spare make 13",
        "above maxNodes 12", "allowed: 0..8", "lower warmHeadroom to 8 or raise maxNodes to 13"])


def test_headroom_needs_a_pinned_pause_image():
    raw = with_headroom("prod")
    del raw["artifacts"]["pauseImage"]
    assert_one_config_error(raw, ["artifacts.pauseImage: missing", "nodePools[0].warmHeadroom",
                                  f"e.g. pauseImage: {PAUSE}"])


def test_no_headroom_needs_no_pause_image():
    assert parse_stack_config(stack_config("prod")).artifacts.pause_image is None


def test_config_and_cost_count_the_same_warm_nodes():
    # 3 replicas of tensorParallelSize 4 on 8-GPU p4d nodes: 12 GPUs, but a replica's GPUs sit on one node, so 2
    # nodes (not 1.5); infra.cost.warm_nodes, from which the minimum cost is counted, agrees.
    raw = stack_config("eks-prod")
    raw["models"][0].update(tensorParallelSize=4, replicas={"min": 3, "max": 4})
    cfg = parse_stack_config(raw)
    assert nodes_held(8, [(3, 4)]) == 2 == warm_nodes(resolve_fleet(cfg, pool_facts(cfg)))["a100-serving"]


def test_an_existing_cluster_is_told_its_own_autoscaler_must_add_the_spares(plan_with_headroom):
    # CoreWeave's nodes are the cluster's: nothing of ours scales them, so the plan says what the spares rely on.
    notes = [n for n in plan_with_headroom("coreweave-prod").notes if "warmHeadroom" in n]
    assert notes == ["existing cluster: pool a100-serving's warmHeadroom 1 keeps spare nodes only if the cluster's "
                     "own autoscaler adds nodes for Pending pods of priority -10 (cluster-autoscaler does); without "
                     "one the placeholders just occupy GPUs that are already free, and the cost table still counts "
                     "them"]
    assert not any("warmHeadroom" in n for n in plan_with_headroom("prod").notes)


def test_compare_shows_the_spare_node_at_the_minimum_only(stack_repo):
    # --compare against the committed prod: one spare a2-highgpu-1g is $88.08 a day at the minimum, with its boot
    # disk (200 GB at $0.10/GB-month over 730 h) and one more VM behind Cloud NAT ($0.0014/h); at the maximum the
    # placeholder is preempted, so nothing changes there.
    path = stack_repo / "Pulumi.prod.yaml"
    text = path.read_text()
    for before, after in (("      maxNodes: 12\n", "      maxNodes: 12\n      warmHeadroom: 1\n"),
                          ("    vllmVersion:", f"    pauseImage: {PAUSE}\n    vllmVersion:")):
        assert text.count(before) == 1
        text = text.replace(before, after)
    path.write_text(text)
    result = run_cli("plan", "--stack", "prod", "--compare", "HEAD", "--json", "-C", str(stack_repo))
    assert result.returncode == 0, result.stderr
    delta = json.loads(result.stdout)["costDelta"]
    disk, nat = 200 * 0.10 / 730 * 24, 0.0014 * 24
    assert delta["pools"] == [{"pool": "a100-serving", "dailyMin": pytest.approx(88.08), "dailyMax": 0}]
    assert delta["daily"] == {"min": pytest.approx(88.08 + disk + nat, abs=0.01), "max": pytest.approx(0, abs=0.01)}


def test_the_warm_note_names_the_spare_nodes_it_counts():
    # minNodes 2 below prod's 4 warm replicas: the minimum counts the 4 nodes they hold and the 1 spare, 5 in all.
    raw = with_headroom("prod")
    raw["nodePools"][0]["minNodes"] = 2
    a100 = _a100(_cost(raw))
    assert a100.running_min_nodes == 5
    assert a100.warm_note == ("pool a100-serving: the models' minimum replicas hold 4 node(s), above minNodes 2; the "
                              "minimum cost counts 4 plus 1 warm spare")
