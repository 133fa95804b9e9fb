"""Committed and reserved prices (issue 12, item 3), and the seed's reserved anchor (item 2), worked out by hand."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_stack_config
from infra.cost import fleet_cost
from infra.platforms import pool_facts
from tests.conftest import stack_config


def _cost(raw):
    cfg = parse_stack_config(raw)
    return fleet_cost(cfg, pool_facts(cfg))


def _pool(cost, name):
    return next(p for p in cost.pools if p.pool == name)


def coreweave_seed(commitment):
    """The seed workload on a CoreWeave cluster: 12 A100-80GB replicas at peak (4 warm), 1 H100, 100 rollout workers.

    CoreWeave on-demand is stated as the seed states it: $864/day for the 12 A100s, which CoreWeave bills as two
    8-GPU nodes, so 864 / (16 x 24) = $2.25 per GPU-hour ($18 per node-hour; tests/test_cost_seed.py).
    """
    raw = stack_config("coreweave-prod")
    pool = raw["nodePools"][0]
    pool.update(gpu="A100-80GB", minNodes=0, maxNodes=2, commitment=commitment)
    raw["models"][0]["gpu"] = "A100-80GB"
    raw["pricing"] = {"A100-80GB": {"onDemand": 2.25}}
    assert raw["models"][0]["replicas"] == {"min": 4, "max": 12} and raw["training"]["gpus"] == 1
    assert raw["rollout"]["replicas"]["max"] == 100
    return _cost(raw)


def test_coreweave_reserved_contract_reproduces_about_350_a_day():
    # Reserved at 60 % off on-demand: 2.25 x 0.4 = $0.90 per GPU-hour; both nodes committed:
    # 2 nodes x 8 GPUs x $0.90 x 24 h = $345.60/day, at the minimum and at the maximum alike (the seed's "~$350").
    a100 = _pool(coreweave_seed({"plan": "contract", "nodes": 2, "discount": 0.6}), "a100-serving")
    assert a100.commitment is not None and a100.commitment.gpu_hourly == pytest.approx(0.90)
    assert a100.hourly_min * 24 == pytest.approx(345.60)
    assert a100.hourly_max * 24 == pytest.approx(345.60)


def test_a_contract_rate_replaces_the_discount():
    # rate $0.88/GPU-h on one committed node: fixed 8 x 0.88 x 24 = $168.96/day; the second node at on-demand
    # $18/node-h adds 18 x 24 = $432 at the maximum: $600.96/day. At the minimum the 4 warm replicas fit on one node.
    a100 = _pool(coreweave_seed({"plan": "contract", "nodes": 1, "rate": 0.88}), "a100-serving")
    assert a100.hourly_min * 24 == pytest.approx(168.96)
    assert a100.hourly_max * 24 == pytest.approx(600.96)


RESERVED = {"capacity": "reservation", "reservation": "a100-cud"}  # GCP attaches GPU commitments to a reservation


def gke_prod(commitment, pool_edit=RESERVED):
    raw = stack_config("prod")
    raw["nodePools"][0].update(commitment=commitment, **pool_edit)  # a100-serving: 1 x A100-40GB, 4..12
    raw["pricing"] = {"A100-40GB": {"onDemand": 3.00}}  # a round on-demand price to work by hand
    return _cost(raw)


def test_gcp_one_year_cud_uses_the_published_discount_and_bills_beyond_at_on_demand():
    # gcp-cud-1y: 30.6 % off (the H100 1-year SKU, infra/commitments.py): 3.00 x 0.694 = $2.082/GPU-h.
    # 4 committed nodes of 1 GPU: 4 x 2.082 x 24 = $199.872/day, the minimum (4 warm replicas run on them);
    # maximum: + 8 on-demand nodes x $3.00 x 24 = $576, so $775.872/day.
    cost = gke_prod({"plan": "gcp-cud-1y", "nodes": 4})
    a100 = _pool(cost, "a100-serving")
    assert a100.hourly_min * 24 == pytest.approx(199.872)
    assert a100.hourly_max * 24 == pytest.approx(775.872)
    assert not any("published best case" in n for n in cost.notes)  # a per-SKU figure, not an "up to"


def test_committed_nodes_count_at_the_minimum_even_at_min_nodes_zero():
    # CoreWeave's training pool: minNodes 0 and a suspended job, so $0 at the minimum without a commitment. One
    # committed 8-H100 node at rate $2.00 is paid anyway: 1 x 8 x 2.00 x 24 = $384/day, at the minimum too.
    raw = stack_config("coreweave-prod")
    h100 = raw["nodePools"][1]
    assert (h100["name"], h100["minNodes"], h100["maxNodes"]) == ("h100-training", 0, 1)
    h100["commitment"] = {"plan": "contract", "nodes": 1, "rate": 2.00}
    pool = _pool(_cost(raw), "h100-training")
    assert pool.hourly_min * 24 == pytest.approx(384.0)
    assert pool.hourly_max * 24 == pytest.approx(384.0)


def test_a_reservation_without_a_discount_bills_its_nodes_at_on_demand_used_or_not():
    # 6 reserved nodes at on-demand $3.00: 6 x 3.00 x 24 = $432/day, though only 4 warm replicas run at the minimum
    # (4 x 3.00 x 24 = $288 without it); at the maximum 12 x 3.00 x 24 = $864, as without it.
    a100 = _pool(gke_prod({"plan": "reservation", "nodes": 6}), "a100-serving")
    assert a100.hourly_min * 24 == pytest.approx(432.0)
    assert a100.hourly_max * 24 == pytest.approx(864.0)
    assert a100.gpus_paid_min == 6  # 6 reserved nodes of 1 GPU, not the 4 that run


def test_a_published_ceiling_is_named_in_the_notes():
    cost = gke_prod({"plan": "gcp-cud-3y", "nodes": 4})
    # 57 % off is Google's "up to": 3.00 x 0.43 = $1.29/GPU-h; 4 x 1.29 x 24 = $123.84/day at the minimum.
    assert _pool(cost, "a100-serving").hourly_min * 24 == pytest.approx(123.84)
    assert any("a100-serving: gcp-cud-3y is priced at its published best case (57% off" in n for n in cost.notes)


def test_the_budget_guard_maximum_includes_the_commitment():
    # The cost report's maximum is what the budget guard checks: the committed pool's maximum is in it.
    with_commitment = gke_prod({"plan": "gcp-cud-1y", "nodes": 4})
    without = gke_prod(None, {})
    # Without: 12 x 3.00 x 24 = $864/day for the pool; with: $775.872; the difference is 4 x (3.00 - 2.082) x 24.
    assert without.daily_max - with_commitment.daily_max == pytest.approx(4 * (3.00 - 2.082) * 24)


def _problems(raw) -> str:
    with pytest.raises(ConfigError) as e:
        parse_stack_config(raw)
    return "\n".join(e.value.problems)


@pytest.mark.parametrize(("commitment", "pool_edit", "expected"), [
    ({"plan": "aws-compute-savings-plan-3y", "nodes": 2}, None,
     "commitment.plan='aws-compute-savings-plan-3y' is not sold on gke; allowed on gke: gcp-cud-1y, gcp-cud-3y"),
    ({"plan": "gcp-cud-1y", "nodes": 13}, RESERVED, "commitment.nodes=13 is above maxNodes=12"),
    ({"plan": "gcp-cud-1y", "nodes": 4}, None,
     "commitment.plan='gcp-cud-1y' needs capacity: reservation (GCP attaches GPU commitments to a reservation)"),
    ({"plan": "gcp-cud-1y", "nodes": 2}, {"capacity": "spot"}, "commitment is set but capacity='spot'"),
    ({"plan": "gcp-cud-1y", "nodes": 2, "rate": 1.0, "discount": 0.5}, None,
     "rate=1.0 and discount=0.5 are both set; allowed: one of them"),
])
def test_a_commitment_that_does_not_fit_the_pool_is_refused_in_one_line(commitment, pool_edit, expected):
    raw = stack_config("prod")
    raw["nodePools"][0].update(commitment=commitment, **(pool_edit or {}))
    problems = _problems(raw)
    assert expected in problems and "nodePools[0]" in problems


def test_a_contract_needs_its_rate():
    raw = stack_config("coreweave-prod")
    raw["nodePools"][0]["commitment"] = {"plan": "contract", "nodes": 1}
    assert "plan='contract' has no published GPU discount; set commitment.rate" in _problems(raw)


def test_coreweave_prod_shows_its_reserved_node_in_json_and_in_the_table(plan_of):
    # The example reserves the one node its 4 warm replicas hold: 8 x A100-40GB at its contract's on-demand $2.06,
    # 60 % off: $0.824/GPU-h, 8 x 0.824 = $6.592/node-h, x 24 = $158.21/day fixed; the peak node stays on-demand:
    # 8 x 2.06 x 24 = $395.52, so the pool is $158.21..$553.73 a day (it was $395.52..$791.04 on-demand).
    from rich.console import Console

    from infra.report import cost_table, plan_json

    plan = plan_of("coreweave-prod")
    pool = plan_json(plan)["cost"]["pools"][0]
    assert pool["pool"] == "a100-serving"
    assert pool["commitment"] == {"plan": "contract", "nodes": 1, "gpuHourly": 0.824, "nodeHourly": 6.592,
                                  "discount": 0.6, "fixedDaily": 158.21, "basis": "the stack's discount (60%)"}
    assert (pool["dailyMin"], pool["dailyMax"]) == (158.21, 553.73)
    assert all("commitment" not in p for p in plan_json(plan)["cost"]["pools"][1:])  # only where one is declared
    console = Console(width=200, record=True)
    console.print(cost_table(plan.cost))
    row = next(line for line in console.export_text().splitlines() if "committed" in line)
    assert "contract" in row and "$0.8240/GPU-h (60% off)" in row and row.count("$158.21") == 2
    assert "committed" in row and "in the row above" in row  # part of the pool's $/day, not to be added to it


def test_compare_shows_what_a_commitment_saves():
    from infra.compare import cost_delta

    # gcp-cud-1y on 4 of 12 reserved nodes: 4 x (3.00 - 2.082) x 24 = $88.128/day less at the minimum and maximum.
    delta = cost_delta("main", gke_prod(None), gke_prod({"plan": "gcp-cud-1y", "nodes": 4}))
    assert [p.pool for p in delta.pools] == ["a100-serving"]
    assert delta.daily_min == pytest.approx(-88.128) and delta.daily_max == pytest.approx(-88.128)


def test_a_reservation_without_a_commitment_says_its_idle_nodes_are_not_counted():
    cost = gke_prod(None)  # capacity: reservation, no commitment
    assert any(n.startswith("pool a100-serving: a reservation bills every reserved node whether it runs or not")
               for n in cost.notes)


def test_an_eks_instance_savings_plan_at_its_published_ceiling():
    # eks-prod's a100-serving: p4d.24xlarge (8 x A100-40GB), 1..2 nodes, on-demand; at a round $4.00 per GPU-hour
    # (pricing:), 72 % off (AWS's "up to") is $1.12/GPU-h: 1 committed node 8 x 1.12 x 24 = $215.04/day at the
    # minimum; the second node on-demand, 8 x 4.00 x 24 = $768, so $983.04 at the maximum.
    raw = stack_config("eks-prod")
    pool = raw["nodePools"][0]
    assert (pool["name"], pool["gpusPerNode"], pool["minNodes"], pool["maxNodes"]) == ("a100-serving", 8, 1, 2)
    pool["commitment"] = {"plan": "aws-instance-savings-plan-3y", "nodes": 1}
    raw["pricing"] = {"A100-40GB": {"onDemand": 4.00}}
    cost = _cost(raw)
    a100 = _pool(cost, "a100-serving")
    assert a100.hourly_min * 24 == pytest.approx(215.04)
    assert a100.hourly_max * 24 == pytest.approx(983.04)
    assert any("aws-instance-savings-plan-3y is priced at its published best case (72% off" in n for n in cost.notes)


def test_a_one_year_aws_plan_needs_the_rate_the_team_pays():
    raw = stack_config("eks-prod")
    raw["nodePools"][0]["commitment"] = {"plan": "aws-compute-savings-plan-1y", "nodes": 1}
    assert "plan='aws-compute-savings-plan-1y' has no published GPU discount; set commitment.rate" in _problems(raw)


def test_the_expected_cost_pays_the_commitment_and_bills_only_the_nodes_beyond_it():
    """coreweave-prod: one of a100-serving's two 8-GPU nodes is a contract at 60 % off $2.06/GPU-h.

    By hand: the committed node is 8 x $2.06 x 0.4 = $6.592/h, every hour. Off-peak (nights, weekends) 4 replicas
    fit on it; the weekday peak (08:00-20:00 Chicago, 12 replicas) needs the second node on demand, 8 x $2.06 =
    $16.48/h for 12 h. A weekday: 24 x 6.592 + 12 x 16.48 = $355.968; a weekend day $158.208; the average over a
    week (5 x 355.968 + 2 x 158.208) / 7 = $299.4651."""
    raw = stack_config("coreweave-prod")
    expected = _cost(raw).expected
    assert expected.pools_per_week["a100-serving"] / 7 == pytest.approx(299.4651, abs=1e-3)
