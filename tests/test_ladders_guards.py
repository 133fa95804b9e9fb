"""Guards over capacity ladders: shared-ladder capacity, no prod model on spot alone, serving drains inside the spot
notice, and the pool guards seeing every rung."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import yaml
from pulumi_policy import EnforcementLevel, StackValidationArgs

from infra.config import parse_stack_config
from infra.guards import config_guards
from infra.guards.base import StackPlan
from infra.guards.ladders import (
    ladder_holds_its_models_at_max,
    prod_models_have_a_non_spot_rung,
    spot_serving_drains_within_notice,
)
from infra.guards.pools import every_gpu_pool_is_used
from infra.guards.scheduling import autoscaling_fits_pool, gpu_pods_fit_one_node
from infra.plan import run_plan
from infra.policy import policies
from infra.program import stack_plan
from tests.conftest import EXAMPLES, STACKS, stack_config

LADDER_GUARDS = ("ladder-holds-its-models-at-max", "prod-models-have-a-non-spot-rung",
                 "spot-serving-drains-within-notice")


def with_ladder(stack: str = "prod", **model_edits: Any) -> dict[str, Any]:
    """A shipped stack with two more pools shaped like its first (a serving pool): `a100-spot` (spot, 0..8) and
    `a100-ondemand` (on-demand, 0..4), and its first model on the ladder first pool > a100-spot > a100-ondemand (as
    tests/test_ladders_config.py's prod_with_ladder does for prod)."""
    raw = copy.deepcopy(stack_config(stack))
    serving = raw["nodePools"][0]
    plain = {k: v for k, v in serving.items() if k not in ("commitment", "reservation")}  # bought by the hour
    raw["nodePools"][1:1] = [
        {**plain, "name": "a100-spot", "capacity": "spot", "minNodes": 0, "maxNodes": 8},
        {**plain, "name": "a100-ondemand", "capacity": "on-demand", "minNodes": 0, "maxNodes": 4},
    ]
    raw["models"][0].update({"pools": [serving["name"], "a100-spot", "a100-ondemand"], **model_edits})
    if raw.get("cloud") == "existing":  # the cluster admin labels each rung's nodes apart (a config check)
        for pool in raw["nodePools"][:3]:
            pool["labels"] = {"llm-fleet.dev/pool": pool["name"]}
    return raw


def add_model_on_the_ladder(raw: dict[str, Any], max_replicas: int) -> None:
    first = raw["models"][0]
    raw["models"].append({**copy.deepcopy(first), "name": "qwen-7b-b", "replicas": {"min": 1, "max": max_replicas}})
    raw["artifacts"]["modelRevisions"]["qwen-7b-b"] = raw["artifacts"]["modelRevisions"][first["name"]]


def verdict(guard, raw: dict[str, Any]):
    return guard(stack_plan(parse_stack_config(raw)))


# --- a. ladder capacity with shared rungs


def test_models_sharing_a_ladder_must_fit_it_together():
    # prod's a100-serving holds 12 one-GPU replicas, a100-spot 8, a100-ondemand 4: 24. qwen-7b at 20 fits alone
    # (config accepts it) and qwen-7b-b at 6 fits alone, but together they are 26 replicas.
    raw = with_ladder(replicas={"min": 4, "max": 20})
    add_model_on_the_ladder(raw, 6)
    v = verdict(ladder_holds_its_models_at_max, raw)
    assert v.status == "fail"
    assert ("ladder a100-serving > a100-spot > a100-ondemand: qwen-7b 20 x 1 GPU + qwen-7b-b 6 x 1 GPU = 26 replicas "
            "at replicas.max; its rungs (a100-serving 12 x 1 GPU + a100-spot 8 x 1 GPU + a100-ondemand 4 x 1 GPU) "
            "hold 24 of them") in v.message
    assert "raise a rung's maxNodes" in v.message


def test_models_sharing_a_ladder_that_exactly_fill_it_pass():
    raw = with_ladder(replicas={"min": 4, "max": 20})
    add_model_on_the_ladder(raw, 4)  # 20 + 4 = 24 = 12 + 8 + 4
    assert verdict(ladder_holds_its_models_at_max, raw).status == "pass"


def test_whole_replicas_per_node_on_eight_gpu_rungs():
    # eks-prod: 8-A100 nodes; a100-serving 2 nodes, a100-spot 8, a100-ondemand 4 = 14 nodes. A tp-8 model at 10 fills
    # 10 nodes; the shipped qwen-7b (tp 1) at 12 needs 1.5 more nodes of the 4 left: fits. At tp-8 max 14, the
    # remaining 12 one-GPU replicas have no node left: 14 x 8 = 112 GPUs are all taken.
    raw = with_ladder("eks-prod")
    add_model_on_the_ladder(raw, 10)
    raw["models"][1].update(tensorParallelSize=8, pools=raw["models"][0]["pools"])
    assert verdict(ladder_holds_its_models_at_max, raw).status == "pass"
    raw["models"][1]["replicas"]["max"] = 14
    v = verdict(ladder_holds_its_models_at_max, raw)
    assert v.status == "fail" and "= 26 replicas at replicas.max" in v.message and "hold 14 of them" in v.message


# --- b. a prod model on spot alone


def test_a_prod_model_on_spot_alone_is_refused_and_told_to_add_a_rung():
    raw = copy.deepcopy(stack_config("prod"))
    raw["nodePools"][0]["capacity"] = "spot"  # a100-serving, qwen-7b's one pool
    v = verdict(prod_models_have_a_non_spot_rung, raw)
    assert v.status == "fail"
    assert "models[0] qwen-7b runs only on spot (a100-serving)" in v.message
    assert "add an on-demand pool" in v.message and "models[].pools" in v.message


def test_a_prod_ladder_with_an_on_demand_rung_after_spot_passes():
    raw = with_ladder()
    raw["nodePools"][0]["capacity"] = "spot"  # the first rung is spot too; a100-ondemand saves it
    assert verdict(prod_models_have_a_non_spot_rung, raw).status == "pass"


def test_spot_alone_outside_prod_passes_but_says_so():
    # staging buys spot by default: its qwen-7b is on spot alone.
    v = verdict(prod_models_have_a_non_spot_rung, stack_config("staging"))
    assert v.status == "pass" and "qwen-7b runs only on spot" in v.message and "allowed in staging" in v.message


# --- c. serving on a spot rung against the provider's notice


def test_gke_spot_serving_with_a_longer_drain_warns_with_numbers():
    # prod's drain follows its gateway's 600 s request timeout; GKE gives a pod 15 s of the Spot VM's 30 s notice.
    v = verdict(spot_serving_drains_within_notice, with_ladder())
    assert v.status == "warn"
    assert "a100-spot" in v.message and "serving.drainTimeoutSeconds 600 s" in v.message
    assert "in-flight requests longer than 15 s are lost when a spot node is reclaimed" in v.message


def test_eks_spot_serving_fits_the_two_minute_notice_until_the_drain_exceeds_it():
    raw = with_ladder("eks-prod")
    # The drain follows the gateway's longest request: 600 s by default, past the notice.
    assert "serving.drainTimeoutSeconds 600 s" in verdict(spot_serving_drains_within_notice, raw).message
    raw["serving"]["gateway"]["requestTimeoutS"] = 120
    assert verdict(spot_serving_drains_within_notice, raw).status == "pass"  # 120 s drain, 120 s notice
    raw["serving"] = {**raw.get("serving", {}), "drainTimeoutSeconds": 150}
    v = verdict(spot_serving_drains_within_notice, raw)
    assert v.status == "warn" and "150 s" in v.message and "longer than 120 s are lost" in v.message


def test_an_existing_cluster_spot_rung_warns_that_the_notice_is_unknown():
    raw = with_ladder("coreweave-prod")
    v = verdict(spot_serving_drains_within_notice, raw)
    assert v.status == "warn" and "unknown" in v.message and "120 s" in v.message


def test_spot_serving_outside_prod_is_not_warned_but_keeps_the_numbers():
    v = verdict(spot_serving_drains_within_notice, stack_config("staging"))
    assert v.status == "pass" and "longer than 15 s are lost" in v.message and "not warned in staging" in v.message


# --- d. the pool guards see every rung


def test_every_rung_of_a_ladder_counts_as_used():
    # Without the ladder, a100-spot and a100-ondemand would serve no model.
    assert verdict(every_gpu_pool_is_used, with_ladder()).status == "pass"


@pytest.mark.parametrize("stack", STACKS + EXAMPLES)
def test_shipped_stacks_pass_the_ladder_guards(stack):
    plan = stack_plan(parse_stack_config(stack_config(stack)))
    got = {v.guard: v.status for v in (g(plan) for g in config_guards()) if v.guard in LADDER_GUARDS}
    assert got == dict.fromkeys(LADDER_GUARDS, "pass")


@pytest.fixture(scope="module")
def ladder_plan(tmp_path_factory):
    """prod with qwen-7b at max 20 on a100-serving (12) > a100-spot (8) > a100-ondemand (4), planned under mocks."""
    root = tmp_path_factory.mktemp("ladder")
    raw = with_ladder(replicas={"min": 4, "max": 20})
    doc = {"config": {f"llm-fleet:{k}": v for k, v in raw.items()}}
    (root / "Pulumi.ladder.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return run_plan("ladder", root)


def resource_plan(plan, **pools) -> StackPlan:
    """The plan's resources seen by the resource guards, with some pools' facts replaced."""
    base = stack_plan(plan.cfg)
    return StackPlan(plan.cfg, {**base.pools, **pools}, base.cost, tuple(plan.resources))


def pool(plan, name: str):
    return stack_plan(plan.cfg).pools[name]


def test_the_autoscaler_maximum_may_use_the_whole_ladder(ladder_plan):
    # 20 one-GPU replicas: more than a100-serving's 12, within the ladder's 24.
    assert autoscaling_fits_pool(resource_plan(ladder_plan)).status == "pass"


def test_the_autoscaler_maximum_beyond_the_ladder_names_every_rung(ladder_plan):
    small = dataclasses.replace(pool(ladder_plan, "a100-spot"), max_nodes=2)  # ladder: 12 + 2 + 4 = 18 < 20
    v = autoscaling_fits_pool(resource_plan(ladder_plan, **{"a100-spot": small}))
    assert v.status == "fail"
    assert ("ladder a100-serving > a100-spot > a100-ondemand: replicas at maximum need 20 GPUs, its rungs have at "
            "most 18 (a100-serving 12 x 1 + a100-spot 2 x 1 + a100-ondemand 4 x 1)") in v.message


def test_a_gpu_pod_must_fit_a_node_of_every_rung(ladder_plan):
    assert gpu_pods_fit_one_node(resource_plan(ladder_plan)).status == "pass"
    # The last rung's nodes with 4 GiB of memory: the qwen-7b pod, placed on a100-serving, could not land there.
    tiny = dataclasses.replace(pool(ladder_plan, "a100-ondemand"), allocatable_memory_gib=4.0)
    v = gpu_pods_fit_one_node(resource_plan(ladder_plan, **{"a100-ondemand": tiny}))
    assert v.status == "fail" and "a a100-ondemand node offers 4.0 GiB" in v.message


def test_the_policy_pack_refuses_a_prod_model_on_spot_alone():
    raw = copy.deepcopy(stack_config("prod"))
    raw["nodePools"][0]["capacity"] = "spot"
    (policy,) = [p for p in policies(parse_stack_config(raw)) if p.name == "prod-models-have-a-non-spot-rung"]
    reported: list[str] = []
    policy.validate(StackValidationArgs([]), lambda message, urn=None: reported.append(message))
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    assert len(reported) == 1 and "models[0] qwen-7b runs only on spot (a100-serving)" in reported[0]
