"""The provider comparison: each provider priced the way it bills, never $0, substitutions and stated rates shown."""

from __future__ import annotations

import pytest

from infra.alternatives import Demand, price_at
from infra.catalog import GpuKind
from infra.config import ConfigError, parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from infra.providers import ALTERNATIVES
from tests.conftest import EXAMPLES_DIR, stack_config

STACKS = ("dev", "staging", "prod", *(p.name.split(".")[1] for p in sorted(EXAMPLES_DIR.glob("Pulumi.*.yaml"))))


def cost_of(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def row(cost, name):
    return next(a for a in cost.alternatives if a.name == name)


def test_serverless_prices_the_gpus_used_not_this_stacks_whole_nodes():
    prod = stack_config("prod")
    del prod["currentRates"]  # Modal's list price, not the team's rate
    one_per_node = cost_of(prod)
    raw = stack_config("prod")
    del raw["currentRates"]
    raw["nodePools"][0].update(gpusPerNode=8, minNodes=1, maxNodes=2)  # 12 A100s now cost 16 on the stack's cloud
    eight_per_node = cost_of(raw)
    assert eight_per_node.gpu_hourly_max > one_per_node.gpu_hourly_max
    def gpus(alt, at_max):  # the GPU part; Modal adds the CPU and memory each pod requests, which the pool shapes
        return sum((line.gpus_max * line.rate) if at_max else line.gpus_min * line.rate for line in alt.lines)

    for name in ("Modal", "RunPod Serverless", "RunPod"):
        assert gpus(row(eight_per_node, name), True) == pytest.approx(gpus(row(one_per_node, name), True))
        assert gpus(row(eight_per_node, name), False) == pytest.approx(gpus(row(one_per_node, name), False))
    # By hand: 12 A100-40GB replicas at peak + the 1-GPU training job; 4 warm replicas at the minimum.
    assert gpus(row(one_per_node, "Modal"), True) == pytest.approx(12 * 2.10 + 1 * 3.9492)
    assert gpus(row(one_per_node, "Modal"), False) == pytest.approx(4 * 2.10)


def test_node_based_providers_bill_whole_nodes_of_their_own_size():
    cost = cost_of(stack_config("prod"))
    coreweave = row(cost, "CoreWeave")
    # CoreWeave sells HGX nodes of 8: 12 A100 replicas -> 2 nodes (16 GPUs), 4 warm -> 1 node; the H100 job -> 1 node.
    # It sells no A100-40GB: priced as its A100-80GB ($21.60 per 8-GPU node-hour).
    assert coreweave.hourly_max == pytest.approx(16 * 21.60 / 8 + 8 * 49.24 / 8)
    assert coreweave.hourly_min == pytest.approx(8 * 21.60 / 8)
    assert "A100-40GB priced as A100-80GB: not sold" in coreweave.note
    assert coreweave.not_offered == (GpuKind.A100_40GB,)


def test_a_kind_not_sold_is_priced_as_the_cheapest_that_fits_with_at_least_its_memory():
    runpod = next(a for a in ALTERNATIVES if a.name == "RunPod")
    small = price_at(runpod, (Demand(GpuKind.A100_40GB, 1, 1, 2, 15.2),), {})
    assert small.lines[0].priced_as == GpuKind.A100_80GB  # not the L4, though 15 GB of weights would fit it
    lambda_ = next(a for a in ALTERNATIVES if a.name == "Lambda")
    l4 = price_at(lambda_, (Demand(GpuKind.L4, 1, 0, 3, 15.2),), {})
    assert l4.lines[0].priced_as == GpuKind.A100_40GB and l4.note.startswith("L4 priced as A100-40GB: not sold")
    # 70B of bf16 weights on 2 GPUs fits only 80 GB cards: the cheapest of those.
    big = price_at(lambda_, (Demand(GpuKind.H100_80GB, 2, 1, 1, 140.0),), {})
    assert big.lines[0].priced_as == GpuKind.H100_80GB


@pytest.mark.parametrize("kind", list(GpuKind))
@pytest.mark.parametrize("alt", ALTERNATIVES, ids=lambda a: a.slug)
def test_no_alternative_row_is_zero_for_any_gpu_kind(alt, kind):
    priced = price_at(alt, (Demand(kind, 1, 1, 2, 1.0), Demand(kind, 1, 0, 1, None)), {})
    assert priced.hourly_max > 0 and priced.hourly_min > 0
    assert all(line.rate > 0 and line.gpus_max > 0 for line in priced.lines)


@pytest.mark.parametrize("stack", STACKS)
def test_no_alternative_row_is_zero_for_any_shipped_stack(stack):
    cost = cost_of(stack_config(stack))
    for alt in cost.alternatives:
        assert alt.hourly_max > 0, alt.name
        assert all(line.hourly_max > 0 for line in alt.lines), alt.name


def test_a_stack_whose_gpu_a_provider_does_not_sell_is_never_zero_there():
    raw = stack_config("prod")  # A100-40GB: RunPod, RunPod Serverless and CoreWeave do not sell it
    cost = cost_of(raw)
    for name in ("RunPod", "RunPod Serverless", "CoreWeave"):
        alt = row(cost, name)
        assert GpuKind.A100_40GB in alt.not_offered and alt.hourly_max > 0 and alt.hourly_min > 0


def test_current_rates_replace_the_list_price_and_are_marked():
    raw = stack_config("prod")
    raw["currentRates"] = {"modal": {"A100-40GB": 3.10}, "runpod": {"A100-40GB": 1.20}}
    cost = cost_of(raw)
    modal = row(cost, "Modal")
    a100 = next(line for line in modal.lines if line.priced_as == GpuKind.A100_40GB)
    assert a100.your_rate and a100.rate == 3.10 and a100.hourly_max == pytest.approx(12 * 3.10)
    assert "A100-40GB at your rate $3.10/GPU-h" in modal.note
    runpod = row(cost, "RunPod")  # a rate for a kind it does not list: the team pays it, so it is sold
    assert not runpod.not_offered and runpod.hourly_max == pytest.approx(12 * 1.20 + 3.99)


def test_current_rates_refuse_an_unknown_provider_naming_the_allowed_ones():
    raw = stack_config("prod")
    raw["currentRates"] = {"modall": {"A100-40GB": 3.10}}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    assert ("currentRates: 'modall' is not a compared provider; allowed: modal, runpod, runpod-serverless, "
            "coreweave, lambda; fix the name or remove its entry") in str(err.value)


def test_current_rates_refuse_a_rate_that_is_not_positive_naming_provider_and_kind():
    raw = stack_config("prod")
    raw["currentRates"] = {"modal": {"A100-80GB": 0}}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    assert ("currentRates: modal.A100-80GB = 0.0: not a rate; allowed: USD per GPU-hour > 0; state what you pay "
            "or remove the entry") in str(err.value)


def test_a_node_size_with_its_own_price_is_chosen_when_cheaper():
    lambda_ = next(a for a in ALTERNATIVES if a.name == "Lambda")
    one = price_at(lambda_, (Demand(GpuKind.H100_80GB, 1, 0, 1, None),), {})
    assert (one.lines[0].node_gpus, one.hourly_max) == (1, pytest.approx(4.29))  # 1x at $4.29, not 8x at 8 x 3.99
    eight = price_at(lambda_, (Demand(GpuKind.H100_80GB, 1, 8, 8, 15.0),), {})
    assert (eight.lines[0].node_gpus, eight.hourly_max) == (8, pytest.approx(8 * 3.99))
