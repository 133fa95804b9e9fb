"""Waits: Pulumi waits as long as the pods may need, and every model rollout progresses at peak (finding 10)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from infra.guards import resource_guards
from infra.guards.base import StackPlan
from infra.guards.waits import waits_cover_startup_and_rollouts_progress
from infra.program import stack_plan
from infra.waits import resolve

GUARD = waits_cover_startup_and_rollouts_progress
DEPLOYMENT = "model-qwen-7b-deployment"


def verdict(plan, resources=None):
    base = stack_plan(plan.cfg)
    return GUARD(StackPlan(plan.cfg, base.pools, base.cost, tuple(plan.resources if resources is None else resources)))


def named(plan, name: str):
    return next(r for r in plan.resources if r.name == name)


def edited(plan, name: str, **changes):
    return [dataclasses.replace(r, **changes) if r.name == name else r for r in plan.resources]


def with_strategy(plan, name: str, rolling_update: dict):
    def change(r):
        inputs = copy.deepcopy(r.inputs)
        inputs["spec"]["strategy"]["rollingUpdate"] = rolling_update
        return inputs

    return edited(plan, name, inputs=change(named(plan, name)))


def test_the_guard_runs_in_plan_and_the_policy_pack():
    assert GUARD in resource_guards()


def test_shipped_stacks_pass(shipped_plan):
    v = verdict(shipped_plan)
    assert v.status == "pass", v.message


def test_shipped_examples_pass(example_plan):
    v = verdict(example_plan)
    assert v.status == "pass", v.message


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_model_rollout_keeps_capacity_below_peak_and_progresses_at_peak(plan_of, stack):
    """The pool (and the quota) hold exactly max replicas: one old pod may go at peak, none below it."""
    plan = plan_of(stack)
    model = plan.cfg.models[0]
    rolling = named(plan, DEPLOYMENT).inputs["spec"]["strategy"]["rollingUpdate"]
    peak = model.replicas.max
    assert resolve(rolling["maxSurge"], peak, round_up=True) == 1
    assert resolve(rolling["maxUnavailable"], peak, round_up=False) == 1  # the rollout can progress at peak
    for replicas in range(1, peak):
        assert resolve(rolling["maxUnavailable"], replicas, round_up=False) == 0  # no replica taken below peak


def test_a_pool_with_room_for_the_surge_never_takes_a_replica_away(plan_of):
    # EKS sells A100s 8 at a time: 16 GPUs for a 12-replica model leave room for the surge pod.
    rolling = named(plan_of("eks-prod"), DEPLOYMENT).inputs["spec"]["strategy"]["rollingUpdate"]
    assert (rolling["maxSurge"], rolling["maxUnavailable"]) == (1, 0)


def test_pulumi_waits_for_the_startup_budget_and_a_node_on_create_and_the_whole_rollout_on_update(plan_of):
    plan = plan_of("prod")
    # prod's 7B model may take 30 x 10 s = 300 s to start (its startup probe's window, from the time-to-serve
    # breakdown). A new A100 node may take up to 15 minutes (900 s) to join. Create: 900 + 300 = 1200 s.
    # Update at peak replaces 12 replicas one pod at a time, and each new pod may wait for the GPU of the one it
    # replaces while that one drains (its grace: 600 s drain behind the gateway + 30 s stop + 15 s margin = 645 s):
    # 900 + 12 x (300 + 645) = 12240 s.
    assert named(plan, DEPLOYMENT).custom_timeouts == {"create": 1200.0, "update": 12240.0}


def test_a_surge_at_peak_without_headroom_fails(plan_of):
    plan = plan_of("prod")
    v = verdict(plan, with_strategy(plan, DEPLOYMENT, {"maxSurge": 1, "maxUnavailable": 0}))
    assert v.status == "fail"
    assert ("Deployment llm-serving/vllm-qwen-7b: at 12 replicas its pool a100-serving (12 GPUs at maxNodes) has no "
            "room for the 1 surge pod(s): the rollout hangs at peak; give the pool headroom "
            "(nodePools[a100-serving].maxNodes >= 13) or set maxUnavailable >= 1") in v.message
    assert "the GPU quota of llm-serving (12) admits no surge pod" in v.message


def test_a_surge_with_headroom_passes(plan_of):
    plan = plan_of("eks-prod")
    assert verdict(plan, with_strategy(plan, DEPLOYMENT, {"maxSurge": 1, "maxUnavailable": 0})).status == "pass"


def test_too_short_a_wait_fails(plan_of):
    plan = plan_of("prod")
    v = verdict(plan, edited(plan, DEPLOYMENT, custom_timeouts={}))  # Pulumi's 10-minute default
    assert v.status == "fail"
    assert "Deployment llm-serving/vllm-qwen-7b: Pulumi waits 600s on create but its pods may need 1200s " \
           "(300s startup + a new node); set customTimeouts create=\"1200s\"" in v.message
    v = verdict(plan, edited(plan, DEPLOYMENT, custom_timeouts={"create": 1200.0, "update": 1200.0}))
    assert v.status == "fail" and ("Pulumi waits 1200s on update but its pods may need 12240s (12 wave(s) x (300s "
                                   "startup + 645s for the replaced pod's GPU) + a new node)") in v.message


def test_the_timeout_annotation_counts_when_no_custom_timeout_is_set(plan_of):
    plan = plan_of("prod")
    r = named(plan, DEPLOYMENT)
    inputs = copy.deepcopy(r.inputs)
    inputs["metadata"]["annotations"] = {"pulumi.com/timeoutSeconds": "12240"}
    assert verdict(plan, edited(plan, DEPLOYMENT, custom_timeouts={}, inputs=inputs)).status == "pass"


def test_a_skipped_await_is_not_checked(plan_of):
    plan = plan_of("prod")
    r = named(plan, DEPLOYMENT)
    inputs = copy.deepcopy(r.inputs)
    inputs["metadata"]["annotations"] = {"pulumi.com/skipAwait": "true"}
    inputs["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 2, "maxUnavailable": "9%"}
    assert verdict(plan, edited(plan, DEPLOYMENT, custom_timeouts={}, inputs=inputs)).status == "pass"


def test_a_helm_release_that_may_wait_for_a_node_needs_more_than_helms_default(plan_of):
    plan = plan_of("prod")
    release = next(r for r in plan.resources if r.inputs.get("chart") == "keda")
    # The system pool autoscales (1..3 nodes): a new node's 900 s, plus Helm's own 300 s for the pods.
    assert release.inputs["timeout"] == 1200
    inputs = {k: v for k, v in release.inputs.items() if k != "timeout"}
    v = verdict(plan, edited(plan, release.name, inputs=inputs))
    assert v.status == "fail" and "Helm release keda: Pulumi waits 300s for its pods" in v.message
