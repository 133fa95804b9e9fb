"""Cost model arithmetic against the catalog, overrides, and the alternatives comparison."""

from __future__ import annotations

import pytest

from infra.catalog import GpuKind, parse_cpu_machine
from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from tests.conftest import stack_config


def cost_of(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


# GCP list prices (us-central1) as the catalog dates them, per hour: A100-40GB on demand $3.67 (a2-highgpu-1g),
# H100-80GB spot $6.571 (a3-highgpu-1g, 2026-09-26); n2 $0.031611 per vCPU + $0.004237 per GiB;
# e2 $0.021811 per vCPU + $0.002923 per GiB.


def test_prod_cost_from_catalog_prices():
    cost = cost_of(stack_config("prod"))
    pools = {p.pool: p for p in cost.pools}
    assert (pools["a100-serving"].hourly_min, pools["a100-serving"].hourly_max) == (
        pytest.approx(14.68), pytest.approx(44.04))  # 4 and 12 one-GPU nodes x $3.67
    assert (pools["h100-training"].hourly_min, pools["h100-training"].hourly_max) == (0, pytest.approx(6.571))
    # n2-standard-32: 32 x $0.031611 + 128 GiB x $0.004237 = $1.011552 + $0.542336 = $1.553888 per node-hour.
    assert pools["rollout"].node_hourly == pytest.approx(1.553888)
    assert pools["rollout"].hourly_max == pytest.approx(6.215552)  # 4 nodes
    # e2-standard-4: 4 x $0.021811 + 16 GiB x $0.002923 = $0.134012; 3 nodes at most.
    assert pools["system"].hourly_max == pytest.approx(0.402036)
    # Nodes: $0.402036 + $44.04 + $6.571 + $6.215552 = $57.228588 per hour at the top.
    # Fees at the top: the regional cluster's $0.10/h; Cloud NAT for 20 nodes (12 + 1 + 4 + 3) at $0.0014/h plus its
    # IP at $0.005/h = $0.033/h; boot disks 12 x 200 + 200 + 4 x 200 + 3 x 100 = 3,700 GB at $0.10/GB-month / 730 h
    # = $0.506849/h. Together $0.639849/h.
    assert {f.label: f.hourly_max for f in cost.fees} == {
        "GKE cluster fee": pytest.approx(0.10), "Cloud NAT": pytest.approx(0.033),
        "boot disks": pytest.approx(0.506849, abs=1e-6)}
    # The gateway's pods (serving.gateway, 2..6 of 1 core) are their share of an e2-standard-4 system node, whose
    # 3.92 allocatable cores (4 less GKE's 80m reserve) cost $0.134012/h: a core $0.034187/h, 6 pods $0.205120/h,
    # shown beside the system pool's row and not added again (they run on its nodes).
    assert cost.gateway is not None and cost.gateway.pod_hourly == pytest.approx(0.134012 / 3.92)
    assert cost.gateway.pods_hourly_max == pytest.approx(0.205120, abs=1e-6)
    # $57.868437 per hour at the top; x 24 a day, x 730 a month (8,760 / 12).
    assert cost.hourly_max == pytest.approx(57.868437, abs=1e-6)
    assert cost.daily_max == pytest.approx(1388.842488, abs=1e-4)
    assert cost.monthly_max == pytest.approx(42243.96, abs=0.01)


def test_adding_one_a100_node_adds_its_price_per_day():
    raw = stack_config("prod")
    before = cost_of(raw)
    raw["nodePools"][0]["maxNodes"] += 1
    raw["nodePools"][0]["minNodes"] += 1
    after = cost_of(raw)
    a100_day = 88.08  # 24 h x $3.67
    # ... plus the node's boot disk (200 GB at $0.10/GB-month, 730 h) and its share of Cloud NAT ($0.0014/h per VM)
    per_node_fees = 24 * (200 * 0.10 / 730 + 0.0014)
    assert after.daily_min - before.daily_min == pytest.approx(a100_day + per_node_fees)
    assert after.daily_max - before.daily_max == pytest.approx(a100_day + per_node_fees)


def test_pricing_override_wins_over_the_catalog():
    raw = stack_config("prod")
    raw["pricing"] = {"A100-40GB": {"onDemand": 2.0}}
    pools = {p.pool: p for p in cost_of(raw).pools}
    assert pools["a100-serving"].node_hourly == pytest.approx(2.0)
    # the spot H100 price is untouched by an on-demand A100 override
    assert pools["h100-training"].node_hourly == pytest.approx(6.571)


def test_multi_gpu_nodes_cost_per_gpu_times_gpus():
    raw = stack_config("prod")
    raw["nodePools"][0].update(gpusPerNode=8, minNodes=1, maxNodes=2)
    raw["models"][0]["replicas"] = {"min": 1, "max": 16}
    pools = {p.pool: p for p in cost_of(raw).pools}
    assert pools["a100-serving"].node_hourly == pytest.approx(29.36)  # a2-highgpu-8g: 8 x $3.67


def test_alternatives_price_the_same_gpu_hours():
    raw = stack_config("prod")
    del raw["currentRates"]  # Modal's list price, not the team's rate
    cost = cost_of(raw)
    modal = next(a for a in cost.alternatives if a.name == "Modal")
    # Each A100 replica's pod asks 10.5 vCPUs (5.25 physical cores x $0.04716/h) and 75 GiB (x $0.007992/h): $0.84699/h
    # besides the GPU; the H100 training pod 24.5 vCPUs and 219 GiB: 12.25 x 0.04716 + 219 x 0.007992 = $2.327958/h.
    assert modal.hourly_min == pytest.approx(4 * (2.10 + 0.84699))  # 4 warm A100-40GB, the H100 pool idles at 0
    # the models' 12 GPUs and the training job's 1
    assert modal.hourly_max == pytest.approx(12 * (2.10 + 0.84699) + 1 * (3.9492 + 2.327958))
    runpod = next(a for a in cost.alternatives if a.name == "RunPod")
    assert runpod.not_offered == (GpuKind.A100_40GB,)


def test_cpu_machine_parsing():
    m = parse_cpu_machine("n2-highmem-16")
    assert (m.vcpus, m.memory_gib) == (16, 128)
    assert parse_cpu_machine("a2-highgpu-1g") is None
    assert parse_cpu_machine("z9-standard-4") is None
