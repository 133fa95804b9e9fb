"""The seed's anchor figures (issue 12, item 2), worked out by hand here, not re-derived from the cost code.

The seed workload: 12 A100s at peak (A100-80GB, one per replica), 1 H100 for training, ~100 CPU rollout workers:
prod's stack with its A100s as 80 GB cards. The seed's rates, stated as the team pays them (`currentRates`):
Modal $3.50 per A100-hour, RunPod community $1.33 per A100-hour, and CoreWeave on-demand such that 12 A100s for a
day are ~$864. CoreWeave bills whole 8-GPU HGX nodes, so 12 A100s are 2 nodes = 16 GPUs billed: $864/day is
$2.25 per GPU-hour ($18 per node-hour). (At $3.00 per GPU-hour, 12 x 3.00 x 24 = $864 only if CoreWeave billed
single GPUs; on its nodes that rate is 16 x 3.00 x 24 = $1,152/day.) CoreWeave reserved (~$350/day): a pool's
commitment, tests/test_cost_commitments.py.
"""

from __future__ import annotations

import pytest

from infra.catalog import GpuKind
from infra.config import parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from tests.conftest import stack_config

SEED_RATES = {"modal": {"A100-80GB": 3.50}, "runpod": {"A100-80GB": 1.33}, "coreweave": {"A100-80GB": 2.25}}


def seed_stack(rates=SEED_RATES):
    raw = stack_config("prod")
    pool = raw["nodePools"][0]
    pool.update(gpu="A100-80GB", zones=["us-central1-a", "us-central1-c"])  # where GCP sells a2-ultragpu
    raw["models"][0]["gpu"] = "A100-80GB"
    raw["currentRates"] = rates
    assert (pool["maxNodes"], pool["gpusPerNode"], raw["models"][0]["replicas"]["max"]) == (12, 1, 12)
    assert raw["training"]["gpus"] == 1 and raw["rollout"]["replicas"]["max"] == 100
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def a100_day(cost, provider):
    alt = next(a for a in cost.alternatives if a.name == provider)
    line = next(line for line in alt.lines if line.priced_as == GpuKind.A100_80GB)
    assert line.your_rate
    return line.hourly_max * 24


def test_modal_is_about_1008_a_day():
    assert a100_day(seed_stack(), "Modal") == pytest.approx(12 * 3.50 * 24)  # $1,008


def test_runpod_is_about_384_a_day():
    assert a100_day(seed_stack(), "RunPod") == pytest.approx(12 * 1.33 * 24)  # $383.04


def test_coreweave_on_demand_is_about_864_a_day():
    assert a100_day(seed_stack(), "CoreWeave") == pytest.approx(2 * 8 * 2.25 * 24)  # $864


def test_coreweave_at_three_dollars_per_gpu_bills_its_whole_nodes():
    rates = {**SEED_RATES, "coreweave": {"A100-80GB": 3.00}}
    assert a100_day(seed_stack(rates), "CoreWeave") == pytest.approx(16 * 3.00 * 24)  # $1,152, not 12 x 3 x 24


def test_the_training_h100_is_priced_beside_the_a100s():
    modal = next(a for a in seed_stack().alternatives if a.name == "Modal")
    # The H100 at Modal's list price, plus the CPU and memory its pod requests (prod's a3-highgpu-1g: 24.5 vCPUs =
    # 12.25 physical cores x $0.04716/h, 219 GiB x $0.007992/h = $2.327958/h); the A100s' stated rate is all-in.
    assert modal.hourly_max * 24 == pytest.approx(12 * 3.50 * 24 + (3.9492 + 12.25 * 0.04716 + 219 * 0.007992) * 24)
