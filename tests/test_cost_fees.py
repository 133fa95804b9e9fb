"""Every cost the stack creates besides its nodes, each labelled and counted in the totals and the budget guard."""

from __future__ import annotations

import pytest
from rich.console import Console

from infra.config import parse_stack_config
from infra.cost import HOURS_PER_MONTH, fleet_cost
from infra.guards.base import StackPlan
from infra.guards.budget import budget_covers_max_fleet
from infra.platforms import pool_facts
from infra.program import stack_plan
from infra.report import cost_table, plan_json
from tests.conftest import stack_config, with_mode


def cost_of(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def fees(cost):
    return {f.label: f for f in cost.fees}


def test_eks_counts_its_control_plane_nat_gateways_and_disks():
    cost = cost_of(stack_config("eks-prod"))
    lines = fees(cost)
    assert lines["EKS control plane"].hourly_max == pytest.approx(0.10)
    assert lines["NAT gateways"].hourly_max == pytest.approx(3 * 0.045)  # natGatewayPerZone over 3 zones
    assert lines["boot disks"].hourly_max > 0
    nodes = sum(p.hourly_max for p in cost.pools)
    assert cost.hourly_max == pytest.approx(nodes + sum(f.hourly_max for f in cost.fees))
    assert any("NAT data processing $0.045/GB" in n for n in cost.notes)


def test_gke_counts_the_cluster_fee_cloud_nat_and_boot_disks():
    cost = cost_of(stack_config("prod"))
    lines = fees(cost)
    assert lines["GKE cluster fee"].daily_max == pytest.approx(2.40)  # regional: the free tier does not cover it
    # prod runs 6 nodes at the minimum (1 system, 4 A100, 1 rollout) and 20 at most, all behind Cloud NAT + 1 IP.
    assert lines["Cloud NAT"].hourly_min == pytest.approx(6 * 0.0014 + 0.005)
    assert lines["Cloud NAT"].hourly_max == pytest.approx(20 * 0.0014 + 0.005)
    # boot disks: the system pool's 100 GB, the others' 200 GB default, at $0.10/GB-month
    assert lines["boot disks"].hourly_max == pytest.approx((3 * 100 + 17 * 200) * 0.10 / HOURS_PER_MONTH)


def test_internal_load_balancers_and_a_checkpoint_volume_are_costed():
    raw = stack_config("prod")
    raw["serving"] = {**raw.get("serving", {}), "expose": "internal-load-balancer"}
    raw["training"] = {k: v for k, v in raw["training"].items() if k != "checkpointBucket"} | {
        "checkpointVolumeGb": 500}
    raw["nodePools"][1]["zones"] = ["us-central1-a"]
    lines = fees(cost_of(raw))
    assert lines["internal LBs"].hourly_max == pytest.approx(0.025)  # one model, one Service
    assert lines["checkpoint disk"].hourly_min == pytest.approx(500 * 0.17 / HOURS_PER_MONTH)


def test_the_budget_guard_counts_the_fees():
    raw = stack_config("prod")
    plan: StackPlan = stack_plan(parse_stack_config(raw))
    cost = plan.cost
    nodes_only = HOURS_PER_MONTH * sum(p.hourly_max for p in cost.pools)
    assert cost.monthly_max == pytest.approx(nodes_only + HOURS_PER_MONTH * sum(f.hourly_max for f in cost.fees))
    # A budget between the nodes alone and nodes + fees: only the fees push it over.
    raw["budget"]["monthlyAmount"] = round((nodes_only + cost.monthly_max) / 2)
    verdict = budget_covers_max_fleet(stack_plan(parse_stack_config(raw)))
    assert verdict.status != "pass", verdict.message


def test_an_existing_cluster_has_no_cloud_fees_and_says_what_is_left_out():
    cost = cost_of(stack_config("coreweave-prod"))
    assert cost.fees == ()
    assert any("existing cluster" in n and "500 GB checkpoint volume" in n for n in cost.notes)


def test_kuberay_upgrades_through_a_gateway_that_is_costed():
    raw = stack_config("prod")  # prod's RayService upgrades incrementally, through an internal GKE Gateway
    with_mode(raw, "kuberay")
    lines = fees(cost_of(raw))
    assert lines["Gateway (KubeRay)"].hourly_max == pytest.approx(0.025)
    assert "internal LBs" not in lines  # KubeRay serves through the Gateway, not a LoadBalancer Service per model


def test_plan_json_and_report_label_every_fee(plan_of):
    plan = plan_of("eks-prod")
    doc = plan_json(plan)["cost"]
    assert [f["label"] for f in doc["fees"]] == ["EKS control plane", "NAT gateways", "NAT public IPv4", "boot disks"]
    assert doc["fees"][0] == {"label": "EKS control plane", "basis": "1 x $0.10/h", "dailyMin": 2.4, "dailyMax": 2.4}
    assert doc["daily"]["max"] == pytest.approx(sum(p["dailyMax"] for p in doc["pools"])
                                                + sum(f["dailyMax"] for f in doc["fees"]), abs=0.05)
    console = Console(width=200, record=True)
    console.print(cost_table(plan.cost))
    text = console.export_text()
    assert "EKS control plane" in text and "NAT gateways" in text and "boot disks" in text
