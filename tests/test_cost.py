"""Cost model arithmetic against the catalog, overrides, and the alternatives comparison."""

from __future__ import annotations

import pytest

from infra.catalog import GKE_CPU_PRICES, GKE_GPU_PRICES, GpuKind, parse_cpu_machine
from infra.config import parse_stack_config
from infra.cost import HOURS_PER_MONTH, fleet_cost
from infra.platforms import pool_facts
from tests.conftest import stack_config


def cost_of(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def test_prod_cost_from_catalog_prices():
    cost = cost_of(stack_config("prod"))
    pools = {p.pool: p for p in cost.pools}
    a100 = GKE_GPU_PRICES[GpuKind.A100_40GB].on_demand
    assert pools["a100-serving"].hourly_min == pytest.approx(4 * a100)
    assert pools["a100-serving"].hourly_max == pytest.approx(12 * a100)
    assert pools["h100-training"].hourly_min == 0
    assert pools["h100-training"].hourly_max == pytest.approx(GKE_GPU_PRICES[GpuKind.H100_80GB].spot)
    n2 = GKE_CPU_PRICES["n2"]
    assert pools["rollout"].node_hourly == pytest.approx(32 * n2.vcpu_hour + 128 * n2.gib_hour)
    fees = sum(f.hourly_max for f in cost.fees)  # control plane, NAT, boot disks: in the totals too
    assert fees > 0
    assert cost.daily_max == pytest.approx(24 * (sum(p.hourly_max for p in cost.pools) + fees))
    assert cost.monthly_max == pytest.approx(HOURS_PER_MONTH * cost.hourly_max)


def test_adding_one_a100_node_adds_its_price_per_day():
    raw = stack_config("prod")
    before = cost_of(raw)
    raw["nodePools"][0]["maxNodes"] += 1
    raw["nodePools"][0]["minNodes"] += 1
    after = cost_of(raw)
    a100_day = 24 * GKE_GPU_PRICES[GpuKind.A100_40GB].on_demand
    # ... plus the node's boot disk (200 GB at $0.10/GB-month) and its share of Cloud NAT ($0.0014/h per VM)
    per_node_fees = 24 * (200 * 0.10 / HOURS_PER_MONTH + 0.0014)
    assert after.daily_min - before.daily_min == pytest.approx(a100_day + per_node_fees)
    assert after.daily_max - before.daily_max == pytest.approx(a100_day + per_node_fees)


def test_pricing_override_wins_over_the_catalog():
    raw = stack_config("prod")
    raw["pricing"] = {"A100-40GB": {"onDemand": 2.0}}
    pools = {p.pool: p for p in cost_of(raw).pools}
    assert pools["a100-serving"].node_hourly == pytest.approx(2.0)
    # the spot H100 price is untouched by an on-demand A100 override
    assert pools["h100-training"].node_hourly == pytest.approx(GKE_GPU_PRICES[GpuKind.H100_80GB].spot)


def test_multi_gpu_nodes_cost_per_gpu_times_gpus():
    raw = stack_config("prod")
    raw["nodePools"][0].update(gpusPerNode=8, minNodes=1, maxNodes=2)
    raw["models"][0]["replicas"] = {"min": 1, "max": 16}
    pools = {p.pool: p for p in cost_of(raw).pools}
    assert pools["a100-serving"].node_hourly == pytest.approx(8 * GKE_GPU_PRICES[GpuKind.A100_40GB].on_demand)


def test_alternatives_price_the_same_gpu_hours():
    cost = cost_of(stack_config("prod"))
    modal = next(a for a in cost.alternatives if a.name == "Modal")
    assert modal.hourly_min == pytest.approx(4 * 2.10)  # 4 warm A100-40GB, the H100 pool idles at 0
    assert modal.hourly_max == pytest.approx(12 * 2.10 + 1 * 3.9492)  # the models' 12 GPUs and the training job's 1
    runpod = next(a for a in cost.alternatives if a.name == "RunPod")
    assert runpod.not_offered == (GpuKind.A100_40GB,)


def test_cpu_machine_parsing():
    m = parse_cpu_machine("n2-highmem-16")
    assert (m.vcpus, m.memory_gib) == (16, 128)
    assert parse_cpu_machine("a2-highgpu-1g") is None
    assert parse_cpu_machine("z9-standard-4") is None
