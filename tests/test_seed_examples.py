"""The seed workload (12 A100s at peak with 4 warm, one H100 for training, ~100 rollout workers) in its cheapest
sound configuration per platform (examples/Pulumi.seed-*.yaml): each plans clean, its cost is worked out by hand
below, and each is cheaper than prod's on-demand pool and than Modal at the team's rate at the expected load."""

from __future__ import annotations

import pytest

from tests.conftest import SEEDS

DAY = 24


def pools(plan) -> dict:
    return {p.pool: p for p in plan.cost.pools}


@pytest.mark.parametrize("stack", SEEDS)
def test_each_seed_stack_plans_with_no_failing_guard(plan_of, stack):
    verdicts = {v.guard: v.status for v in plan_of(stack).verdicts}
    assert "fail" not in verdicts.values()
    # GKE's spot rung warns: a pod gets 15 s of a Spot VM's 30 s notice, less than the 120 s drain. So do the
    # control plane's documentation ranges the GKE and EKS seeds hold as placeholders for the team's own.
    warned = {g for g, s in verdicts.items() if s == "warn"}
    assert warned == ({"spot-serving-drains-within-notice"} if stack == "seed-gke" else set()) | (
        {"no-example-network-ranges"} if stack != "seed-coreweave" else set())


def test_seed_gke_committed_baseline_spot_burst_on_demand_fallback(plan_of):
    p = pools(plan_of("seed-gke"))
    # 4 committed a2-highgpu-1g at gcp-cud-1y, 30.6 % off $3.67: $2.547/h x 4 x 24 = $244.51/day, at every load.
    assert p["a100-serving"].hourly_min * DAY == pytest.approx(244.51, abs=0.01)
    assert p["a100-serving"].hourly_max * DAY == pytest.approx(244.51, abs=0.01)
    # One warm spare spot node ($1.10/h) runs always: $26.40/day at the minimum; at the maximum the 8 burst replicas
    # take it and 7 on-demand nodes ($3.67/h): 7 x 3.67 x 24 = $616.56 (the dearest rung first: the worst case).
    assert p["a100-spot"].hourly_min * DAY == pytest.approx(26.40, abs=0.01)
    assert p["a100-spot"].running_max_nodes == 1 and p["a100-ondemand"].running_max_nodes == 7
    assert p["a100-ondemand"].hourly_max * DAY == pytest.approx(616.56, abs=0.01)


def test_seed_eks_one_savings_plan_node_then_spot_then_on_demand(plan_of):
    p = pools(plan_of("seed-eks"))
    # One p4d.24xlarge ($22.00/h) on a 3-year Instance Savings Plan, 72 % off: $6.16/h x 24 = $147.84/day.
    assert p["a100-serving"].hourly_min * DAY == pytest.approx(147.84, abs=0.01)
    # The peak's 4 replicas beyond the committed node's 8 take one more node: at worst on-demand, 22 x 24 = $528.
    assert p["a100-ondemand"].hourly_max * DAY == pytest.approx(528.00, abs=0.01)
    assert p["a100-spot"].hourly_max == 0


def test_seed_coreweave_reserved_node_then_on_demand(plan_of):
    p = pools(plan_of("seed-coreweave"))
    # One 8 x A100 node at the stack's $2.06/GPU-h, 60 % off (a ceiling): 8 x 2.06 x 0.4 x 24 = $158.21/day.
    assert p["a100-serving"].hourly_min * DAY == pytest.approx(158.21, abs=0.01)
    # The peak node on demand: 8 x 2.06 x 24 = $395.52/day, none at the minimum.
    assert p["a100-burst"].hourly_max * DAY == pytest.approx(395.52, abs=0.01) and p["a100-burst"].hourly_min == 0


@pytest.mark.parametrize("stack", SEEDS)
def test_each_seed_stack_is_cheaper_than_prod_and_modal_at_the_expected_load(plan_of, stack):
    seed, prod = plan_of(stack).cost, plan_of("prod").cost
    modal = next(a for a in prod.alternatives if a.name == "Modal")
    assert seed.expected.daily < prod.expected.daily
    assert seed.gpu_daily_expected < modal.hourly_expected * DAY
